// Command geodbload generates replica JSON for the geodb load benchmark and
// loads it into a GeoPackage with offlined's geodb (bench/geodb-load.sh runs
// it side by side with ogr2ogr).
//
//	geodbload gen  -kind points|polygons -n N -replica r.json -featureset fs.json
//	geodbload load -kind points|polygons -in r.json -out out.gpkg
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		slog.Error("geodbload", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: geodbload gen|load [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	kind := fs.String("kind", "points", "points or polygons")
	n := fs.Int("n", 200000, "features to generate")
	replica := fs.String("replica", "", "replica JSON to write (gen)")
	featureset := fs.String("featureset", "", "FeatureSet JSON (the same features, for ogr2ogr) to write (gen)")
	in := fs.String("in", "", "replica JSON to load (load)")
	out := fs.String("out", "", "GeoPackage to create (load)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile (load)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch args[0] {
	case "gen":
		return gen(*kind, *n, *replica, *featureset)
	case "load":
		return load(ctx, *kind, *in, *out, stdout)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func layer(kind string) *arcgis.Layer {
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

// writeFeatures writes n features as a JSON array body (without brackets).
func writeFeatures(w *bufio.Writer, kind string, n int) {
	// Deterministic spread over the demo area.
	for i := 0; i < n; i++ {
		if i > 0 {
			w.WriteByte(',')
		}
		fx := float64((i*7919)%100000) / 100000
		fy := float64((i*104729)%100003) / 100003
		x := -117.25 + 0.15*fx
		y := 33.98 + 0.12*fy
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

func gen(kind string, n int, replica, featureset string) error {
	if replica != "" {
		f, err := os.Create(replica)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		fmt.Fprintf(w, `{"replicaName":"bench","replicaID":"{BBBBBBBB-0000-4000-8000-000000000000}","replicaServerGen":1,"layers":[{"id":0,"features":[`)
		writeFeatures(w, kind, n)
		w.WriteString("]}]}")
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if featureset != "" {
		f, err := os.Create(featureset)
		if err != nil {
			return err
		}
		l := layer(kind)
		head, _ := json.Marshal(map[string]any{"objectIdFieldName": "OBJECTID", "globalIdFieldName": "GlobalID",
			"geometryType": l.GeometryType, "spatialReference": l.SpatialReference, "fields": l.Fields})
		w := bufio.NewWriterSize(f, 1<<20)
		w.Write(head[:len(head)-1])
		w.WriteString(`,"features":[`)
		writeFeatures(w, kind, n)
		w.WriteString("]}")
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Close()
	}
	return nil
}

func load(ctx context.Context, kind, in, out string, stdout io.Writer) error {
	start := time.Now()
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	os.Remove(out)
	db, err := geodb.Open(ctx, out, geodb.Options{})
	if err != nil {
		return err
	}
	if _, err := db.CreateLayer(ctx, layer(kind), nil); err != nil {
		db.Close()
		return err
	}
	rep, st, err := db.LoadReplica(ctx, bufio.NewReaderSize(f, 1<<20), geodb.LoadOptions{})
	if err != nil {
		db.Close()
		return err
	}
	if err := db.SaveReplica(ctx, rep); err != nil {
		db.Close()
		return err
	}
	if err := db.Checkpoint(ctx, true); err != nil {
		db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "geodb loaded %d features in %s (%.0f features/s)\n", st.Features, el.Round(time.Millisecond), float64(st.Features)/el.Seconds())
	return nil
}
