package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/kardianos/service"
)

// NewLogger returns the runner's logger: JSON to w, and when the runner
// runs under a manager that has a system log other than stderr (the Windows
// Event Log), to that log too.
func NewLogger(s service.Service, w io.Writer, level slog.Level) *slog.Logger {
	json := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	if s == nil || !useSystemLog() {
		return slog.New(json)
	}
	sl, err := s.Logger(nil)
	if err != nil {
		return slog.New(json)
	}
	return slog.New(&systemHandler{sys: sl, level: level})
}

// systemHandler writes one line per record to the system log at a matching
// severity: "msg key=value ...".
type systemHandler struct {
	sys   service.Logger
	level slog.Level
	attrs []slog.Attr
	group string
}

func (h *systemHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *systemHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", h.prefixed(a.Key), a.Value)
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		return h.sys.Error(b.String())
	case r.Level >= slog.LevelWarn:
		return h.sys.Warning(b.String())
	default:
		return h.sys.Info(b.String())
	}
}

func (h *systemHandler) prefixed(key string) string {
	if h.group == "" {
		return key
	}
	return h.group + "." + key
}

// WithAttrs keeps as with their keys already qualified by the current group.
func (h *systemHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefixed(a.Key), Value: a.Value})
	}
	return &c
}

func (h *systemHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
