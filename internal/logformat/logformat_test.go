package logformat

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// TestLevelNames: both scales map onto the four names, verbosity below debug included.
func TestLevelNames(t *testing.T) {
	for _, tt := range []struct {
		slog slog.Level
		want string
	}{{slog.LevelDebug - 4, Debug}, {slog.LevelDebug, Debug}, {slog.LevelInfo, Info}, {slog.LevelInfo + 2, Info},
		{slog.LevelWarn, Warn}, {slog.LevelError, Error}, {slog.LevelError + 4, Error}} {
		if got := levelName(tt.slog); got != tt.want {
			t.Errorf("slog %v: %q, want %q", tt.slog, got, tt.want)
		}
	}
	for _, tt := range []struct {
		zap  zapcore.Level
		want string
	}{{zapcore.Level(-3), Debug}, {zapcore.DebugLevel, Debug}, {zapcore.InfoLevel, Info}, {zapcore.WarnLevel, Warn},
		{zapcore.ErrorLevel, Error}, {zapcore.FatalLevel, Error}} {
		enc := zapcore.NewMapObjectEncoder()
		_ = enc.AddArray("l", zapcore.ArrayMarshalerFunc(func(a zapcore.ArrayEncoder) error { ZapLevel(tt.zap, a); return nil }))
		if got := enc.Fields["l"].([]any)[0]; got != tt.want {
			t.Errorf("zap %v: %q, want %q", tt.zap, got, tt.want)
		}
	}
}

// TestSlogHandler: UTC RFC 3339 time, the level's name, err renamed error at the top level only.
func TestSlogHandler(t *testing.T) {
	var b bytes.Buffer
	l := NewSlogLogger(&b, slog.LevelDebug)
	l.WithGroup("g").Warn("w", "err", "inner")
	l.Error("e", "err", errors.New("boom"))
	dec := json.NewDecoder(&b)
	var w, e map[string]any
	if err := dec.Decode(&w); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&e); err != nil {
		t.Fatal(err)
	}
	if w[LevelKey] != Warn || w["g"].(map[string]any)["err"] != "inner" || w[LoggerKey] != "ftpd" {
		t.Errorf("warn line %v", w)
	}
	if e[LevelKey] != Error || e[ErrorKey] != "boom" || e["err"] != nil {
		t.Errorf("error line %v", e)
	}
	ts, _ := e[TimeKey].(string)
	if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || tm.Location() != time.UTC {
		t.Errorf("time %q: %v", ts, err)
	}
}
