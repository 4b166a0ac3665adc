package localapi

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// getGolden serves path from a daemon over the golden package built in
// root.
func getGolden(t *testing.T, root, path string) *httptest.ResponseRecorder {
	t.Helper()
	d := NewTestDaemon(t, TestDaemonOptions{Root: root, Hub: NewHub(0)})
	srv, err := New(Options{Token: testToken, Maps: d.Maps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// TestFeatureListCorruptBlob: a corrupt blob on the GeoJSON list route
// answers 422 invalidGeometry while nothing has left the buffer; once
// bytes were sent (a first feature over the 32 KiB buffer) the document
// stays 200 and truncated.
func TestFeatureListCorruptBlob(t *testing.T) {
	root := t.TempDir()
	gpkg := buildGoldenPackage(t, root)
	const path = "/api/v1/maps/golden/layers/5/features"
	rec := getGolden(t, root, path)
	var doc struct {
		Error struct{ Code, Field string }
	}
	if rec.Code != 422 || json.Unmarshal(rec.Body.Bytes(), &doc) != nil || doc.Error.Code != "invalidGeometry" || doc.Error.Field != "geometry" ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("nothing sent: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	}

	root2 := t.TempDir()
	gpkg = buildGoldenPackage(t, root2)
	sdb, err := sql.Open("sqlite", gpkg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`UPDATE "Broken" SET "Name" = ? WHERE "OBJECTID" = 1`, strings.Repeat("x", 40<<10)); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	rec = getGolden(t, root2, path)
	body := rec.Body.Bytes()
	if rec.Code != 200 || !bytes.HasPrefix(body, []byte(`{"type":"FeatureCollection","features":[`)) || json.Valid(body) || len(body) < 40<<10 {
		t.Fatalf("bytes sent: %d, %d bytes, valid %v", rec.Code, len(body), json.Valid(body))
	}
}

// TestJSONStreamSent: sent is false while the buffer holds everything and
// true once a byte was written through.
func TestJSONStreamSent(t *testing.T) {
	var out bytes.Buffer
	s := newJSONStream(&out)
	s.raw(`{"a":1`)
	if s.sent() || out.Len() != 0 {
		t.Fatalf("buffered: sent %v, %d bytes out", s.sent(), out.Len())
	}
	s.write(bytes.Repeat([]byte(" "), 40<<10))
	if !s.sent() || out.Len() == 0 {
		t.Fatalf("over the buffer: sent %v, %d bytes out", s.sent(), out.Len())
	}
}
