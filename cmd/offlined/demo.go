package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/offlined/offlined/internal/demo"
)

// runDemo runs the end-to-end demonstration (see internal/demo).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "output directory for the offline map package (empty or absent; default: a new temporary directory)")
	minScale := fs.Float64("min-scale", 150000, "most zoomed-out scale of the basemap tiles (1:N)")
	maxScale := fs.Float64("max-scale", 10000, "most zoomed-in scale of the basemap tiles (1:N)")
	noSync := fs.Bool("no-sync", false, "skip the local edit and sync step")
	noProgress := fs.Bool("no-progress", false, "do not draw the progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if *minScale < 0 || *maxScale < 0 {
		return fmt.Errorf("--min-scale and --max-scale must not be negative")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "offlined-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	_, err := demo.Run(ctx, demo.Options{Dir: *dir, MinScale: *minScale, MaxScale: *maxScale, NoSync: *noSync,
		Progress: !*noProgress, Out: stdout})
	return err
}
