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
// relaying engine finds its peers where no cluster DNS answers (render.EnginePeerRules). byServer has them by the
// name of their server, for identityInPlace.
func (r *FTPServerReconciler) relayPods(ctx context.Context, srv *ftpv1.FTPServer) ([]string, map[string][]string, error) {
	var list ftpv1.FTPServerList
	// Read only, so the cache's own objects are listed, not copies of them.
	if err := r.List(ctx, &list, client.InNamespace(srv.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, fmt.Errorf("listing the FTPServers of namespace %s: %w", srv.Namespace, err)
	}
	byServer := map[string][]string{}
	if p := render.RelayPods(srv); len(p) > 0 {
		byServer[srv.Name] = p
	}
	for i := range list.Items {
		if o := &list.Items[i]; o.Name != srv.Name && o.DeletionTimestamp.IsZero() {
			if p := render.RelayPods(o); len(p) > 0 {
				byServer[o.Name] = p
			}
		}
	}
	var pods []string
	for _, p := range byServer {
		pods = append(pods, p...)
	}
	slices.Sort(pods)
	return pods, byServer, nil
}
