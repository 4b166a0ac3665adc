package arcgis

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func layerJSON(w http.ResponseWriter) {
	writeJSONBody(w, 200, map[string]any{"id": 0, "name": "Inspections", "type": "Feature Layer", "geometryType": GeometryPoint,
		"objectIdField": "OBJECTID", "fields": []map[string]any{{"name": "OBJECTID", "type": FieldOID}}, "maxRecordCount": 2,
		"advancedQueryCapabilities": map[string]any{"supportsPagination": true}})
}

// checkLayerAfter serves the layer after answering the first requests with
// fails, one each, and checks that the client retried through them all.
func checkLayerAfter(t *testing.T, fails ...func(w http.ResponseWriter)) {
	t.Helper()
	f := newFakeServer(t)
	var n atomic.Int64
	f.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		if i := int(n.Add(1)) - 1; i < len(fails) {
			fails[i](w)
			return
		}
		layerJSON(w)
	})
	c := newTestClient(t, "")
	l, err := c.Layer(context.Background(), f.URL+"/svc/FeatureServer/0")
	if err != nil {
		t.Fatalf("Layer after %d failures: %v", len(fails), err)
	}
	want := int64(len(fails) + 1)
	if l.Name != "Inspections" || l.ObjectIDField != "OBJECTID" || f.count("/svc/FeatureServer/0") != want {
		t.Errorf("name=%q oid=%q hits=%d, want Inspections/OBJECTID after %d hits", l.Name, l.ObjectIDField, f.count("/svc/FeatureServer/0"), want)
	}
}

func TestRetry5xxBurstThenSuccess(t *testing.T) {
	checkLayerAfter(t,
		func(w http.ResponseWriter) { writeJSONBody(w, 503, arcErr(503, "busy")) },
		func(w http.ResponseWriter) { w.WriteHeader(502) },
		func(w http.ResponseWriter) { writeJSONBody(w, 200, arcErr(500, "Internal error in body")) }, // ArcGIS 500 inside HTTP 200
	)
}

func TestRetriesExhausted(t *testing.T) {
	f := newFakeServer(t)
	f.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) { writeJSONBody(w, 503, arcErr(503, "still busy")) })
	c := newTestClient(t, "")
	_, err := c.Layer(context.Background(), f.URL+"/svc/FeatureServer/0")
	var re *RetryError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RetryError", err)
	}
	var ae *Error
	if re.Attempts != 4 || !errors.As(err, &ae) || ae.Code != 503 || ae.Message != "still busy" {
		t.Errorf("attempts=%d last=%v, want 4 attempts ending in arcgis 503", re.Attempts, re.Last)
	}
	if got := f.count("/svc/FeatureServer/0"); got != 4 {
		t.Errorf("server saw %d requests, want 4", got)
	}
	if !strings.Contains(err.Error(), "giving up after 4 attempts") {
		t.Errorf("error message %q is not clear about giving up", err)
	}
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	f := newFakeServer(t)
	var n atomic.Int64
	f.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			writeJSONBody(w, 429, arcErr(429, "Too many requests"))
			return
		}
		layerJSON(w)
	})
	c := newTestClient(t, "")
	start := time.Now()
	if _, err := c.Layer(context.Background(), f.URL+"/svc/FeatureServer/0"); err != nil {
		t.Fatalf("Layer: %v", err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("retried after %v, want >= 1s (Retry-After)", el)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v,%v want %v,%v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffBoundsAndJitter(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second, Multiplier: 2, Jitter: 0.5}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 8: time.Second} {
		if got := p.backoff(n, func() float64 { return 0 }); got != want {
			t.Errorf("backoff(%d) no jitter = %v, want %v", n, got, want)
		}
		if got := p.backoff(n, func() float64 { return 1 }); got != want/2 {
			t.Errorf("backoff(%d) full jitter = %v, want %v", n, got, want/2)
		}
	}
}

