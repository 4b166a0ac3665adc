// Command offlineserve runs the ArcGIS REST emulator on loopback for the
// offline job benchmark (bench/offline-e2e.sh): the demo web map with its
// Field_Survey layers scaled to -features features in total, plus the demo
// tile services. It prints the root URL on the first line of stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/offlined/offlined/internal/httpserve"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "offlineserve:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	features := flag.Int("features", 200000, "features in total across the Field_Survey layers and table")
	work := flag.String("work", "", "directory for exported packages (default: a temporary directory)")
	vector := flag.Bool("vector", true, "serve the Demo_Vector VectorTileServer (its tiles are built from every feature, slow at large -features)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fs := emulator.DemoFeatureService()
	n := *features
	// Split like a field survey: half inspections, a quarter pipes, parcels
	// and notes share the rest.
	fs.Layers = []emulator.LayerOptions{
		{ID: 0, Name: "Inspections", GeometryType: arcgis.GeometryPoint, Count: n / 2, HasAttachments: true},
		{ID: 1, Name: "Pipes", GeometryType: arcgis.GeometryPolyline, Count: n / 4},
		{ID: 2, Name: "Parcels", GeometryType: arcgis.GeometryPolygon, Count: n * 3 / 20},
		{ID: 3, Name: "InspectionNotes", Count: n - n/2 - n/4 - n*3/20},
	}
	services := []emulator.FeatureServiceOptions{fs, emulator.ReferenceDataService()}
	tiles := emulator.DemoTileOptions()
	if *work == "" {
		d, err := os.MkdirTemp("", "offlineserve-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*work = d
	}
	tiles.WorkDir = *work
	tiles.CacheTiles = 1024
	if !*vector {
		tiles.VectorServices = nil
	}
	em := emulator.New(emulator.Options{FeatureServices: services, Tiles: tiles})
	defer em.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: em, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())
	return httpserve.Serve(ctx, srv, ln)
}
