package tiles

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestGetBytesRetriesPassingFailures: a style that fails twice with 5xx/429
// is fetched on the third try; a 404 is not retried.
func TestGetBytesRetriesPassingFailures(t *testing.T) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.URL.Path == "/missing":
			http.NotFound(w, r)
		case n == 1:
			w.WriteHeader(http.StatusInternalServerError)
		case n == 2:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"error":{"code":503,"message":"busy"}}`))
		default:
			w.Write([]byte(`{"version":8}`))
		}
	}))
	defer hs.Close()
	b, err := getBytes(context.Background(), hs.Client(), hs.URL+"/root.json", nil)
	if err != nil || string(b) != `{"version":8}` {
		t.Fatalf("getBytes = %q, %v", b, err)
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
	calls.Store(0)
	_, err = getBytes(context.Background(), hs.Client(), hs.URL+"/missing", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("missing resource: %v", err)
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("404 requested %d times, want 1", got)
	}
}