// cutHandler promises 1000 bytes and sends 10, then drops the connection.
func cutConnection(t *testing.T, w http.ResponseWriter) {
	w.Header().Set("Content-Length", "1000")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	_, _ = w.Write([]byte(`{"id":0,"na`))
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("no hijacker")
		return
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestRetryTruncatedBody(t *testing.T) {
	cut := func(w http.ResponseWriter) { cutConnection(t, w) }
	checkLayerAfter(t, cut, cut)
}

func TestNonIdempotentNotRetried(t *testing.T) {
	f := newFakeServer(t)
	f.handle("/svc/FeatureServer/createReplica", func(w http.ResponseWriter, r *http.Request) { writeJSONBody(w, 503, arcErr(503, "busy")) })
	f.handle("/svc/FeatureServer/0/applyEdits", func(w http.ResponseWriter, r *http.Request) { cutConnection(t, w) })
	f.handle("/svc/FeatureServer/synchronizeReplica", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	c := newTestClient(t, "")
	ctx := context.Background()
	svc := f.URL + "/svc/FeatureServer"
	if _, err := c.CreateReplica(ctx, svc, CreateReplicaParams{Layers: []int{0}}); err == nil {
		t.Error("CreateReplica: want error")
	}
	if _, err := c.ApplyEdits(ctx, svc+"/0", ApplyEditsParams{Adds: []Feature{{Attributes: map[string]any{"a": 1}}}}); err == nil {
		t.Error("ApplyEdits: want error")
	}
	if _, err := c.SynchronizeReplica(ctx, svc, SyncReplicaParams{ReplicaID: "r"}); err == nil {
		t.Error("SynchronizeReplica: want error")
	}
	for _, p := range []string{"/svc/FeatureServer/createReplica", "/svc/FeatureServer/0/applyEdits", "/svc/FeatureServer/synchronizeReplica"} {
		if got := f.count(p); got != 1 {
			t.Errorf("%s: %d requests, want exactly 1 (not retried)", p, got)
		}
	}
}

func TestDialErrorRetriedEvenForPOST(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	c := newTestClient(t, "")
	_, err = c.CreateReplica(context.Background(), "http://"+addr+"/svc/FeatureServer", CreateReplicaParams{Layers: []int{0}})
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != refusedAttempts {
		t.Fatalf("err = %v, want RetryError after %d refused dials (fail fast: nothing listens)", err, refusedAttempts)
	}
}

func TestLongGETBecomesPOST(t *testing.T) {
	f := newFakeServer(t)
	var method, ids atomic.Value
	f.handle("/svc/FeatureServer/0/query", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		method.Store(r.Method)
		ids.Store(r.PostForm.Get("objectIds"))
		writeJSONBody(w, 200, map[string]any{"features": []any{}})
	})
	c := newTestClient(t, "")
	var oids []int64
	for i := int64(1); i <= 600; i++ {
		oids = append(oids, 100000+i)
	}
	if _, err := c.Query(context.Background(), f.URL+"/svc/FeatureServer/0", QueryParams{ObjectIDs: oids}); err != nil {
		t.Fatal(err)
	}
	if method.Load() != http.MethodPost || !strings.HasPrefix(ids.Load().(string), "100001,100002") {
		t.Errorf("method=%v ids prefix=%.20v, want POST with the ids in the form", method.Load(), ids.Load())
	}
	if _, err := c.Query(context.Background(), f.URL+"/svc/FeatureServer/0", QueryParams{ObjectIDs: oids[:3]}); err != nil {
		t.Fatal(err)
	}
	if method.Load() != http.MethodGet {
		t.Errorf("short query used %v, want GET", method.Load())
	}
}

func TestUnexpectedShape(t *testing.T) {
	f := newFakeServer(t)
	f.handle("/svc/FeatureServer/createReplica", func(w http.ResponseWriter, r *http.Request) {
		layerJSON(w) // a server without Sync answering with the layer/service JSON
	})
	f.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"currentVersion": 11})
	})
	c := newTestClient(t, "")
	_, err := c.CreateReplica(context.Background(), f.URL+"/svc/FeatureServer", CreateReplicaParams{Layers: []int{0}})
	var ue *UnexpectedResponseError
	if !errors.As(err, &ue) || ue.Op != "createReplica" || !strings.Contains(ue.Body, "Inspections") {
		t.Fatalf("createReplica answered with layer JSON: err = %v, want *UnexpectedResponseError", err)
	}
	_, err = c.Layer(context.Background(), f.URL+"/svc/FeatureServer/0")
	if !errors.As(err, &ue) {
		t.Fatalf("layer without fields: err = %v, want *UnexpectedResponseError", err)
	}
}
