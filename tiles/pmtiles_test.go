package tiles

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator/openmaps"
	"github.com/offlined/offlined/internal/pmtiles"
)

// bytesRange reads ranges of an in-memory archive.
type bytesRange []byte

func (b bytesRange) ReadRange(_ context.Context, off, n uint64) ([]byte, error) {
	if off+n > uint64(len(b)) || off+n < off {
		return nil, fmt.Errorf("range %d+%d beyond %d bytes", off, n, len(b))
	}
	return b[off : off+n], nil
}

// The official library's own fixture (testdata/pmtiles/README.md): its one
// tile comes back with the archive's bytes, other tiles are absent.
func TestPMTilesFixture(t *testing.T) {
	ctx := context.Background()
	f, err := os.Open("testdata/pmtiles/test_fixture_1.pmtiles")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, _ := os.ReadFile(f.Name())
	p, err := OpenPMTiles(ctx, FileRange{F: f})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Vector() || p.Format() != "pbf" || p.Bounds() != [4]float64{0, 0, 0.9999999, 1} {
		t.Errorf("header %+v bounds %v", p.Header, p.Bounds())
	}
	b, absent, err := p.FetchTile(ctx, TileKey{Level: 0})
	if err != nil || absent || !bytes.Equal(b, raw[399:468]) {
		t.Fatalf("tile 0/0/0: %d bytes, absent %v, %v", len(b), absent, err)
	}
	if _, absent, err := p.FetchTile(ctx, TileKey{Level: 1, Row: 0, Col: 1}); err != nil || !absent {
		t.Errorf("tile 1/1/0: absent %v, %v", absent, err)
	}
	// Outside the zoom's grid: absent, not the tile whose id the
	// coordinates would alias (the library's ZxyToID maps 0/1/0 to id 0).
	for _, k := range []TileKey{{Level: 0, Col: 1}, {Level: 0, Row: 1}, {Level: 0, Col: 1 << 32}} {
		if b, absent, err := p.FetchTile(ctx, k); err != nil || !absent {
			t.Errorf("tile %s: %d bytes, absent %v, %v", k, len(b), absent, err)
		}
	}
}

// Over HTTP Range requests only the directories and the asked tiles
// travel: every tile of the emulator's archive comes back equal to what it
// wrote (leaf directories followed), and far fewer bytes than the archive
// are read.
func TestPMTilesHTTP(t *testing.T) {
	s := openmaps.New(openmaps.Options{})
	hs := httptest.NewServer(s)
	defer hs.Close()
	ctx := context.Background()
	p, err := OpenPMTiles(ctx, &HTTPRange{Client: hs.Client(), URL: hs.URL + "/files/area.pmtiles"})
	if err != nil {
		t.Fatal(err)
	}
	a := openmaps.Archive
	n := 0
	for z := a.MinZoom; z <= 9; z += 3 {
		for x := 0; x < 1<<z; x++ {
			for y := 0; y < 1<<z; y++ {
				want, ok := openmaps.ArchiveTile(z, x, y)
				if !ok && !openmaps.InBounds(a, z, x, y) && (x%7 != 0 || y%7 != 0) {
					continue // keep the absent probes few
				}
				b, absent, err := p.FetchTile(ctx, TileKey{Level: z, Row: y, Col: x})
				if err != nil || absent == ok {
					t.Fatalf("%d/%d/%d: absent %v (archive has it: %v), %v", z, x, y, absent, ok, err)
				}
				if ok {
					n++
					if got := gunzipT(t, b); !bytes.Equal(got, want) {
						t.Fatalf("%d/%d/%d: bytes differ", z, x, y)
					}
				}
			}
		}
	}
	if leaves, _ := p.leaves.stats(); n == 0 || leaves == 0 {
		t.Fatalf("%d tiles read, %d leaf directories", n, leaves)
	}
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r, "/files/area.pmtiles") {
			t.Errorf("request %s", r)
		}
	}
}

func gunzipT(t *testing.T, b []byte) []byte {
	t.Helper()
	if !isGzip(b) {
		t.Fatal("vector tile not gzip-compressed")
	}
	out, err := readGzip(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzOpenPMTiles: no archive, however broken, panics the reader
// (internal/pmtiles' decoders return errors on unknown compressions,
// entry counts beyond the bytes or the limit and truncated directories).
func FuzzOpenPMTiles(f *testing.F) {
	raw, _ := os.ReadFile("testdata/pmtiles/test_fixture_1.pmtiles")
	f.Add(raw)
	f.Add(raw[:127])
	bad := bytes.Clone(raw)
	bad[97] = 9 // internal compression
	f.Add(bad)
	// A leaf claiming more entries than the limit (its bytes cut short).
	f.Add(leafArchive1(f, append(binary.AppendUvarint(nil, pmtiles.MaxDirectoryEntries+1), make([]byte, 64)...)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		p, err := OpenPMTiles(ctx, bytesRange(b))
		if err != nil {
			return
		}
		for z := 0; z < 3; z++ {
			_, _, _ = p.FetchTile(ctx, TileKey{Level: z})
		}
	})
}
