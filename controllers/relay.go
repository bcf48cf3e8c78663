package controllers

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	ftpv1 "github.com/ftp-operator/ftp-operator/api/v1alpha1"
	"github.com/ftp-operator/ftp-operator/internal/render"
)

// relayPods are the names of the pods of the FTPServers of srv's namespace with Relay routing (srv as it is in
// this pass, the others as the cache holds them), sorted: the engine's Role lets the pods read them, so that a
// relaying engine finds its peers where no cluster DNS answers (render.EnginePeerRules).
func (r *FTPServerReconciler) relayPods(ctx context.Context, srv *ftpv1.FTPServer) ([]string, error) {
	var list ftpv1.FTPServerList
	if err := r.List(ctx, &list, client.InNamespace(srv.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the FTPServers of namespace %s: %w", srv.Namespace, err)
	}
	pods := render.RelayPods(srv)
	for i := range list.Items {
		if o := &list.Items[i]; o.Name != srv.Name && o.DeletionTimestamp.IsZero() {
			pods = append(pods, render.RelayPods(o)...)
		}
	}
	slices.Sort(pods)
	return pods, nil
}
