package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Open tile servers: raster tiles sent Content-Encoding: gzip whatever the
// request asked are decoded when Raster is set (vector tiles keep their
// gzip); with HideQuery an API key in the template never shows in errors.
func TestHTTPFetcherOpenServers(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nraster")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/0/"):
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(png)
			zw.Close()
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("ETag", `W/"x"`)
			w.Write(buf.Bytes())
		case strings.HasPrefix(r.URL.Path, "/1/"):
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Retry-After", "7")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	tmpl, err := ParseTemplate(srv.URL+"/{z}/{x}/{y}.png?api_key=SECRET", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// As NewTransport: no transparent decoding, bytes as the server sent.
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	f := &HTTPFetcher{Client: hc, Template: tmpl, HideQuery: true, Raster: true}
	b, absent, err := f.FetchTile(ctx, TileKey{Level: 0})
	if err != nil || absent || !bytes.Equal(b, png) {
		t.Fatalf("gzip raster: %q %v %v", b, absent, err)
	}
	raw := &HTTPFetcher{Client: hc, Template: tmpl}
	if b, _, _ := raw.FetchTile(ctx, TileKey{Level: 0}); bytes.Equal(b, png) || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("without Raster the bytes are kept as sent (gzip), got %q", b)
	}
	if _, absent, err := f.FetchTile(ctx, TileKey{Level: 1}); !absent || err != nil {
		t.Errorf("204: absent %v err %v", absent, err)
	}
	_, _, err = f.FetchTile(ctx, TileKey{Level: 2})
	se, ok := err.(*StatusError)
	if !ok || se.Code != 429 || se.RetryAfter.Seconds() != 7 || !se.Throttled() {
		t.Fatalf("429: %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "?…") {
		t.Errorf("error shows the API key: %v", err)
	}
}

// ArcGIS answers a missing tile or a refused token with HTTP 200 and a JSON
// error body: a 404 body is an absent tile, another code a *StatusError
// with the server's code and message; a JSON body without an error member
// is a tile like any other.
func TestHTTPFetcherJSONErrorBodies(t *testing.T) {
	bodies := map[string]string{
		"0": `{"error":{"code":404,"message":"Tile not found","details":[]}}`,
		"1": `{"error":{"code":498,"message":"Invalid token.","details":["x"]}}`,
		"2": `{"tile":"json but not an error"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte(bodies[strings.Split(r.URL.Path, "/")[1]]))
	}))
	defer srv.Close()
	tmpl, err := ParseTemplate(srv.URL+"/{z}/{x}/{y}", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := &HTTPFetcher{Client: srv.Client(), Template: tmpl}
	if b, absent, err := f.FetchTile(ctx, TileKey{Level: 0}); !absent || err != nil || b != nil {
		t.Errorf("404 body: %q absent %v err %v, want absent", b, absent, err)
	}
	_, absent, err := f.FetchTile(ctx, TileKey{Level: 1})
	var se *StatusError
	if absent || !errors.As(err, &se) || se.Code != 498 || se.Message != "Invalid token." {
		t.Errorf("498 body: absent %v err %v, want *StatusError 498 %q", absent, err, "Invalid token.")
	}
	if b, absent, err := f.FetchTile(ctx, TileKey{Level: 2}); absent || err != nil || string(b) != bodies["2"] {
		t.Errorf("JSON tile: %q absent %v err %v, want the body", b, absent, err)
	}
}
