package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// followFTPServerAddress makes the engine advertise the address the operator publishes for its FTPServer (in the
// operator-owned <name>-ftpd ConfigMap, never the FTPServer's status), followed live, so an address change never
// restarts the pod. It checks the target and the client configuration at once and returns an error for them;
// following runs in the background (the engine serves meanwhile, see runFTPD), retrying while the API server is
// unreachable, until ctx ends.
func followFTPServerAddress(ctx context.Context, target engineconfig.FollowTarget, set func(string), logger *slog.Logger) error {
	c, err := kubeClient()
	if err != nil {
		return err
	}
	go func() {
		start := time.Now()
		err := followAddress(ctx, c, target, set, logger)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			logger.Error("following the address the operator publishes", "ftpserver", target.String(), "err", err)
		default:
			logger.Info("following the address the operator publishes", "ftpserver", target.String(), "afterSeconds", time.Since(start).Seconds())
		}
	}()
	return nil
}

func followAddress(ctx context.Context, c *addressfollow.Client, target engineconfig.FollowTarget, set func(string), logger *slog.Logger) error {
	last := ""
	err := addressfollow.Follow(ctx, c, target, func(addr string) {
		if addr != last {
			logger.Info("public address from the operator", "ftpserver", target.String(), "address", addr)
			last = addr
		}
		set(addr)
	})
	if err != nil {
		return fmt.Errorf("following FTPServer %s: %w", target, err)
	}
	return nil
}

// kubeClient is the engine's API client: KUBECONFIG or ~/.kube/config when present, else the pod's in-cluster
// credentials (addressfollow.LoadClient; the engine does not link client-go).
func kubeClient() (*addressfollow.Client, error) {
	c, err := addressfollow.LoadClient()
	if err != nil {
		return nil, fmt.Errorf("--kubernetes-ftpserver: %w", err)
	}
	return c, nil
}
