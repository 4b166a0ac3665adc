package tiles

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// cannedTileServer serves every request on loopback with one fixed 200
// answer of body (Content-Length set), written in one syscall: a server that
// costs next to nothing, so a benchmark's CPU per op is the client's.
func cannedTileServer(b *testing.B, body []byte) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	resp := append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", len(body))), body...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					// Request line and headers up to the blank line.
					for {
						line, err := r.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// benchFetcher is an HTTPFetcher for conc connections to a canned server
// answering ~13 KB tiles.
func benchFetcher(b *testing.B, conc int) *HTTPFetcher {
	b.Helper()
	u := cannedTileServer(b, benchTiles(1)[0])
	tm, err := ParseTemplate(u+"/tile/{z}/{y}/{x}.png", nil)
	if err != nil {
		b.Fatal(err)
	}
	f := NewHTTPFetcher(tm, nil, conc)
	b.Cleanup(f.Client.CloseIdleConnections)
	return f
}

// BenchmarkHTTPFetcherTile measures the HTTP client's cost per tile: 8
// goroutines fetch ~13 KB tiles over keep-alive loopback connections from a
// server that answers with one canned write. cpu-ns/op is the process's
// CPU per tile (the canned server's share is small: one read and one write).
func BenchmarkHTTPFetcherTile(b *testing.B) {
	f := benchFetcher(b, 8)
	ctx := context.Background()
	var next sync.Mutex
	i := 0
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			k := TileKey{Level: 12, Row: i / 4096, Col: i % 4096}
			i++
			next.Unlock()
			data, absent, err := f.FetchTile(ctx, k)
			if err != nil || absent || len(data) == 0 {
				b.Errorf("tile %v: %d bytes, absent %v, err %v", k, len(data), absent, err)
				return
			}
			f.RecycleTile(data)
		}
	})
	b.StopTimer()
	reportCPU(b, start)
}

// BenchmarkDownloadTiles measures the whole download per tile against the
// canned server: HTTP client, limiter, pipeline and the store's Put (see
// BenchmarkStorePut for the store alone) into a store planned for the
// download, as an offline job runs it. One op is one tile. daemon fetches
// through the ArcGIS client's HTTP client with the download's defaults (an
// offline job's web tile and WMTS layers); batch256 is that with the batch
// bounds before byte-bounded batches (256 tiles); tiles uses NewTransport.
func BenchmarkDownloadTiles(b *testing.B) {
	for _, bc := range []struct {
		name   string
		client func(b *testing.B) *HTTPFetcher
		opt    DownloadOptions
	}{
		{"daemon", daemonFetcher, DownloadOptions{}},
		{"batch256", daemonFetcher, DownloadOptions{BatchSize: 256, BatchBytes: 1 << 40}},
		{"tiles", func(b *testing.B) *HTTPFetcher { return benchFetcher(b, 8) }, DownloadOptions{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opt := bc.opt
			opt.Concurrency = 8
			benchDownload(b, bc.client(b), opt)
		})
	}
}

// daemonFetcher is the fetcher an offline job's web tile layer uses (the
// ArcGIS client's HTTP client, HideQuery, Raster) for the canned server.
func daemonFetcher(b *testing.B) *HTTPFetcher {
	b.Helper()
	u := cannedTileServer(b, benchTiles(1)[0])
	tm, err := ParseTemplate(u+"/tile/{z}/{y}/{x}.png", nil)
	if err != nil {
		b.Fatal(err)
	}
	c, err := arcgis.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.HTTPClient().CloseIdleConnections)
	return &HTTPFetcher{Client: c.HTTPClient(), Template: tm, HideQuery: true, Raster: true}
}

func benchDownload(b *testing.B, f *HTTPFetcher, opt DownloadOptions) {
	ctx := context.Background()
	st, err := OpenStoreForBuild(ctx, b.TempDir()+"/bench.mbtiles")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	covers := benchPyramid(int64(b.N))
	if err := st.Plan(ctx, coverCount(covers)); err != nil {
		b.Fatal(err)
	}
	if err := st.Configure(ctx, WebMercatorScheme(256, 0, 30), "png"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	p, err := Download(ctx, st, f, covers, opt)
	b.StopTimer()
	reportCPU(b, start)
	if err != nil || p.Fetched != int64(b.N) {
		b.Fatalf("fetched %d of %d: %v", p.Fetched, b.N, err)
	}
}

// benchPyramid returns the first n tiles of levels 0, 1, 2, … row by row.
func benchPyramid(n int64) []LevelCover {
	var out []LevelCover
	for z := 0; n > 0 && z <= 30; z++ {
		side := int64(1) << z
		c := LevelCover{Level: z}
		for row := int64(0); row < side && n > 0; row++ {
			w := min(side, n)
			c.Spans = append(c.Spans, Span{Row: int(row), Col0: 0, Col1: int(w - 1)})
			n -= w
		}
		out = append(out, c)
	}
	return out
}
