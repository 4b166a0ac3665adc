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
	"os"
	"runtime/pprof"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/geodb/benchdata"
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

func gen(kind string, n int, replica, featureset string) error {
	if replica != "" {
		f, err := os.Create(replica)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		benchdata.WriteReplica(w, kind, n)
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
		l := benchdata.Layer(kind)
		head, _ := json.Marshal(map[string]any{"objectIdFieldName": "OBJECTID", "globalIdFieldName": "GlobalID",
			"geometryType": l.GeometryType, "spatialReference": l.SpatialReference, "fields": l.Fields})
		w := bufio.NewWriterSize(f, 1<<20)
		w.Write(head[:len(head)-1])
		w.WriteString(`,"features":[`)
		benchdata.WriteFeatures(w, kind, n)
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
	if _, err := db.CreateLayer(ctx, benchdata.Layer(kind), nil); err != nil {
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
