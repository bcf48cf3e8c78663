package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/addressfollow"
	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
)

// publishStorageHealth publishes the health of the engine's storage into its FTPServer's health ConfigMap (key
// storage.<pod>, see engineconfig.StorageHealthKey) at once, then whenever it changes (checked every
// healthCacheTTL, the cache of /readyz), so that the operator can say on the FTPServer why the server is not Ready.
// When ctx ends the key is withdrawn (within 5 s) and the returned channel is closed. Failing writes (the API server
// unreachable) are logged and retried on the next check; they never stop the engine.
func publishStorageHealth(ctx context.Context, target engineconfig.FollowTarget, h storageHealth, logger *slog.Logger) (<-chan struct{}, error) {
	c, err := kubeClient()
	if err != nil {
		return nil, err
	}
	pod := os.Getenv(engineconfig.PodNameEnv)
	if pod == "" {
		// A pod's hostname is its name unless spec.hostname says otherwise, which render never sets.
		if pod, err = os.Hostname(); err != nil {
			return nil, err
		}
	}
	pub := addressfollow.NewPublisher(c, target, pod)
	done := make(chan struct{})
	go func() {
		defer close(done)
		published := ""
		tick := time.NewTicker(healthCacheTTL)
		defer tick.Stop()
		for {
			value := engineconfig.StorageHealthy
			if err := h.Health(ctx); err != nil {
				value = err.Error()
			}
			if ctx.Err() != nil {
				break
			}
			if value != published {
				if err := pub.Publish(ctx, value); err != nil {
					logger.Error("publishing the storage health", "ftpserver", target.String(), "pod", pod, "err", err)
				} else {
					logger.Info("storage health published", "ftpserver", target.String(), "pod", pod, "health", value)
					published = value
				}
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
				continue
			}
			break
		}
		if published == "" {
			return
		}
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pub.Withdraw(wctx); err != nil {
			logger.Error("withdrawing the storage health", "ftpserver", target.String(), "pod", pod, "err", err)
		}
	}()
	return done, nil
}
