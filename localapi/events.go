package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	stdsync "sync"
	"time"
)

// Event is one Server-Sent Event of a topic ("job/<id>", "sync/<map>").
// IDs increase by one per topic, so a client resumes with Last-Event-ID.
type Event struct {
	ID   int64           `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Publisher receives progress events; the job manager and the sync service
// publish through it.
type Publisher interface {
	Publish(topic, typ string, data any)
}

// Hub keeps the recent events of each topic (a bounded ring) and fans them
// out to subscribers. It is safe for concurrent use.
type Hub struct {
	mu     stdsync.Mutex
	keep   int
	topics map[string]*topic
}

type topic struct {
	next   int64
	events []Event
	subs   map[chan struct{}]struct{}
	closed bool
}

// NewHub returns a hub keeping up to keep events per topic (default 1024).
func NewHub(keep int) *Hub {
	if keep <= 0 {
		keep = 1024
	}
	return &Hub{keep: keep, topics: map[string]*topic{}}
}

func (h *Hub) topic(name string) *topic {
	t := h.topics[name]
	if t == nil {
		t = &topic{next: 1, subs: map[chan struct{}]struct{}{}}
		h.topics[name] = t
	}
	return t
}

// Publish appends an event to topic and wakes its subscribers. Data that
// cannot be marshalled is published as its error text.
func (h *Hub) Publish(name, typ string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(name)
	t.events = append(t.events, Event{ID: t.next, Type: typ, Data: b})
	t.next++
	if len(t.events) > h.keep {
		t.events = append(t.events[:0:0], t.events[len(t.events)-h.keep:]...)
	}
	for c := range t.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Close marks topic finished: subscribers get the remaining events and
// their streams end.
func (h *Hub) Close(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(name)
	t.closed = true
	for c := range t.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// since returns the retained events of topic with id > after, and whether the
// topic is closed.
// finalize makes a topic with no events hold one final event and close,
// so its stream ends (a finished job seen after a restart). A topic that
// already has events or is closed is left alone.
func (h *Hub) finalize(name, typ string, data any) {
	h.mu.Lock()
	t := h.topic(name)
	empty := len(t.events) == 0 && !t.closed
	h.mu.Unlock()
	if !empty {
		return
	}
	h.Publish(name, typ, data)
	h.Close(name)
}

func (h *Hub) since(name string, after int64) ([]Event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topic(name)
	var out []Event
	for _, e := range t.events {
		if e.ID > after {
			out = append(out, e)
		}
	}
	return out, t.closed
}

func (h *Hub) subscribe(name string) (chan struct{}, func()) {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	h.topic(name).subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.topic(name).subs, c)
		h.mu.Unlock()
	}
}

// serveSSE streams topic as text/event-stream from after Last-Event-ID (or
// the lastEventId query parameter) until the topic closes or the client
// goes away. A comment line is sent every keepalive.
func (h *Hub) serveSSE(ctx context.Context, w http.ResponseWriter, r *http.Request, name string, keepalive time.Duration) {
	var after int64
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	if last != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(last), 10, 64)
		if err != nil || n < 0 {
			writeError(w, badRequest("Last-Event-ID", "Last-Event-ID must be a non-negative integer"))
			return
		}
		after = n
	}
	wake, unsub := h.subscribe(name)
	defer unsub()
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		evs, closed := h.since(name, after)
		for _, e := range evs {
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, e.Data); err != nil {
				return
			}
			after = e.ID
		}
		if len(evs) > 0 {
			rc.Flush()
		}
		if closed {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			rc.Flush()
		}
	}
}
