package tiles

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far: on a shared machine
// CPU per op is steadier than wall time per op.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start as cpu-ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// benchTiles returns n incompressible tiles of about 13 KB (the size of the
// tile download benchmark's PNGs), sharing 64 distinct payloads.
func benchTiles(n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	payloads := make([][]byte, 64)
	for i := range payloads {
		b := make([]byte, 10<<10+rng.IntN(6<<10))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		payloads[i] = b
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = payloads[i%len(payloads)]
	}
	return out
}

// BenchmarkStorePut measures the download write path: batches of 256 tiles
// of ~13 KB committed into a fresh MBTiles store being built
// (OpenStoreForBuild), then Finalize and Close. One op is one tile.
// page4k is a store planned small (4 KiB pages), page64k one planned for a
// big download (Store.Plan: 64 KiB pages).
func BenchmarkStorePut(b *testing.B) {
	for _, bc := range []struct {
		name    string
		planned int64
		cols    int
		batch   int
	}{{"page4k", 1, 1 << 15, 256}, {"page64k", 1 << 20, 1 << 15, 256}, {"wide64k", 1 << 20, 600, 256},
		// A download's batch: handed to the committer at a third of
		// defaultBatchBytes (~315 tiles of ~13 KB).
		{"dlbatch64k", 1 << 20, 1 << 15, int(defaultBatchBytes / handShare / (13 << 10))}} {
		b.Run(bc.name, func(b *testing.B) { benchStorePut(b, bc.planned, bc.cols, bc.batch) })
	}
}

func benchStorePut(b *testing.B, planned int64, cols, batch int) {
	data := benchTiles(batch)
	st := openModeStore(b, "build", filepath.Join(b.TempDir(), "w.mbtiles"), WebMercatorScheme(256, 0, 30))
	ctx := context.Background()
	if err := st.Plan(ctx, planned); err != nil {
		b.Fatal(err)
	}
	recs := make([]TileRecord, 0, batch)
	var bytes int64
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		// Row-major over level 15, as a download walks a cover.
		recs = append(recs, TileRecord{Key: TileKey{Level: 15, Row: i / cols, Col: i % cols}, Data: data[i%batch]})
		bytes += int64(len(data[i%batch]))
		if len(recs) == batch || i == b.N-1 {
			if err := st.Put(ctx, recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := st.Finalize(ctx, "bench", nil); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	b.SetBytes(bytes / int64(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tiles/s")
}

// BenchmarkStoreTileRead reads random tiles of a 5,461-tile store (levels
// 0-6, ~13 KB each) from parallel goroutines, as the local API serves them:
// the read side of the store's page layout, kept in view with the write path.
// The store is built (page4k: planned small, page64k: planned big) and then
// served (OpenStore).
func BenchmarkStoreTileRead(b *testing.B) {
	for _, bc := range []struct {
		name    string
		planned int64
	}{{"page4k", 1}, {"page64k", 1 << 20}} {
		b.Run(bc.name, func(b *testing.B) { benchStoreTileRead(b, bc.planned) })
	}
}

func benchStoreTileRead(b *testing.B, planned int64) {
	data := benchTiles(256)
	path := filepath.Join(b.TempDir(), "r.mbtiles")
	st := openModeStore(b, "build", path, WebMercatorScheme(256, 0, 30))
	ctx := context.Background()
	if err := st.Plan(ctx, planned); err != nil {
		b.Fatal(err)
	}
	var keys []TileKey
	for z := 0; z <= 6; z++ {
		var recs []TileRecord
		for r := 0; r < 1<<z; r++ {
			for c := 0; c < 1<<z; c++ {
				k := TileKey{Level: z, Row: r, Col: c}
				keys = append(keys, k)
				recs = append(recs, TileRecord{Key: k, Data: data[len(keys)%len(data)]})
			}
		}
		if err := st.Put(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	st = openModeStore(b, "serve", path, WebMercatorScheme(256, 0, 30))
	defer st.Close()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	defer reportCPU(b, cpu0)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			k := keys[rng.IntN(len(keys))]
			if _, err := st.Tile(ctx, k.Level, k.Col, k.Row); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
