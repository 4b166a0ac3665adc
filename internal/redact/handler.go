package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// handler masks secrets in every record before passing it on.
type handler struct{ next slog.Handler }

// Handler wraps next so that no record reaches it with a secret: the
// message, string, error and Stringer attribute values (also inside
// groups) go through String, and attributes named like a secret (token,
// password, authorization, …) are masked whole.
func Handler(next slog.Handler) slog.Handler {
	if h, ok := next.(*handler); ok {
		return h
	}
	return &handler{next: next}
}

// Enabled implements slog.Handler.
func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(Attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = Attr(a)
	}
	return &handler{next: h.next.WithAttrs(red)}
}

// WithGroup implements slog.Handler.
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name)}
}

// Attr returns a with secrets masked.
func Attr(a slog.Attr) slog.Attr {
	if IsSensitive(a.Key) && a.Value.Kind() != slog.KindGroup {
		return slog.String(a.Key, Mask)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String()))
	case slog.KindGroup:
		gs := v.Group()
		red := make([]slog.Attr, len(gs))
		for i, g := range gs {
			red[i] = Attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, String(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, String(x.String()))
		case []byte:
			return slog.String(a.Key, String(string(x)))
		default:
			s := fmt.Sprint(x)
			if r := String(s); r != s {
				return slog.String(a.Key, r)
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
