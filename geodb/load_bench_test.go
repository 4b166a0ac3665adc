package geodb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/offlined/offlined/geodb/benchdata"
)

// BenchmarkLoadReplica loads 50k points or polygons into a new GeoPackage
// per iteration (profile with -cpuprofile / -memprofile).
func BenchmarkLoadReplica(b *testing.B) {
	for _, kind := range []string{"points", "polygons"} {
		b.Run(kind, func(b *testing.B) {
			const n = 50000
			doc := benchdata.Replica(kind, n)
			ctx := b.Context()
			b.SetBytes(int64(len(doc)))
			i := 0
			for b.Loop() {
				i++
				db, err := Open(ctx, fmt.Sprintf("%s/%d.gpkg", b.TempDir(), i), Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := db.CreateLayer(ctx, benchdata.Layer(kind), nil); err != nil {
					b.Fatal(err)
				}
				if _, st, err := db.LoadReplica(ctx, bytes.NewReader(doc), LoadOptions{}); err != nil || st.Features != n {
					b.Fatal(err, st.Features)
				}
				db.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "features/s")
		})
	}
}

// BenchmarkLoadDecode decodes the benchmark's features one by one as the
// bulk loader does (decodeFeature on each feature's bytes), without SQLite:
// the JSON side of BenchmarkLoadReplica.
func BenchmarkLoadDecode(b *testing.B) {
	for _, kind := range []string{"points", "polygons"} {
		b.Run(kind, func(b *testing.B) {
			var body bytes.Buffer
			body.WriteByte('[')
			benchdata.WriteFeatures(&body, kind, 10000)
			body.WriteByte(']')
			var raws []json.RawMessage
			if err := json.Unmarshal(body.Bytes(), &raws); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(body.Len()))
			fp := &featureParser{keys: map[string]string{}}
			for b.Loop() {
				for _, raw := range raws {
					if f, gerr, err := decodeFeature(fp, raw, 6); err != nil || gerr != nil || f.Geometry == nil {
						b.Fatal(err, gerr)
					}
				}
			}
		})
	}
}
