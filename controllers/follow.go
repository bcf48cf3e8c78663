package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// FollowAddress runs in the engine's pod: it calls set with status.address of the FTPServer key, at once and on
// every change, until ctx ends. It lists and watches that one object by name, which is all the engine's Role
// allows. The informer reconnects by itself after a broken watch.
//
// It returns once the first list has been seen (so a restarted pod starts with the current address) or when ctx
// ends; the watch goes on in the background.
func FollowAddress(ctx context.Context, cfg *rest.Config, key types.NamespacedName, set func(address string)) error {
	scheme := runtime.NewScheme()
	if err := ftpv1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("building a client: %w", err)
	}
	byName := func(opts metav1.ListOptions) *client.ListOptions {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", key.Name).String()
		return &client.ListOptions{Namespace: key.Namespace, Raw: &opts}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &ftpv1.FTPServerList{}
			return list, c.List(ctx, list, byName(opts))
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &ftpv1.FTPServerList{}, byName(opts))
		},
	}
	push := func(obj any) {
		if srv, ok := obj.(*ftpv1.FTPServer); ok {
			set(srv.Status.Address)
		}
	}
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &ftpv1.FTPServer{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    push,
			UpdateFunc: func(_, obj any) { push(obj) },
		},
	})
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return fmt.Errorf("following the address of FTPServer %s: %w", key, ctx.Err())
	}
	return nil
}
