package controllers

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
)

// The operator lists and watches every Secret (metadata only) of the namespaces that hold FTPServers, and of no
// other namespace: there it lists only its own Secrets, by label. A namespace's watch stops with its last server.
func TestSecretsWatchedOnlyWhereServersAre(t *testing.T) {
	withServer, without := newNamespace(t), newNamespace(t)
	log := &requestLog{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WrapTransport = log.wrapQuery
	op := startOperatorWith(t, opConfig{cfg: cfg, namespaces: []string{withServer, without}, pool: bigPool})
	ensureSecret(t, without, "unrelated", map[string]string{"k": "v"})
	create(t, newServer(t, withServer, "s", func(s *ftpv1.FTPServer) { s.Spec.Service.Type = corev1.ServiceTypeClusterIP }))
	waitCondition(t, withServer, "s", ftpv1.ConditionAddress, metav1.ConditionTrue, ftpv1.ReasonAddressAssigned)

	reqs, _ := log.since(0)
	unselected := func(ns string) bool { // a list or watch of the namespace's Secrets without a label selector
		for _, r := range reqs {
			path, query, _ := strings.Cut(strings.TrimPrefix(r, "GET "), "?")
			q, _ := url.ParseQuery(query)
			if path == "/api/v1/namespaces/"+ns+"/secrets" && q.Get("labelSelector") == "" {
				return true
			}
		}
		return false
	}
	if !unselected(withServer) {
		t.Errorf("the Secrets of %s, which holds an FTPServer, are not watched", withServer)
	}
	if unselected(without) {
		t.Errorf("the Secrets of %s, which holds no FTPServer, are listed or watched", without)
	}

	if err := k8s.Delete(context.Background(), &ftpv1.FTPServer{ObjectMeta: metav1.ObjectMeta{Namespace: withServer, Name: "s"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the watch of the namespace stopped", func() (bool, error) {
		w := op.rec.secretWatches
		w.mu.Lock()
		defer w.mu.Unlock()
		_, running := w.stops[withServer]
		return !running, nil
	})
}
