package tiles

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The demo area, levels 8..14: a few hundred tiles.
var demoAOI = EnvelopeAOI(4326, -117.25, 33.98, -117.10, 34.10)

func absentEvery7(z, row, col int) bool { return (row*31+col)%7 == 0 && z >= 12 }

func reference(t *testing.T, covers []LevelCover) (string, int, int) {
	t.Helper()
	f := newFakeTiles(t)
	f.setAbsent(absentEvery7)
	s := WebMercatorScheme(256, 0, 19)
	st := openTestStore(t, t.TempDir(), "ref.mbtiles", s)
	p, err := Download(context.Background(), st, f.fetcher(t, 8), covers, DownloadOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if p.Fetched+p.Absent != p.Planned {
		t.Fatalf("progress %+v: fetched+absent != planned", p.LevelProgress)
	}
	st.Close()
	return dumpStore(t, st.Path())
}

func TestDownloadStoresEveryTileOnce(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 16)
	f := newFakeTiles(t)
	f.setAbsent(absentEvery7)
	// Transient failures: every 13th request 500, every 17th 429.
	f.setHook(func(n int64, z, row, col int) int {
		switch {
		case n > 100:
			return 0
		case n%13 == 0:
			return 500
		case n%17 == 0:
			return 429
		}
		return 0
	})
	st := openTestStore(t, t.TempDir(), "a.mbtiles", s)
	var calls int
	var last Progress
	p, err := Download(context.Background(), st, f.fetcher(t, 6), covers, DownloadOptions{
		Concurrency: 6, RetryBackoff: time.Millisecond,
		Progress: func(p Progress) { calls++; last = p },
	})
	if err != nil {
		t.Fatal(err)
	}
	var planned int64
	for _, c := range covers {
		planned += c.Count()
	}
	if p.Planned != planned || p.Fetched+p.Absent != planned || calls == 0 || last.Fetched != p.Fetched {
		t.Fatalf("progress %+v (planned %d, %d callbacks)", p.LevelProgress, planned, calls)
	}
	if p.Absent == 0 || p.Levels[14].Bytes == 0 {
		t.Fatalf("expected absent tiles and bytes per level: %+v", p.Levels)
	}
	if m, _ := f.maxServed(); m != 1 {
		t.Fatalf("a tile was served %d times", m)
	}
	// Absent tiles are recorded and not asked for again; complete levels are skipped.
	before := f.requests.Load()
	p2, err := Download(context.Background(), st, f.fetcher(t, 6), covers, DownloadOptions{Concurrency: 6})
	if err != nil {
		t.Fatal(err)
	}
	if f.requests.Load() != before || p2.Skipped != planned {
		t.Fatalf("second run made %d requests, skipped %d of %d", f.requests.Load()-before, p2.Skipped, planned)
	}
	// Reader: TMS flip handled.
	z, row, col := covers[len(covers)-1].Level, covers[len(covers)-1].Spans[0].Row, covers[len(covers)-1].Spans[0].Col0
	if absentEvery7(z, row, col) {
		col++
	}
	b, err := st.Tile(context.Background(), z, col, row)
	if err != nil || string(b) != string(pngTile(z, row, col)) {
		t.Fatalf("Tile(%d,%d,%d): %v", z, col, row, err)
	}
	if _, err := st.Tile(context.Background(), z, col, 0); !errors.Is(err, ErrTileNotFound) {
		t.Fatalf("missing tile: %v", err)
	}
}

func TestDownloadResumeAfterCancel(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 16)
	want, wantTiles, wantAbsent := reference(t, covers)

	f := newFakeTiles(t)
	f.setAbsent(absentEvery7)
	dir := t.TempDir()
	st := openTestStore(t, dir, "r.mbtiles", s)
	ctx, cancel := context.WithCancel(context.Background())
	f.setOnTile(func(n int64) {
		if n >= 150 {
			cancel()
		}
	})
	p, err := Download(ctx, st, f.fetcher(t, 8), covers, DownloadOptions{Concurrency: 8})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancel, got %v", err)
	}
	if p.Fetched == 0 || p.Fetched+p.Absent >= p.Planned {
		t.Fatalf("cancelled run progress %+v", p.LevelProgress)
	}
	st.Close()
	f.setOnTile(nil)
	st = openTestStore(t, dir, "r.mbtiles", s)
	p2, err := Download(context.Background(), st, f.fetcher(t, 8), covers, DownloadOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if m, _ := f.maxServed(); m != 1 {
		t.Fatalf("after cancel and resume a tile was served %d times", m)
	}
	if p2.Skipped == 0 {
		t.Fatal("resume skipped nothing")
	}
	got, gt, ga := dumpStore(t, st.Path())
	if got != want {
		t.Fatalf("resumed store differs: %d tiles %d absent, want %d/%d", gt, ga, wantTiles, wantAbsent)
	}
}

const childEnv = "OFFLINED_TILES_KILL_CHILD"

// TestDownloadChild is the subprocess of TestDownloadResumeAfterKill.
func TestDownloadChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("subprocess only")
	}
	var url, path, mode string
	if _, err := fmt.Sscanf(spec, "%s %s %s", &url, &path, &mode); err != nil {
		t.Fatal(err)
	}
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 16)
	st := openModeStore(t, mode, path, s)
	tm, _ := ArcGISTileTemplate(url)
	_, err := Download(context.Background(), st, NewHTTPFetcher(tm, nil, 4), covers, DownloadOptions{Concurrency: 4, BatchSize: 16, BatchInterval: 20 * time.Millisecond})
	t.Logf("child finished: %v", err)
}

