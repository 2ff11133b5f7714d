package metrics

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// Events counts the warnings and errors of an event log, for myftp_log_events_total: every
// failure the server notices and an administrator should know of (a store or database that does
// not answer, a quota accounting that could not be updated, an upload that could not be flushed,
// a refused way out of a home) is one such record, so their rate is the server's error rate.
type Events struct {
	warn, err atomic.Int64
}

// Handler returns h, counting its records at Warn and above in e.
func (e *Events) Handler(h slog.Handler) slog.Handler { return eventsHandler{h: h, e: e} }

type eventsHandler struct {
	h slog.Handler
	e *Events
}

func (c eventsHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || c.h.Enabled(ctx, l)
}

func (c eventsHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelError:
		c.e.err.Add(1)
	case r.Level >= slog.LevelWarn:
		c.e.warn.Add(1)
	}
	if !c.h.Enabled(ctx, r.Level) {
		return nil
	}
	return c.h.Handle(ctx, r)
}

func (c eventsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return eventsHandler{h: c.h.WithAttrs(as), e: c.e}
}

func (c eventsHandler) WithGroup(name string) slog.Handler {
	return eventsHandler{h: c.h.WithGroup(name), e: c.e}
}
