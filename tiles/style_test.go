package tiles

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator/openmaps"
)

// Real servers' habits, one by one, against the tileserver-gl/martin-like
// emulator: gzip Content-Encoding whatever was asked (vector kept gzip,
// raster decoded), 204 for an empty vector tile and 404 "Out of bounds"
// outside zooms or bounds (both absent, not errors), an API key in the
// query never shown in errors.
func TestOpenServerHabits(t *testing.T) {
	const key = "abc-secret"
	s := openmaps.New(openmaps.Options{Key: key})
	hs := httptest.NewServer(s)
	defer hs.Close()
	ctx := context.Background()
	hc := &httpClientNoDecode
	style, _, err := FetchStyle(ctx, hc, hs.URL+"/styles/basic/style.json?key="+key)
	if err != nil {
		t.Fatal(err)
	}
	if got := style.TiledSources(); strings.Join(got, ",") != "hillshade,places,roads" {
		t.Fatalf("tiled sources %v", got)
	}
	for _, src := range openmaps.Sources {
		ss, err := ResolveStyleSource(ctx, hc, hs.URL+"/styles/basic/style.json?key="+key, style, src.Name)
		if err != nil {
			t.Fatal(err)
		}
		if ss.MinZoom != src.MinZoom || ss.MaxZoom != src.MaxZoom || ss.Bounds == nil || *ss.Bounds != src.Bounds {
			t.Errorf("%s: zooms %d-%d bounds %v", src.Name, ss.MinZoom, ss.MaxZoom, ss.Bounds)
		}
		f := ss.Fetcher(hc)
		var present, empty bool
		for z := src.MinZoom; z <= min(src.MaxZoom, 11) && !(present && empty); z++ {
			x0, y0 := xyzOf(src.Bounds[0], src.Bounds[3], z)
			x1, y1 := xyzOf(src.Bounds[2], src.Bounds[1], z)
			for x := x0; x <= x1; x++ {
				for y := y0; y <= y1; y++ {
					if !openmaps.InBounds(src, z, x, y) {
						continue
					}
					b, absent, err := f.FetchTile(ctx, TileKey{Level: z, Row: y, Col: x})
					if err != nil {
						t.Fatal(err)
					}
					want, _ := openmaps.TileBytes(src, z, x, y)
					switch {
					case openmaps.Empty(src, z, x, y):
						empty = true
						if !absent {
							t.Errorf("%s %d/%d/%d: 204 not absent", src.Name, z, x, y)
						}
					case src.Vector:
						present = true
						if !isGzip(b) {
							t.Fatalf("%s: vector tile not kept gzip", src.Name)
						}
						if got, _ := readGzip(b); !bytes.Equal(got, want) {
							t.Errorf("%s %d/%d/%d: content differs", src.Name, z, x, y)
						}
					default:
						present = true
						if !bytes.Equal(b, want) {
							t.Errorf("%s %d/%d/%d: raster not decoded to the server's PNG", src.Name, z, x, y)
						}
					}
				}
			}
		}
		if !present || (src.Vector && !empty) {
			t.Errorf("%s: present %v empty %v: cases not reached", src.Name, present, empty)
		}
		// 404 "Out of bounds": a zoom beyond the source's maxzoom.
		if _, absent, err := f.FetchTile(ctx, TileKey{Level: src.MaxZoom + 1}); err != nil || !absent {
			t.Errorf("%s: out of bounds: absent %v, %v", src.Name, absent, err)
		}
	}
	// A wrong key: the error hides the query.
	_, _, err = FetchStyle(ctx, hc, hs.URL+"/styles/basic/style.json?key=wrong-"+key)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 || strings.Contains(err.Error(), key) {
		t.Errorf("wrong key: %v", err)
	}
}

// httpClientNoDecode keeps bytes as served (the job's transport does too).
var httpClientNoDecode = httpClient(NewTransport(4))

func httpClient(tr *http.Transport) http.Client { return http.Client{Transport: tr} }

// xyzOf is the XYZ tile of a point at zoom z.
func xyzOf(lon, lat float64, z int) (x, y int) {
	mx, my := ToMercator(lon, lat)
	n := math.Exp2(float64(z))
	return int((mx + MercatorHalfWorld) / (2 * MercatorHalfWorld) * n), int((MercatorHalfWorld - my) / (2 * MercatorHalfWorld) * n)
}