// openModeStore opens path with OpenStore ("serve": WAL) or
// OpenStoreForBuild ("build": rollback journal) and configures scheme s.
func openModeStore(t testing.TB, mode, path string, s *Scheme) *Store {
	t.Helper()
	open := OpenStore
	if mode == "build" {
		open = OpenStoreForBuild
	}
	st, err := open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Configure(context.Background(), s, "png"); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDownloadResumeAfterKill kills a downloading child process with
// SIGKILL and resumes its store, for both journal modes: WAL (OpenStore) and
// the rollback journal of a store being built (OpenStoreForBuild).
func TestDownloadResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a subprocess")
	}
	for _, mode := range []string{"serve", "build"} {
		t.Run(mode, func(t *testing.T) { downloadResumeAfterKill(t, mode) })
	}
}

func downloadResumeAfterKill(t *testing.T, mode string) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 16)
	want, _, _ := reference(t, covers)

	f := newFakeTiles(t)
	f.setAbsent(absentEvery7)
	killAt := make(chan struct{})
	f.setHook(func(n int64, z, row, col int) int {
		if n == 200 {
			close(killAt) // the hook sees every request number exactly once
		}
		if n >= 200 {
			time.Sleep(20 * time.Millisecond) // keep the child busy until it dies
		}
		return 0
	})
	dir := t.TempDir()
	path := filepath.Join(dir, "k.mbtiles")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDownloadChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+f.srv.URL+" "+path+" "+mode)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-killAt:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child made no progress")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed: %v", err)
	}
	f.setHook(nil)
	servedBefore := f.requests.Load()

	st := openModeStore(t, mode, path, s)
	p, err := Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if p.Skipped == 0 {
		t.Fatal("nothing survived the kill")
	}
	// A crash loses only what was fetched but not yet committed: at most one
	// batch (16), the results buffer (4 = concurrency), the requests in flight
	// (4) and responses the server had counted but not yet delivered (4).
	_, dup := f.maxServed()
	if dup > 16+4+4+4 {
		t.Fatalf("%d tiles fetched twice after kill -9 (served %d before)", dup, servedBefore)
	}
	t.Logf("kill -9 after %d requests: %d tiles refetched, %d skipped on resume", servedBefore, dup, p.Skipped)
	got, _, _ := dumpStore(t, filepath.Join(dir, "k.mbtiles"))
	if got != want {
		t.Fatal("store after kill -9 and resume differs from an uninterrupted run")
	}
}

func TestDownloadBacksOffOn429(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 10, 13)
	f := newFakeTiles(t)
	// A burst of throttling between requests 20 and 60.
	f.setHook(func(n int64, z, row, col int) int {
		if n > 20 && n < 60 {
			return 429
		}
		return 0
	})
	st := openTestStore(t, t.TempDir(), "b.mbtiles", s)
	minSeen := 100
	p, err := Download(context.Background(), st, f.fetcher(t, 16), covers, DownloadOptions{
		Concurrency: 16, RetryBackoff: time.Millisecond, BatchSize: 4,
		Progress: func(p Progress) { minSeen = min(minSeen, p.Concurrency) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if minSeen >= 16 {
		t.Fatalf("concurrency never dropped below 16 under 429s")
	}
	if p.Fetched != p.Planned {
		t.Fatalf("fetched %d of %d", p.Fetched, p.Planned)
	}
}

func TestDownloadFatalAndPermanentErrors(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 10, 12)
	f := newFakeTiles(t)
	f.setHook(func(n int64, z, row, col int) int { return 499 })
	st := openTestStore(t, t.TempDir(), "f.mbtiles", s)
	_, err := Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{Concurrency: 4})
	var fe *FatalError
	if !errors.As(err, &fe) {
		t.Fatalf("want FatalError, got %v", err)
	}
	f.setHook(func(n int64, z, row, col int) int {
		if z == 12 {
			return 400
		}
		return 0
	})
	_, err = Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{Concurrency: 4})
	var te *TileError
	if !errors.As(err, &te) || te.Key.Level != 12 {
		t.Fatalf("want TileError on level 12, got %v", err)
	}
	for lv, wantDone := range map[int]bool{10: true, 12: false} {
		if done, _ := st.LevelComplete(context.Background(), lv); done != wantDone {
			t.Fatalf("level %d complete=%v", lv, done)
		}
	}
}

func TestDownloadUsesTilemap(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 12, 14)
	f := newFakeTiles(t)
	f.setAbsent(absentEvery7)
	var absentAsked int
	f.setHook(func(n int64, z, row, col int) int {
		if absentEvery7(z, row, col) {
			absentAsked++
		}
		return 0
	})
	st := openTestStore(t, t.TempDir(), "m.mbtiles", s)
	p, err := Download(context.Background(), st, f.fetcher(t, 1), covers, DownloadOptions{
		Concurrency: 1, Tilemap: &HTTPTilemap{ServiceURL: f.srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	if absentAsked != 0 || p.Absent == 0 {
		t.Fatalf("requested %d absent tiles despite the tilemap (absent %d)", absentAsked, p.Absent)
	}
	if int64(f.requests.Load()) != p.Fetched {
		t.Fatalf("%d tile requests for %d tiles", f.requests.Load(), p.Fetched)
	}
	_ = strconv.Itoa
}
