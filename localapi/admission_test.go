package localapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	stdsync "sync"
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
	if n := newAdmission(0).n; n != runtime.GOMAXPROCS(0) {
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
	if n := gate.held(); n != 0 {
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
	if n := gate.held(); n != 0 {
		t.Fatalf("%d slots still taken after a panic", n)
	}
	resp := e.do("GET", url, nil)
	resp.Body.Close()
	if s := resp.StatusCode; s != 200 && s != 204 {
		t.Fatalf("after a panicking read: %d", s)
	}
}

// held is the number of tile reads holding a slot.
func (a *admission) held() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running
}

// Each interactive request in flight takes a slot from the tile reads,
// down to one; when it ends, the waiting reads are admitted in order.
func TestAdmissionInteractiveTakesASlot(t *testing.T) {
	a := newAdmission(2)
	waiting := make(chan struct{}, 8)
	a.waiting = func() { waiting <- struct{}{} }
	enterAsync := func() chan error {
		c := make(chan error, 1)
		go func() { c <- a.enter(t.Context()) }()
		return c
	}
	awaitWaiting := func() {
		t.Helper()
		select {
		case <-waiting:
		case <-time.After(testutil.Timeout):
			t.Fatal("the tile read did not wait")
		}
	}
	if err := a.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Without a query, the second slot is free.
	if err := a.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.leave()

	a.beginInteractive()
	first := enterAsync() // one slot held, one left to the query: waits
	awaitWaiting()
	second := enterAsync()
	awaitWaiting()
	a.leave() // the read holding a slot ends: the first waiter gets it
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-second:
		t.Fatalf("a second tile read was admitted (%v) while a query runs on 2 slots", err)
	default:
	}
	if n := a.held(); n != 1 {
		t.Fatalf("%d slots held while a query runs, want 1", n)
	}
	a.endInteractive() // the query ends: its slot goes to the next waiter
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	a.leave()
	a.leave()

	// Tiles keep one slot however many queries run.
	for range 3 {
		a.beginInteractive()
	}
	if err := a.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	third := enterAsync()
	awaitWaiting()
	a.leave()
	if err := <-third; err != nil {
		t.Fatal(err)
	}
	a.leave()
	for range 3 {
		a.endInteractive()
	}
	if n := a.held(); n != 0 || a.head != len(a.queue) {
		t.Fatalf("%d slots held, %d waiting at the end", n, len(a.queue)-a.head)
	}
}

// A tile read whose wait is cancelled leaves the queue; the reads behind
// it keep their order, nothing is lost, and no finished waiter stays
// referenced by the queue.
func TestAdmissionCancelledWaiterLeavesQueue(t *testing.T) {
	a := newAdmission(1)
	waiting := make(chan struct{}, 8)
	a.waiting = func() { waiting <- struct{}{} }
	if err := a.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	gone := make(chan error, 1)
	go func() { gone <- a.enter(ctx) }()
	<-waiting
	next := make(chan error, 1)
	go func() { next <- a.enter(t.Context()) }()
	<-waiting
	cancel()
	if err := <-gone; err == nil {
		t.Fatal("a cancelled wait was admitted")
	}
	a.leave()
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	if n := a.held(); n != 1 {
		t.Fatalf("%d slots held, want 1", n)
	}
	a.leave()
	// Neither the cancelled nor the admitted waiter stays reachable from
	// the queue's array.
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, w := range a.queue[:cap(a.queue)] {
		if w != nil {
			t.Errorf("queue array[%d] still holds a waiter (len %d, head %d)", i, len(a.queue), a.head)
		}
	}
}

// authGet GETs path on the test server with the token; it may run in
// another goroutine (no t.Fatal).
func authGet(ctx context.Context, e *env, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", e.hs.URL+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// While a feature query runs (held inside the handler by the gate's hook),
// a tile request waits although a slot of two is free, and is served once
// the query ends. Both the GeoJSON and the FeatureServer query routes
// count.
func TestFeatureQueryLimitsTileReads(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, query := range []string{
		"/api/v1/maps/demo/layers/" + svcName + ".3/features?limit=5",
		"/arcgis/rest/services/demo." + svcName + "/FeatureServer/3/query?f=json&where=1%3D1",
	} {
		t.Run(query, func(t *testing.T) {
			gate := newAdmission(2)
			waiting := make(chan struct{}, 8)
			gate.waiting = func() { waiting <- struct{}{} }
			inQuery, release := make(chan struct{}, 1), make(chan struct{})
			var once stdsync.Once
			free := func() { once.Do(func() { close(release) }) }
			t.Cleanup(free) // a failing test must not leave the query held
			gate.interactiveHook = func() {
				inQuery <- struct{}{}
				<-release
			}
			e.srv.tileGate = gate
			if err := gate.enter(t.Context()); err != nil { // a tile read in progress
				t.Fatal(err)
			}
			queried := make(chan error, 1)
			go func() {
				s, err := authGet(t.Context(), e, query)
				if err == nil && s != 200 {
					err = fmt.Errorf("status %d", s)
				}
				queried <- err
			}()
			select {
			case <-inQuery:
			case err := <-queried:
				t.Fatalf("the query did not count as interactive: %v", err)
			}
			tile := make(chan int, 1)
			go func() {
				s, err := authGet(t.Context(), e, basemapTiles+"/0/0/0.png")
				if err != nil {
					t.Error(err)
				}
				tile <- s
			}()
			select {
			case <-waiting:
			case s := <-tile:
				t.Fatalf("a tile was served (%d) on the query's slot", s)
			}
			free()
			if err := <-queried; err != nil {
				t.Fatal(err)
			}
			if s := <-tile; s != 200 && s != 204 {
				t.Fatalf("tile after the query: %d", s)
			}
			gate.leave()
			if n := gate.held(); n != 0 {
				t.Fatalf("%d slots held at the end", n)
			}
		})
	}
}
