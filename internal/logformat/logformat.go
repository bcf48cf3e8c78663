// Package logformat is the one JSON log schema of the operator (zap, through controller-runtime) and of its FTP
// engine (log/slog): every line is a JSON object with
//
//	time   RFC 3339 with nanoseconds, UTC ("2026-11-27T05:34:09.123456789Z")
//	level  debug, info, warn or error
//	msg    the message
//	error  the error's text, on lines about one
//
// and the attributes of the line. docs/logging.md lists the records and their fields.
package logformat

import (
	"io"
	"log/slog"
	"time"

	"go.uber.org/zap/zapcore"
)

// The keys every line has (ErrorKey only when it reports an error).
const (
	TimeKey    = "time"
	LevelKey   = "level"
	MessageKey = "msg"
	ErrorKey   = "error"
	// LoggerKey names the component: the operator's logr names (setup, controller-runtime's), "ftpd" for the engine.
	LoggerKey = "logger"
)

// Levels, as written.
const (
	Debug = "debug"
	Info  = "info"
	Warn  = "warn"
	Error = "error"
)

// levelName maps a severity on slog's scale (debug -4, info 0, warn 4, error 8) to one of the four names; the
// verbosity levels below debug (logr's V(2) and up, slog's Debug-4) are debug too.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return Debug
	case l < slog.LevelWarn:
		return Info
	case l < slog.LevelError:
		return Warn
	default:
		return Error
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// NewSlogHandler is the engine's handler: slog's JSON handler with the schema's level names, UTC times, and an
// "err" attribute written as "error".
func NewSlogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return a
		}
		switch a.Key {
		case slog.TimeKey:
			if t, ok := a.Value.Any().(time.Time); ok {
				return slog.String(TimeKey, formatTime(t))
			}
		case slog.LevelKey:
			if l, ok := a.Value.Any().(slog.Level); ok {
				return slog.String(LevelKey, levelName(l))
			}
		case "err":
			return slog.Attr{Key: ErrorKey, Value: a.Value}
		}
		return a
	}})
}

// NewSlogLogger is the engine's logger: NewSlogHandler with logger=ftpd on every line.
func NewSlogLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(NewSlogHandler(w, level)).With(LoggerKey, "ftpd")
}

// ZapTime is the operator's time encoder (controller-runtime's zap.Options.TimeEncoder; --zap-time-encoding still
// overrides it).
func ZapTime(t time.Time, enc zapcore.PrimitiveArrayEncoder) { enc.AppendString(formatTime(t)) }

// ZapLevel writes zap's levels with the schema's names: logr's V(1) is zap's debug (-1), V(2) and up are below it.
func ZapLevel(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	// zap's scale is slog's divided by 4 (debug -1, info 0, warn 1, error 2 and above).
	enc.AppendString(levelName(slog.Level(int(l) * 4)))
}

// ZapEncoderConfig sets the operator's keys and level names (an EncoderConfigOption of controller-runtime's zap).
func ZapEncoderConfig(ec *zapcore.EncoderConfig) {
	ec.TimeKey = TimeKey
	ec.LevelKey = LevelKey
	ec.MessageKey = MessageKey
	ec.NameKey = LoggerKey
	ec.EncodeLevel = ZapLevel
}
