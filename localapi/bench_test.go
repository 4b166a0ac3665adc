package localapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// benchGrid is the side of the square grid of points: side² features.
func benchGrid(b *testing.B) int {
	if v := os.Getenv("OFFLINED_BENCH_FEATURES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("OFFLINED_BENCH_FEATURES=%q", v)
		}
		return int(math.Sqrt(float64(n)))
	}
	return 1000 // 1,000,000 features
}

// Bench area (lon/lat) of the generated layer.
const benchW, benchS, benchE, benchN = -117.25, 33.98, -117.10, 34.10

// buildBenchLayer writes a GeoPackage with side² points on a jittered grid
// (Web Mercator, a few attributes) through geodb's bulk loader; the file is
// cached in the temp dir between runs.
func buildBenchLayer(b *testing.B, side int) string {
	b.Helper()
	p := filepath.Join(os.TempDir(), fmt.Sprintf("offlined-bench-%d.gpkg", side*side))
	if _, err := os.Stat(p + ".ok"); err == nil {
		return p
	}
	os.Remove(p)
	ctx := context.Background()
	db, err := geodb.Open(ctx, p, geodb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	no, yes := false, true
	l := &arcgis.Layer{ID: 0, Name: "Points", Type: "Feature Layer", GeometryType: arcgis.GeometryPoint, ObjectIDField: "OBJECTID", GlobalIDField: "GlobalID",
		SpatialReference: &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857},
		Fields: []arcgis.Field{
			{Name: "OBJECTID", Type: arcgis.FieldOID, Nullable: &no, Editable: &no},
			{Name: "GlobalID", Type: arcgis.FieldGlobalID, Length: 38, Nullable: &no, Editable: &no},
			{Name: "Name", Type: arcgis.FieldString, Length: 32, Nullable: &yes, Editable: &yes},
			{Name: "Value", Type: arcgis.FieldInteger, Nullable: &yes, Editable: &yes},
		}}
	if _, err := db.CreateLayer(ctx, l, nil); err != nil {
		b.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		fmt.Fprint(pw, `{"features":[`)
		n := 0
		for i := 0; i < side; i++ {
			for j := 0; j < side; j++ {
				lon := benchW + (float64(i)+rng.Float64())/float64(side)*(benchE-benchW)
				lat := benchS + (float64(j)+rng.Float64())/float64(side)*(benchN-benchS)
				x, y := wgsToMerc(lon, lat)
				if n > 0 {
					fmt.Fprint(pw, ",")
				}
				n++
				fmt.Fprintf(pw, `{"attributes":{"GlobalID":"{%08X-0000-4000-8000-%012X}","Name":"P%d","Value":%d},"geometry":{"x":%.3f,"y":%.3f}}`, n, n, n, n%1000, x, y)
			}
		}
		fmt.Fprint(pw, `]}`)
		pw.Close()
	}()
	if _, err := db.LoadFeatures(ctx, 0, pr, geodb.LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(p+".ok", nil, 0o600)
	return p
}

// BenchmarkFeatureQueryBBox measures GET …/features?bbox= for a box holding
// about 1,000 of the layer's features (1M by default; OFFLINED_BENCH_FEATURES
// changes it) through the HTTP API, reporting p50 and p99 latency.
func BenchmarkFeatureQueryBBox(b *testing.B) {
	srv, d, side := benchQueryServer(b)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	// A box with ~1000 of side² features: (side/sqrt(side²/1000)) cells wide.
	frac := math.Sqrt(1000 / float64(side*side))
	w, h := frac*(benchE-benchW), frac*(benchN-benchS)
	rng := rand.New(rand.NewPCG(3, 4))
	client := hs.Client()
	var lat []time.Duration
	total := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x0 := benchW + rng.Float64()*(benchE-benchW-w)
		y0 := benchS + rng.Float64()*(benchN-benchS-h)
		u := fmt.Sprintf("%s/api/v1/maps/bench/layers/0/features?limit=5000&bbox=%f,%f,%f,%f", hs.URL, x0, y0, x0+w, y0+h)
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		total += int(n)
	}
	b.StopTimer()
	if os.Getenv("OFFLINED_BENCH_TRACE") != "" {
		for i, d := range lat {
			if d > 50*time.Millisecond {
				b.Logf("query %d took %v", i, d)
			}
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(total)/float64(b.N), "bytes/query")
	// Check the box size: count one box's features.
	db, _ := d.Maps.FeatureStore(context.Background(), "bench", "Points")
	x0, y0 := wgsToMerc(benchW, benchS)
	x1, y1 := wgsToMerc(benchW+w, benchS+h)
	n, _ := db.Count(context.Background(), geodb.Query{LayerID: 0, Envelope: &arcgis.Envelope{XMin: x0, YMin: y0, XMax: x1, YMax: y1}})
	b.ReportMetric(float64(n), "features/box")
}

// benchQueryServer serves map "bench" whose layer 0 is the generated
// side×side point grid; it returns the server, its daemon and side. The package is put
// together by hand around the layer: no offline job can take a
// million-feature layer from the emulator in a benchmark's setup.
func benchQueryServer(b *testing.B) (*Server, *TestDaemon, int) {
	side := benchGrid(b)
	gpkg := buildBenchLayer(b, side)
	root := b.TempDir()
	dir := filepath.Join(root, "packages", "bench", "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink(gpkg, filepath.Join(dir, "Points.gpkg")); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "packages", "bench", "package.json"), []byte(`{"id":"bench","title":"bench"}`), 0o600); err != nil {
		b.Fatal(err)
	}
	d := NewTestDaemon(b, TestDaemonOptions{Root: root, Hub: NewHub(0)})
	WatchTestDaemon(b, d) // as the daemon: map infos cached between queries
	srv, err := New(Options{Token: testToken, Maps: d.Maps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return srv, d, side
}
