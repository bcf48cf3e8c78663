package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
)

// The engine flags default to the engine's defaults (defined once, in
// internal/ftpd) and reach the Server.
func TestFTPDSessionDefaultsAndFlags(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  - name: a\n    password: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	build := func(args ...string) *ftpd.Server {
		t.Helper()
		cfg, err := engineconfig.Parse(append([]string{"--root", dir, "--users", users}, args...), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		srv, _, err := buildServer(cfg, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := build()
	if srv.MaxSessions != ftpd.DefaultMaxSessions || srv.MaxSessionsPerIP != ftpd.DefaultMaxSessionsPerIP ||
		srv.LoginTimeout != ftpd.DefaultLoginTimeout {
		t.Fatalf("defaults: max %d per-ip %d login %v", srv.MaxSessions, srv.MaxSessionsPerIP, srv.LoginTimeout)
	}
	srv = build("--max-sessions", "-1", "--max-sessions-per-ip", "8", "--login-timeout", "45s")
	if srv.MaxSessions != -1 || srv.MaxSessionsPerIP != 8 || srv.LoginTimeout != 45*time.Second {
		t.Fatalf("flags: max %d per-ip %d login %v", srv.MaxSessions, srv.MaxSessionsPerIP, srv.LoginTimeout)
	}
}
