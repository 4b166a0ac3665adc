// Package benchdata makes the synthetic layers and replica documents of the
// geodb load benchmark, shared by bench/cmd/geodbload and geodb's own
// benchmarks and tests so both load the same data.
package benchdata

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/offlined/offlined/internal/arcgis"
)

// Writer is what the generators write to: *bufio.Writer and *bytes.Buffer
// both are one. Write errors are left to the writer (bufio reports them at
// Flush).
type Writer interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
}

// Layer is the schema of the benchmark layer of kind "points" or "polygons".
func Layer(kind string) *arcgis.Layer {
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

// WriteFeatures writes n features of Layer(kind) as the body of a JSON
// array (without the brackets), spread deterministically over the demo area.
func WriteFeatures(w Writer, kind string, n int) {
	for i := 0; i < n; i++ {
		if i > 0 {
			w.WriteByte(',')
		}
		fx := float64((i*7919)%100000) / 100000
		fy := float64((i*104729)%100003) / 100003
		x, y := -117.25+0.15*fx, 33.98+0.12*fy
		fmt.Fprintf(w, `{"attributes":{"OBJECTID":%d,"GlobalID":"{%08X-0000-4000-8000-%012X}","name":"feature %d","value":%s,"count":%d,"created":%d},`,
			i+1, i, i, i, strconv.FormatFloat(math.Round(fx*1e6)/1e3, 'f', -1, 64), i%1000, 1700000000000+int64(i)*1000)
		if kind == "polygons" {
			d := 0.0004
			fmt.Fprintf(w, `"geometry":{"rings":[[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]]}}`,
				x, y, x, y+d, x+d/2, y+d*1.3, x+d, y+d, x+d, y, x, y)
		} else {
			fmt.Fprintf(w, `"geometry":{"x":%.7f,"y":%.7f}}`, x, y)
		}
	}
}

// WriteReplica writes a replica JSON document holding n features of
// Layer(kind) in layer 0.
func WriteReplica(w Writer, kind string, n int) {
	w.WriteString(`{"replicaName":"bench","replicaID":"{BBBBBBBB-0000-4000-8000-000000000000}","replicaServerGen":1,"layers":[{"id":0,"features":[`)
	WriteFeatures(w, kind, n)
	w.WriteString("]}]}")
}

// Replica is WriteReplica into memory.
func Replica(kind string, n int) []byte {
	var b bytes.Buffer
	WriteReplica(&b, kind, n)
	return b.Bytes()
}
