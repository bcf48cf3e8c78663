package ftpd_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// A standalone server: users from a file, homes under /srv/ftp, passive
// ports 30000-30015 announced with a DNS name that may change at run time.
func ExampleServer() {
	auth, err := ftpd.NewFileAuthenticator("/etc/ftpd/users.yaml")
	if err != nil {
		log.Fatal(err)
	}
	srv := &ftpd.Server{
		Addr:          ":21",
		Auth:          auth,
		FileSystems:   ftpd.RootFS{Dir: "/srv/ftp"},
		PassivePorts:  ftpd.PortRange{Start: 30000, End: 30015},
		PublicAddress: "ftp.example.com",
		ActiveMode:    true,
		Logger:        slog.Default(),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // drains running transfers
	}()
	// Later, e.g. when a load balancer gets a new IP:
	//   srv.SetPublicAddress("203.0.113.7")
	if err := srv.ListenAndServe(); err != ftpd.ErrServerClosed {
		log.Fatal(err)
	}
}
