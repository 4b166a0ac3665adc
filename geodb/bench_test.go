package geodb

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// BenchmarkBBoxQuery: 1M points on a 1000×1000 grid; each query is a
// 32×32 box (≈1024 hits) at a random place, returning full features
// (attributes + geometry, exact test). Reports p50/p99 latency.
func BenchmarkBBoxQuery(b *testing.B) {
	ctx := b.Context()
	db, err := Open(ctx, b.TempDir()+"/bench.gpkg", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ls, raws := readLayers(b)
	l := ls[1] // reuse a simple schema with a point geometry
	l.GeometryType, l.HasZ, l.HasM, l.Name = arcgis.GeometryPoint, false, false, "grid"
	if _, err := db.CreateLayer(ctx, &l, nil); err != nil {
		b.Fatal(err)
	}
	_ = raws
	const side = 1000
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		w.WriteString(`{"layers":[{"id":1,"features":[`)
		for i := 0; i < side*side; i++ {
			if i > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, `{"attributes":{"GlobalID":"{%08X-0000-4000-8000-000000000000}","diameter":%d,"material":"m%d"},"geometry":{"x":%d,"y":%d}}`, i, i%97, i%13, i%side, i/side)
		}
		w.WriteString(`]}]}`)
		w.Flush()
		pw.Close()
	}()
	start := time.Now()
	if _, st, err := db.LoadReplica(ctx, pr, LoadOptions{}); err != nil || st.Features != side*side {
		b.Fatal(err, st)
	}
	b.Logf("loaded %d points in %s", side*side, time.Since(start).Round(time.Millisecond))
	rng := rand.New(rand.NewPCG(1, 2))
	var lat []time.Duration
	hits := 0
	b.ResetTimer()
	for b.Loop() {
		x, y := float64(rng.IntN(side-32)), float64(rng.IntN(side-32))
		q := Query{LayerID: 1, Envelope: &arcgis.Envelope{XMin: x, YMin: y, XMax: x + 31.5, YMax: y + 31.5}}
		t0 := time.Now()
		n := 0
		if err := db.Each(ctx, q, func(*Row) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		hits += n
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
	b.ReportMetric(float64(hits)/float64(len(lat)), "hits/query")
}
