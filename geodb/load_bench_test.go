package geodb

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// benchLayer is the schema of bench/cmd/geodbload's layers.
func benchLayer(kind string) *arcgis.Layer {
	no := false
	gt := arcgis.GeometryPoint
	if kind == "polygons" {
		gt = arcgis.GeometryPolygon
	}
	return &arcgis.Layer{ID: 0, Name: "bench_" + kind, Type: "Feature Layer", GeometryType: gt,
		ObjectIDField: "OBJECTID", GlobalIDField: "GlobalID",
		SpatialReference: &arcgis.SpatialReference{WKID: 4326, LatestWKID: 4326},
		Fields: []arcgis.Field{
			{Name: "OBJECTID", Type: arcgis.FieldOID, Nullable: &no},
			{Name: "GlobalID", Type: arcgis.FieldGlobalID, Length: 38, Nullable: &no},
			{Name: "name", Type: arcgis.FieldString, Length: 50},
			{Name: "value", Type: arcgis.FieldDouble},
			{Name: "count", Type: arcgis.FieldInteger},
			{Name: "created", Type: arcgis.FieldDate},
		}}
}

// benchReplica is a replica JSON document of n features like
// bench/cmd/geodbload's.
func benchReplica(kind string, n int) []byte {
	var w bytes.Buffer
	w.WriteString(`{"replicaName":"bench","replicaID":"{BBBBBBBB-0000-4000-8000-000000000000}","replicaServerGen":1,"layers":[{"id":0,"features":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			w.WriteByte(',')
		}
		fx := float64((i*7919)%100000) / 100000
		fy := float64((i*104729)%100003) / 100003
		x, y := -117.25+0.15*fx, 33.98+0.12*fy
		fmt.Fprintf(&w, `{"attributes":{"OBJECTID":%d,"GlobalID":"{%08X-0000-4000-8000-%012X}","name":"feature %d","value":%s,"count":%d,"created":%d},`,
			i+1, i, i, i, strconv.FormatFloat(math.Round(fx*1e6)/1e3, 'f', -1, 64), i%1000, 1700000000000+int64(i)*1000)
		if kind == "polygons" {
			d := 0.0004
			fmt.Fprintf(&w, `"geometry":{"rings":[[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]]}}`,
				x, y, x, y+d, x+d/2, y+d*1.3, x+d, y+d, x+d, y, x, y)
		} else {
			fmt.Fprintf(&w, `"geometry":{"x":%.7f,"y":%.7f}}`, x, y)
		}
	}
	w.WriteString("]}]}")
	return w.Bytes()
}

// BenchmarkLoadReplica loads 50k points or polygons into a new GeoPackage
// per iteration (profile with -cpuprofile / -memprofile).
func BenchmarkLoadReplica(b *testing.B) {
	for _, kind := range []string{"points", "polygons"} {
		b.Run(kind, func(b *testing.B) {
			const n = 50000
			doc := benchReplica(kind, n)
			ctx := b.Context()
			b.SetBytes(int64(len(doc)))
			i := 0
			for b.Loop() {
				i++
				db, err := Open(ctx, fmt.Sprintf("%s/%d.gpkg", b.TempDir(), i), Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := db.CreateLayer(ctx, benchLayer(kind), nil); err != nil {
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
