package localapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/tiles"
)

func TestAdmissionLimits(t *testing.T) {
	if a := newAdmission(-1); a != nil {
		t.Fatalf("a negative limit gives a gate %v, want none", a)
	}
	var none *admission
	if err := none.enter(t.Context()); err != nil {
		t.Fatalf("no gate: enter %v", err)
	}
	none.leave()
	if n := cap(newAdmission(0).slots); n != runtime.GOMAXPROCS(0) {
		t.Fatalf("default limit %d, want GOMAXPROCS %d", n, runtime.GOMAXPROCS(0))
	}
	a := newAdmission(2)
	for range 2 {
		if err := a.enter(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.enter(ctx); err == nil {
		t.Fatal("a third enter on a full gate succeeded")
	}
	a.leave()
	if err := a.enter(ctx); err != nil {
		t.Fatalf("enter with a free slot: %v", err)
	}
}

// A tile request waits while every tile slot is taken, is served once one
// frees, and gives up its place when its client goes away (no slot lost).
func TestTileRequestsWaitForASlot(t *testing.T) {
	e := newEnv(t, envOpts{})
	gate := newAdmission(1)
	waiting := make(chan struct{}, 8)
	gate.waiting = func() { waiting <- struct{}{} }
	e.srv.tileGate = gate
	// A stored tile: the middle of the basemap's bounds at level 12.
	tj := e.jsonOf(e.do("GET", basemapTiles+"/tilejson", nil), 200)
	b := tj["bounds"].([]any)
	x, y := lonLatTile((b[0].(float64)+b[2].(float64))/2, (b[1].(float64)+b[3].(float64))/2, 12)
	tileURL := fmt.Sprintf("%s%s/12/%d/%d.png", e.hs.URL, basemapTiles, x, y)
	get := func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", tileURL, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.hs.Client().Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode == 200 && len(body) == 0 {
			t.Error("empty tile")
		}
		return resp.StatusCode, err
	}
	awaitWaiting := func() {
		t.Helper()
		select {
		case <-waiting:
		case <-time.After(testutil.Timeout):
			t.Fatal("the tile request did not wait for a slot")
		}
	}
	type result struct {
		status int
		err    error
	}
	if err := gate.enter(t.Context()); err != nil { // the only slot
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() { s, err := get(t.Context()); done <- result{s, err} }()
	awaitWaiting()
	select {
	case r := <-done:
		t.Fatalf("answered (%d, %v) while the only slot was taken", r.status, r.err)
	default:
	}
	gate.leave()
	if r := <-done; r.err != nil || r.status != 200 {
		t.Fatalf("after the slot freed: %d, %v", r.status, r.err)
	}

	// A waiting request whose client goes away leaves the line.
	if err := gate.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { s, err := get(ctx); done <- result{s, err} }()
	awaitWaiting()
	cancel()
	if r := <-done; r.err == nil {
		t.Fatalf("a cancelled request answered %d", r.status)
	}
	gate.leave()
	if s, err := get(t.Context()); err != nil || s != 200 {
		t.Fatalf("after a cancelled wait: %d, %v", s, err)
	}
	if n := len(gate.slots); n != 0 {
		t.Fatalf("%d slots still taken", n)
	}
}

// panicMaps is a registry whose TileStore panics.
type panicMaps struct{ Maps }

func (panicMaps) TileStore(context.Context, string, string) (*tiles.Store, error) {
	panic("tile store")
}

// A tile read that panics (the guard answers 500) still frees its slot: the
// next tile request is served.
func TestTileSlotFreedAfterPanic(t *testing.T) {
	e := newEnv(t, envOpts{})
	gate := newAdmission(1)
	e.srv.tileGate = gate
	url := basemapTiles + "/0/0/0.png"
	reg := e.srv.reg
	e.srv.reg = panicMaps{reg}
	e.jsonOf(e.do("GET", url, nil), 500)
	e.srv.reg = reg
	if n := len(gate.slots); n != 0 {
		t.Fatalf("%d slots still taken after a panic", n)
	}
	resp := e.do("GET", url, nil)
	resp.Body.Close()
	if s := resp.StatusCode; s != 200 && s != 204 {
		t.Fatalf("after a panicking read: %d", s)
	}
}
