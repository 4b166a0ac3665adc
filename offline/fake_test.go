package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// fakeArcGIS answers Services and Portal calls from testdata/services.json
// (documents keyed by URL, built from the shared fixtures) and records every
// URL asked for.
type fakeArcGIS struct {
	docs  map[string]json.RawMessage
	errs  map[string]error
	items map[string]*arcgis.Item
	data  map[string]json.RawMessage

	// delay is added to every service call (to observe concurrency).
	delay time.Duration

	mu       sync.Mutex
	calls    []string
	inflight int
	maxIn    int
}

func loadFake(t testing.TB) *fakeArcGIS {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "services.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raws map[string]json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		t.Fatal(err)
	}
	f := &fakeArcGIS{docs: map[string]json.RawMessage{}, errs: map[string]error{}, items: map[string]*arcgis.Item{}, data: map[string]json.RawMessage{}}
	for u, raw := range raws {
		if strings.HasPrefix(u, "_") {
			continue
		}
		var e struct {
			Doc     json.RawMessage            `json:"doc"`
			Fixture string                     `json:"fixture"`
			Patch   map[string]json.RawMessage `json:"patch"`
			Error   *struct {
				Code    int
				Message string
			}
			NetError bool `json:"netError"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("services.json %s: %v", u, err)
		}
		k := NormalizeURL(u)
		switch {
		case e.Error != nil:
			f.errs[k] = &arcgis.Error{Code: e.Error.Code, Message: e.Error.Message, URL: u}
		case e.NetError:
			f.errs[k] = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		case e.Fixture != "":
			raw, err := os.ReadFile(filepath.Join("testdata", "fixtures", e.Fixture))
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Patch) > 0 {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatalf("%s: %v", e.Fixture, err)
				}
				for pk, pv := range e.Patch {
					m[pk] = pv
				}
				raw, _ = json.Marshal(m)
			}
			f.docs[k] = raw
		default:
			f.docs[k] = e.Doc
		}
	}
	return f
}

func (f *fakeArcGIS) get(ctx context.Context, u string, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := NormalizeURL(u)
	f.mu.Lock()
	f.calls = append(f.calls, k)
	f.inflight++
	f.maxIn = max(f.maxIn, f.inflight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := f.errs[k]; err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	doc, ok := f.docs[k]
	if !ok {
		return fmt.Errorf("get %s: %w", u, &arcgis.Error{Code: 404, Message: "Service not found", URL: u})
	}
	return json.Unmarshal(doc, v)
}

func (f *fakeArcGIS) called(u string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == NormalizeURL(u) {
			n++
		}
	}
	return n
}

// fakeGet reads the document at u into a new T.
func fakeGet[T any](ctx context.Context, f *fakeArcGIS, u string) (*T, error) {
	var v T
	if err := f.get(ctx, u, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func (f *fakeArcGIS) FeatureService(ctx context.Context, u string) (*arcgis.FeatureService, error) {
	return fakeGet[arcgis.FeatureService](ctx, f, u)
}

func (f *fakeArcGIS) Layer(ctx context.Context, u string) (*arcgis.Layer, error) {
	return fakeGet[arcgis.Layer](ctx, f, u)
}

func (f *fakeArcGIS) MapService(ctx context.Context, u string) (*arcgis.MapService, error) {
	return fakeGet[arcgis.MapService](ctx, f, u)
}

func (f *fakeArcGIS) VectorTileService(ctx context.Context, u string) (*arcgis.VectorTileService, error) {
	return fakeGet[arcgis.VectorTileService](ctx, f, u)
}

func (f *fakeArcGIS) GetJSON(ctx context.Context, u string, params url.Values, v any) error {
	return f.get(ctx, u, v)
}

func (f *fakeArcGIS) Item(ctx context.Context, id string) (*arcgis.Item, error) {
	if it, ok := f.items[id]; ok {
		c := *it
		return &c, nil
	}
	return nil, &arcgis.Error{Code: 400, Message: "Item does not exist or is inaccessible."}
}

func (f *fakeArcGIS) ItemDataInto(ctx context.Context, id string, v any) error {
	d, ok := f.data[id]
	if !ok {
		return &arcgis.Error{Code: 400, Message: "Item does not exist or is inaccessible."}
	}
	return json.Unmarshal(d, v)
}

// webMapFiles lists every web map test input: the shared fixtures and the
// hand-made maps.
func webMapFiles(t testing.TB) []string {
	t.Helper()
	a, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "webmap-*.json"))
	b, _ := filepath.Glob(filepath.Join("testdata", "webmaps", "*.json"))
	if len(a) < 2 || len(b) < 3 {
		t.Fatalf("web map test files missing: %v %v", a, b)
	}
	return append(a, b...)
}

// fileTask opens a task on a web map file with the fake services.
func fileTask(t testing.TB, f *fakeArcGIS, path string) *Task {
	t.Helper()
	task, err := NewTask(context.Background(), Source{File: path}, nil, f)
	if err != nil {
		t.Fatalf("NewTask(%s): %v", path, err)
	}
	return task
}

// demoArea is the emulator's demo area (WGS84).
func demoArea() *arcgis.Geometry {
	return wgs84Box(-117.25, 33.98, -117.10, 34.10)
}
