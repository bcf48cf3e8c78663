//go:build !ftpdonly

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/internal/logformat"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// jsonLines parses every line of the file at path as a JSON object. The loggers write to files, not buffers: the
// engine writes from its own goroutines, and the kernel orders those writes before the read at the end.
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not a JSON object: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func logFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestOneLogSchema: the operator (zap, as runManager sets it up) and the engine (slog, as runFTPD sets it up) write
// the same keys with the same formats — time (RFC 3339, UTC), level (debug/info/warn/error), msg, logger, and error
// for errors — and the engine's transfer record carries the client's address and numeric sizes and durations.
func TestOneLogSchema(t *testing.T) {
	// The operator, at debug level so that logr's V(1) shows.
	op := logFile(t, "operator.log")
	opts := managerLogOptions()
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	opts.BindFlags(fs)
	if err := fs.Parse([]string{"--zap-log-level=debug"}); err != nil {
		t.Fatal(err)
	}
	ol := zap.New(zap.UseFlagOptions(&opts), zap.WriteTo(op)).WithName("setup")
	ol.Info("starting manager", "version", "test")
	ol.V(1).Info("a detail")
	ol.Error(errors.New("boom"), "reconciling")

	// The engine: a real server, a real client uploading 5000 bytes, one wrong password.
	eng := logFile(t, "engine.log")
	el := logformat.NewSlogLogger(eng, slog.LevelDebug)
	_, addr := support.StartEngineWith(t, func(s *ftpd.Server) { s.Logger = el })
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(support.EngineUser, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Login(support.EngineUser, support.EnginePassword); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("report.csv", bytes.NewReader(bytes.Repeat([]byte("x"), 5000))); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	el.Debug("a detail")
	el.Error("sweeping temporary upload files", "err", errors.New("boom"))

	levels := map[string]bool{logformat.Debug: true, logformat.Info: true, logformat.Warn: true, logformat.Error: true}
	check := func(who string, lines []map[string]any) map[string]map[string]any {
		byMsg := map[string]map[string]any{}
		if len(lines) < 3 {
			t.Fatalf("%s wrote %d lines", who, len(lines))
		}
		for _, l := range lines {
			for _, k := range []string{logformat.TimeKey, logformat.LevelKey, logformat.MessageKey, logformat.LoggerKey} {
				if _, ok := l[k].(string); !ok {
					t.Errorf("%s: line without a string %q: %v", who, k, l)
				}
			}
			for _, k := range []string{"ts", "T", "L", "M", "severity"} {
				if _, ok := l[k]; ok {
					t.Errorf("%s: line has %q, not part of the schema: %v", who, k, l)
				}
			}
			ts, _ := l[logformat.TimeKey].(string)
			if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") || time.Since(tm) > time.Minute {
				t.Errorf("%s: time %q is not a recent RFC 3339 UTC time (%v)", who, ts, err)
			}
			if lv, _ := l[logformat.LevelKey].(string); !levels[lv] {
				t.Errorf("%s: level %q", who, lv)
			}
			msg, _ := l[logformat.MessageKey].(string)
			byMsg[msg] = l
		}
		return byMsg
	}
	o, e := check("operator", jsonLines(t, op.Name())), check("engine", jsonLines(t, eng.Name()))

	for who, m := range map[string]map[string]map[string]any{"operator": o, "engine": e} {
		if l := m["a detail"]; l == nil || l[logformat.LevelKey] != logformat.Debug {
			t.Errorf("%s: debug line %v", who, l)
		}
	}
	if l := o["reconciling"]; l == nil || l[logformat.LevelKey] != logformat.Error || l[logformat.ErrorKey] != "boom" {
		t.Errorf("operator error line %v", l)
	}
	if l := e["sweeping temporary upload files"]; l == nil || l[logformat.LevelKey] != logformat.Error || l[logformat.ErrorKey] != "boom" || l["err"] != nil {
		t.Errorf("engine error line %v", l)
	}
	if l := o["starting manager"]; l == nil || l[logformat.LevelKey] != logformat.Info || l[logformat.LoggerKey] != "setup" {
		t.Errorf("operator info line %v", l)
	}
	if l := e["login failed"]; l == nil || l[logformat.LevelKey] != logformat.Info || l[logformat.LoggerKey] != "ftpd" || l["remote"] != "127.0.0.1" {
		t.Errorf("engine login line %v", l)
	}

	x := e["transfer"]
	if x == nil {
		t.Fatalf("no transfer record among %v", jsonLines(t, eng.Name()))
	}
	for k, want := range map[string]any{"remote": "127.0.0.1", "user": support.EngineUser, "file": "/report.csv",
		"bytes": float64(5000), "direction": "upload", "result": "ok", "upload": true, "ok": true, logformat.LevelKey: logformat.Info} {
		if x[k] != want {
			t.Errorf("transfer record %s = %#v, want %#v (%v)", k, x[k], want, x)
		}
	}
	if d, ok := x["durationSeconds"].(float64); !ok || d <= 0 || d > 10 {
		t.Errorf("transfer record durationSeconds %#v: want a number of seconds", x["durationSeconds"])
	}
	if _, ok := x[logformat.ErrorKey]; ok {
		t.Errorf("a good transfer has an error: %v", x)
	}
}
