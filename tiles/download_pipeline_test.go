package tiles

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Bug: one goroutine both took fetched tiles and committed them, so while a
// batch was written (the commit, then the progress report) every worker
// stalled with its tile in hand. Tiles must keep arriving during a commit, up
// to BatchSize uncommitted.
func TestDownloadFetchesWhileCommitting(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 16)
	f := newFakeTiles(t)
	st := openTestStore(t, t.TempDir(), "p.mbtiles", s)
	defer st.Close()
	const batchSize, more = 64, 20
	served := make(chan struct{}, 1)
	f.setOnTile(func(int64) {
		select {
		case served <- struct{}{}:
		default:
		}
	})
	stalled, blocked := false, false
	p, err := Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{
		Concurrency: 4, BatchSize: batchSize, BatchInterval: time.Hour,
		Progress: func(p Progress) {
			if blocked {
				return
			}
			// The first commit's report holds the committer until the
			// workers have fetched more tiles past the committed ones
			// than they hold in hand and in the results buffer (8).
			blocked = true
			want := p.Fetched + more
			deadline := time.After(10 * time.Second)
			for f.requests.Load() < want {
				select {
				case <-served:
				case <-deadline:
					stalled = true
					return
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Planned < batchSize+more+8 {
		t.Fatalf("cover too small for the test: %d tiles", p.Planned)
	}
	if stalled {
		t.Fatalf("no %d more tiles were fetched while a batch was committed", more)
	}
	if p.Fetched != p.Planned {
		t.Fatalf("fetched %d of %d", p.Fetched, p.Planned)
	}
}

// Bug: MarkLevelComplete and SetMetadata wrote through other connections
// than Put, so at the next batch SQLite dropped the writer's page cache (a
// fifth of the write path's CPU went to freeing and re-zeroing pages). Every
// store write goes through one connection: the database never changes under
// it (PRAGMA data_version counts commits by other connections).
func TestStoreWritesShareOneConnection(t *testing.T) {
	st := openTestStore(t, t.TempDir(), "w.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	ctx := context.Background()
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{1, 0, 0}, Data: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	version := func() int64 {
		t.Helper()
		st.wmu.Lock()
		defer st.wmu.Unlock()
		var v int64
		if err := st.wconn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	if err := st.MarkLevelComplete(ctx, 1, 4); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMetadata(ctx, map[string]string{"name": "n"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{1, 0, 1}, Data: []byte("b")}, {Key: TileKey{1, 1, 1}, Absent: true}}); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != before {
		t.Fatalf("the store was written through another connection (data_version %d → %d)", before, v)
	}
	if done, err := st.LevelComplete(ctx, 1); err != nil || !done {
		t.Fatalf("level 1 complete: %v %v", done, err)
	}
}

// fixedBody answers every request with body and the given Content-Length.
type fixedBody struct {
	body []byte
	cl   int64
}

func (f fixedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"image/png"}},
		Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: f.cl, Request: r}, nil
}

// FetchTile reads a body into one buffer of its announced size, and still
// reads what a transport that does not hold to Content-Length sends past it.
func TestFetchTileBodySizes(t *testing.T) {
	tm, err := ParseTemplate("http://tiles.example/{z}/{x}/{y}.png", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789"), 1500)
	for _, c := range []struct {
		name    string
		body    []byte
		cl      int64
		want    []byte
		absent  bool
		wantErr bool
	}{
		{"exact", body, int64(len(body)), body, false, false},
		{"unknown length", body, -1, body, false, false},
		{"longer than announced", body, 100, body, false, false},
		{"shorter than announced", body[:50], 100, nil, false, true},
		{"empty", nil, 0, nil, true, false},
	} {
		f := &HTTPFetcher{Client: &http.Client{Transport: fixedBody{c.body, c.cl}}, Template: tm}
		b, absent, err := f.FetchTile(context.Background(), TileKey{3, 1, 2})
		if (err != nil) != c.wantErr || absent != c.absent || !bytes.Equal(b, c.want) {
			t.Errorf("%s: %d bytes, absent %v, err %v", c.name, len(b), absent, err)
		}
	}
}

// A recycled buffer serves the next tile of its size class; the tile read
// into it is the new one, whole.
func TestTileBuffersRecycle(t *testing.T) {
	var bufs tileBuffers
	a := bufs.get(13000)
	if len(a) != 13000 || cap(a) != 16384 {
		t.Fatalf("len %d cap %d", len(a), cap(a))
	}
	copy(a, strings.Repeat("a", 13000))
	bufs.put(a)
	b := bufs.get(9000)
	if len(b) != 9000 || cap(b) != 16384 {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	// Sizes outside the classes are plain allocations, not kept.
	for _, n := range []int{0, 1, 4096, 4097, 1 << 20, 1<<20 + 1} {
		x := bufs.get(n)
		if len(x) != n || (n > 0 && n <= 1<<20 && cap(x) < n) {
			t.Fatalf("get(%d): len %d cap %d", n, len(x), cap(x))
		}
		bufs.put(x)
	}
	r, err := readTileBody(strings.NewReader(strings.Repeat("b", 9000)), 9000, &bufs, "u")
	if err != nil || string(r) != strings.Repeat("b", 9000) {
		t.Fatalf("%d bytes, %v", len(r), err)
	}
}
