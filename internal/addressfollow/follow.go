// Package addressfollow runs in the engine's pod: it follows the address the operator publishes for one FTPServer
// (and publishes the pod's storage health back, Publisher),
// on client-go alone (no reconciler, no controller-runtime manager).
package addressfollow

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// Follow calls set with the address the operator published for the FTPServer target, at once and on every change,
// until ctx ends. The address is read from the operator-owned ConfigMap of the server (target.ConfigMapName(), key
// engineconfig.AddressKey), never from status.address, which anyone allowed to write ftpservers/status could forge. It
// lists and watches that one ConfigMap by name, which is all the engine's Role allows. The informer reconnects by
// itself after a broken watch.
//
// It returns once the first list has been seen (so a restarted pod starts with the current address) or when ctx
// ends; the watch goes on in the background.
func Follow(ctx context.Context, cfg *rest.Config, target engineconfig.FollowTarget, set func(address string)) error {
	name := target.ConfigMapName()
	c, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building a client: %w", err)
	}
	configMaps := c.ConfigMaps(target.Namespace)
	byName := func(opts metav1.ListOptions) metav1.ListOptions {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		return opts
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return configMaps.List(ctx, byName(opts))
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return configMaps.Watch(ctx, byName(opts))
		},
	}
	push := func(obj any) {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			set(cm.Data[engineconfig.AddressKey])
		}
	}
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.ConfigMap{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    push,
			UpdateFunc: func(_, obj any) { push(obj) },
		},
	})
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return fmt.Errorf("following the address of FTPServer %s (ConfigMap %s): %w", target, name, ctx.Err())
	}
	return nil
}
