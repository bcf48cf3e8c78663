package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ftp-operator/ftp-operator/controllers"
)

// followFTPServerAddress makes the engine advertise the address the operator publishes for its FTPServer (in the
// operator-owned <name>-ftpd ConfigMap, never the FTPServer's status), read at start and followed
// live, so an address change never restarts the pod.
func followFTPServerAddress(ctx context.Context, target string, set func(string), logger *slog.Logger) error {
	ns, name, ok := strings.Cut(target, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--kubernetes-ftpserver %q: want NAMESPACE/NAME", target)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("--kubernetes-ftpserver: %w", err)
	}
	last := ""
	err = controllers.FollowAddress(ctx, cfg, types.NamespacedName{Namespace: ns, Name: name}, func(addr string) {
		if addr != last {
			logger.Info("public address from the operator", "ftpserver", target, "address", addr)
			last = addr
		}
		set(addr)
	})
	if err != nil {
		return fmt.Errorf("following FTPServer %s: %w", target, err)
	}
	return nil
}
