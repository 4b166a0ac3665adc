// Command tilebench is offlined's side of the tile download benchmark. It
// downloads the first -n tiles of the world pyramid (level by level,
// row-major) from a tile server into MBTiles with the tiles package, or
// writes that URL list for a peer tool (-urls), or runs a command and reports
// its peak RSS (rusage -- cmd…).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tilebench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "rusage" {
		return rusage(args[1:])
	}
	fs := flag.NewFlagSet("tilebench", flag.ContinueOnError)
	base := fs.String("url", "", "tile server root (http://127.0.0.1:PORT)")
	n := fs.Int64("n", 20000, "number of tiles")
	conc := fs.Int("c", 8, "concurrency")
	out := fs.String("out", "", "MBTiles file to write")
	urls := fs.String("urls", "", "write the aria2c input file (URL + out=) here instead of downloading")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the download here")
	traceOut := fs.String("trace", "", "write an execution trace of the download here (go tool trace: where workers wait)")
	client := fs.String("client", "daemon", "HTTP client: daemon (the ArcGIS client's transport and fetcher settings an offline job uses) or tiles (tiles.NewHTTPFetcher)")
	batch := fs.Int("batch", 0, "most tiles waiting for a commit (0: the download's default, as offline jobs use)")
	batchBytes := fs.Int64("batchbytes", 0, "most tile bytes waiting for a commit (0: the download's default)")
	nostore := fs.Bool("nostore", false, "fetch every tile with the same fetcher and concurrency but store nothing (the HTTP client's own ceiling)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmpl, err := tiles.ParseTemplate(*base+"/tile/{z}/{y}/{x}.png", nil)
	if err != nil {
		return err
	}
	covers := pyramid(*n)
	if *urls != "" {
		return writeURLs(*urls, tmpl, covers)
	}
	var f tiles.TileFetcher
	switch *client {
	case "daemon":
		// What an offline job's web tile or WMTS layer runs (offline
		// source_webtiles.go, source_wmts.go): the ArcGIS client's HTTP client.
		c, err := arcgis.New()
		if err != nil {
			return err
		}
		f = &tiles.HTTPFetcher{Client: c.HTTPClient(), Template: tmpl, HideQuery: true, Raster: true}
	case "tiles":
		f = tiles.NewHTTPFetcher(tmpl, nil, *conc)
	default:
		return fmt.Errorf("-client %q: want daemon or tiles", *client)
	}
	ctx := context.Background()
	if *nostore {
		return fetchOnly(ctx, f, covers, *conc)
	}
	st, err := tiles.OpenStoreForBuild(ctx, *out)
	if err != nil {
		return err
	}
	if err := st.Plan(ctx, *n); err != nil {
		return err
	}
	if err := st.Configure(ctx, tiles.WebMercatorScheme(256, 0, 30), "png"); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *traceOut != "" {
		f, err := os.Create(*traceOut)
		if err != nil {
			return err
		}
		if err := trace.Start(f); err != nil {
			return err
		}
		defer f.Close()
		defer trace.Stop()
	}
	start := time.Now()
	p, err := tiles.Download(ctx, st, f, covers, tiles.DownloadOptions{Concurrency: *conc, BatchSize: *batch, BatchBytes: *batchBytes})
	if err != nil {
		return err
	}
	if err := st.Finalize(ctx, "bench", &[4]float64{-180, -85.0511, 180, 85.0511}); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	report(p.Fetched, p.Bytes, start)
	return nil
}

// report prints the run's figures. cpu_s is the process's CPU (user+system)
// for the whole run: divided by tiles it is the client's CPU per tile,
// which bounds the ratio to the server's capacity on a machine the two
// share.
func report(fetched, bytes int64, start time.Time) {
	el := time.Since(start).Seconds()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	fmt.Printf("tiles=%d bytes=%d seconds=%.3f tps=%.1f maxrss_kb=%d cpu_s=%.3f cpu_us_per_tile=%.1f\n",
		fetched, bytes, el, float64(fetched)/el, ru.Maxrss, cpu, cpu*1e6/float64(max(fetched, 1)))
}

// fetchOnly fetches the covers' tiles with conc goroutines and drops them:
// what the HTTP client alone costs, the ceiling of a download through it.
func fetchOnly(ctx context.Context, f tiles.TileFetcher, covers []tiles.LevelCover, conc int) error {
	keys := make(chan tiles.TileKey)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		fetched  atomic.Int64
		bytes    atomic.Int64
		firstErr error
		errOnce  sync.Once
	)
	recycle, _ := f.(interface{ RecycleTile([]byte) })
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				b, _, err := f.FetchTile(ctx, k)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				fetched.Add(1)
				bytes.Add(int64(len(b)))
				if recycle != nil {
					recycle.RecycleTile(b)
				}
			}
		}()
	}
feed:
	for _, c := range covers {
		for _, sp := range c.Spans {
			for col := sp.Col0; col <= sp.Col1; col++ {
				select {
				case keys <- tiles.TileKey{Level: c.Level, Row: sp.Row, Col: col}:
				case <-ctx.Done():
					break feed
				}
			}
		}
	}
	close(keys)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	report(fetched.Load(), bytes.Load(), start)
	return nil
}

// pyramid returns the first n tiles of levels 0,1,2,… in row-major order.
func pyramid(n int64) []tiles.LevelCover {
	var out []tiles.LevelCover
	for z := 0; n > 0 && z <= 30; z++ {
		side := int64(1) << z
		c := tiles.LevelCover{Level: z}
		for row := int64(0); row < side && n > 0; row++ {
			w := min(side, n)
			c.Spans = append(c.Spans, tiles.Span{Row: int(row), Col0: 0, Col1: int(w - 1)})
			n -= w
		}
		out = append(out, c)
	}
	return out
}

func writeURLs(path string, tmpl *tiles.Template, covers []tiles.LevelCover) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, c := range covers {
		c.Each(func(row, col int) bool {
			fmt.Fprintf(w, "%s\n  out=%d/%d/%d.png\n", tmpl.URL(tiles.TileKey{Level: c.Level, Row: row, Col: col}), c.Level, row, col)
			return true
		})
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// rusage runs a command and prints its wall time and peak RSS.
func rusage(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return fmt.Errorf("rusage: no command")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	el := time.Since(start).Seconds()
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Printf("seconds=%.3f maxrss_kb=%d\n", el, ru.Maxrss)
	return nil
}
