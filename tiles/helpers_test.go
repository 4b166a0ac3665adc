package tiles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var pngCache sync.Map

// pngTile returns a small deterministic PNG for a tile key.
func pngTile(z, row, col int) []byte {
	key := [3]int{z, row, col}
	if b, ok := pngCache.Load(key); ok {
		return b.([]byte)
	}
	b := makePNG(z, row, col)
	pngCache.Store(key, b)
	return b
}

var basePNG = func() []byte {
	pal := color.Palette{color.NRGBA{40, 120, 200, 255}, color.NRGBA{255, 255, 255, 255}}
	img := image.NewPaletted(image.Rect(0, 0, 256, 256), pal)
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}()

// makePNG returns a valid 256×256 PNG unique to the key: a shared image with
// a tEXt chunk naming the tile inserted before IEND.
func makePNG(z, row, col int) []byte {
	text := []byte(fmt.Sprintf("tile\x00%d/%d/%d", z, row, col))
	chunk := make([]byte, 0, 12+len(text))
	chunk = binary.BigEndian.AppendUint32(chunk, uint32(len(text)))
	chunk = append(chunk, "tEXt"...)
	chunk = append(chunk, text...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	iend := len(basePNG) - 12
	out := append([]byte(nil), basePNG[:iend]...)
	out = append(out, chunk...)
	return append(out, basePNG[iend:]...)
}

// fakeTiles is an ArcGIS-like tile endpoint /tile/{level}/{row}/{col} that
// counts the tiles it served (status 200) per key.
type fakeTiles struct {
	mu       sync.Mutex
	served   map[string]int // key → 200 responses
	requests atomic.Int64
	// absent tiles answer 404 (or 204 when the col is odd).
	absent func(z, row, col int) bool
	// hook runs before answering; returning a status ≠ 0 answers with it.
	hook   func(n int64, z, row, col int) int
	cache  sync.Map
	srv    *httptest.Server
	onTile func(n int64)
}

func newFakeTiles(t testing.TB) *fakeTiles {
	f := &fakeTiles{served: map[string]int{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 4 && parts[0] == "tile" {
		z, _ := strconv.Atoi(parts[1])
		row, _ := strconv.Atoi(parts[2])
		col, _ := strconv.Atoi(parts[3])
		n := f.requests.Add(1)
		f.mu.Lock()
		hook, absent, onTile := f.hook, f.absent, f.onTile
		f.mu.Unlock()
		if hook != nil {
			if code := hook(n, z, row, col); code != 0 {
				if code == 429 {
					w.Header().Set("Retry-After", "0")
				}
				w.WriteHeader(code)
				return
			}
		}
		if absent != nil && absent(z, row, col) {
			if col%2 == 1 {
				w.WriteHeader(http.StatusNoContent)
			} else {
				http.NotFound(w, r)
			}
			return
		}
		key := fmt.Sprintf("%d/%d/%d", z, row, col)
		b, ok := f.cache.Load(key)
		if !ok {
			b, _ = f.cache.LoadOrStore(key, pngTile(z, row, col))
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(b.([]byte))
		f.mu.Lock()
		f.served[key]++
		f.mu.Unlock()
		if onTile != nil {
			onTile(n)
		}
		return
	}
	if len(parts) == 6 && parts[0] == "tilemap" {
		f.serveTilemap(w, parts[1:])
		return
	}
	http.NotFound(w, r)
}

func (f *fakeTiles) serveTilemap(w http.ResponseWriter, p []string) {
	var v [5]int
	for i := range v {
		v[i], _ = strconv.Atoi(p[i])
	}
	z, row, col, wd, ht := v[0], v[1], v[2], v[3], v[4]
	var data []string
	f.mu.Lock()
	absent := f.absent
	f.mu.Unlock()
	for r := row; r < row+ht; r++ {
		for c := col; c < col+wd; c++ {
			bit := "1"
			if absent != nil && absent(z, r, c) {
				bit = "0"
			}
			data = append(data, bit)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"adjusted":false,"location":{"left":%d,"top":%d,"width":%d,"height":%d},"data":[%s]}`, col, row, wd, ht, strings.Join(data, ","))
}

func (f *fakeTiles) setHook(h func(n int64, z, row, col int) int) {
	f.mu.Lock()
	f.hook = h
	f.mu.Unlock()
}
func (f *fakeTiles) setAbsent(a func(z, row, col int) bool) { f.mu.Lock(); f.absent = a; f.mu.Unlock() }
func (f *fakeTiles) setOnTile(o func(n int64))              { f.mu.Lock(); f.onTile = o; f.mu.Unlock() }

func (f *fakeTiles) maxServed() (max int, dup int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.served {
		if n > max {
			max = n
		}
		if n > 1 {
			dup += n - 1
		}
	}
	return
}

func (f *fakeTiles) fetcher(t testing.TB, conc int) *HTTPFetcher {
	tm, err := ArcGISTileTemplate(f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return NewHTTPFetcher(tm, nil, conc)
}

// dumpStore returns a digest of the tiles and absent records of an MBTiles file.
func dumpStore(t testing.TB, path string) (digest string, tiles, absent int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lines []string
	rows, err := db.Query(`SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var z, x, y int
		var b []byte
		if err := rows.Scan(&z, &x, &y, &b); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("t %d %d %d %x", z, x, y, sha256.Sum256(b)))
		tiles++
	}
	rows.Close()
	rows, err = db.Query(`SELECT zoom_level, tile_column, tile_row, state FROM offlined_tile_state`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var z, x, y int
		var s string
		if err := rows.Scan(&z, &x, &y, &s); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("a %d %d %d %s", z, x, y, s))
		absent++
	}
	rows.Close()
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return fmt.Sprintf("%x", h), tiles, absent
}

func testCovers(t testing.TB, s *Scheme, a AOI, lo, hi int) []LevelCover {
	t.Helper()
	var lv []int
	for z := lo; z <= hi; z++ {
		lv = append(lv, z)
	}
	c, err := Cover(s, a, lv, CoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openTestStore(t testing.TB, dir, name string, s *Scheme) *Store {
	t.Helper()
	st, err := OpenStore(context.Background(), filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Configure(context.Background(), s, "png"); err != nil {
		t.Fatal(err)
	}
	return st
}

var httpClientDefault = http.Client{}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
