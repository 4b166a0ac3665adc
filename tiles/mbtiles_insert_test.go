package tiles

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPutBatches: Put writes batches longer than one multi-row statement,
// with a short tail, absent records among the tiles, and a key given twice
// (the last wins, as with one INSERT OR REPLACE per tile); a later batch
// overwrites a tile and turns nothing absent into a tile.
func TestPutBatches(t *testing.T) {
	ctx := context.Background()
	st := openModeStore(t, "build", filepath.Join(t.TempDir(), "p.mbtiles"), WebMercatorScheme(256, 0, 19))
	defer st.Close()
	want := map[TileKey]string{}
	absent := map[TileKey]bool{}
	var recs []TileRecord
	for i := 0; i < 2*putRows+5; i++ {
		k := TileKey{Level: 10, Row: i / 30, Col: i % 30}
		if i%7 == 3 {
			recs = append(recs, TileRecord{Key: k, Absent: true})
			absent[k] = true
			continue
		}
		body := fmt.Sprintf("tile %d", i)
		recs = append(recs, TileRecord{Key: k, Data: []byte(body)})
		want[k] = body
	}
	dup := TileKey{Level: 10, Row: 0, Col: 0}
	recs = append(recs, TileRecord{Key: dup, Data: []byte("tile 0 again")})
	want[dup] = "tile 0 again"
	if err := st.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	more := TileKey{Level: 10, Row: 0, Col: 1}
	if err := st.Put(ctx, []TileRecord{{Key: more, Data: []byte("second batch")}}); err != nil {
		t.Fatal(err)
	}
	want[more] = "second batch"
	for k, body := range want {
		got, err := st.TileByKey(ctx, k)
		if err != nil || string(got) != body {
			t.Errorf("tile %s: %q %v, want %q", k, got, err, body)
		}
	}
	tiles, abs, err := st.Count(ctx)
	if err != nil || tiles != int64(len(want)) || abs != int64(len(absent)) {
		t.Fatalf("count: %d tiles %d absent (%v), want %d and %d", tiles, abs, err, len(want), len(absent))
	}
}

// TestPutFailureRollsBack: a batch with a key the grid cannot address
// writes none of its tiles and leaves no transaction open, so the next
// batch commits; a cancelled context writes nothing.
func TestPutFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	s := WebMercatorScheme(256, 0, 19)
	st := openModeStore(t, "build", filepath.Join(t.TempDir(), "f.mbtiles"), s)
	defer st.Close()
	var recs []TileRecord
	for i := 0; i < putRows+1; i++ {
		recs = append(recs, TileRecord{Key: TileKey{Level: 5, Row: 0, Col: i}, Data: []byte("x")})
	}
	recs = append(recs, TileRecord{Key: TileKey{Level: 25, Row: 0, Col: 0}, Data: []byte("no zoom 25")})
	if err := st.Put(ctx, recs); err == nil {
		t.Fatal("Put of a key outside the grid succeeded")
	}
	if n, _, err := st.Count(ctx); err != nil || n != 0 {
		t.Fatalf("after a failed batch: %d tiles (%v), want 0", n, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.Put(cctx, recs[:1]); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if err := st.Put(ctx, recs[:putRows+1]); err != nil {
		t.Fatalf("Put after a failed batch: %v", err)
	}
	if n, _, err := st.Count(ctx); err != nil || n != int64(putRows+1) {
		t.Fatalf("%d tiles (%v), want %d", n, err, putRows+1)
	}
}

// putKillChildEnv makes TestPutKillChild a child writing batches into the
// store at its path until it is killed.
const putKillChildEnv = "OFFLINED_TILES_PUT_KILL_CHILD"

// killBatch is the batch size of the kill test; killTile the body of the
// i-th tile it writes (the key says which).
const killBatch = 100

func killTile(i int) (TileKey, []byte) {
	k := TileKey{Level: 12, Row: i / 4096, Col: i % 4096}
	return k, bytes.Repeat([]byte{byte(i), byte(i >> 8), 0x5a}, 4000+i%3000)
}

// TestPutKillChild is the child of TestPutKilled (skipped otherwise).
func TestPutKillChild(t *testing.T) {
	path := os.Getenv(putKillChildEnv)
	if path == "" {
		t.Skip("child process of TestPutKilled")
	}
	ctx := context.Background()
	st, err := OpenStoreForBuild(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Plan(ctx, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := st.Configure(ctx, WebMercatorScheme(256, 0, 19), "png"); err != nil {
		t.Fatal(err)
	}
	for b := 0; ; b++ {
		recs := make([]TileRecord, killBatch)
		for j := range recs {
			recs[j].Key, recs[j].Data = killTile(b*killBatch + j)
		}
		if err := st.Put(ctx, recs); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed %d\n", b+1)
	}
}

// TestPutKilled kills (SIGKILL) a process writing batches into a store
// with 64 KiB pages between and during commits: the store opens intact
// (integrity_check), keeps its page size, holds whole batches only, each
// tile exactly as written, and takes further batches.
func TestPutKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a subprocess")
	}
	path := filepath.Join(t.TempDir(), "k.mbtiles")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPutKillChild$")
	cmd.Env = append(os.Environ(), putKillChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for seen := 0; seen < 5 && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "committed ") {
			seen++
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	ctx := context.Background()
	st := openModeStore(t, "build", path, WebMercatorScheme(256, 0, 19))
	defer st.Close()
	var check string
	if err := st.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check after kill: %q %v", check, err)
	}
	if got := pageSize(t, st); got != bigStorePage {
		t.Fatalf("page size %d after kill, want %d", got, bigStorePage)
	}
	n, _, err := st.Count(ctx)
	if err != nil || n < 5*killBatch || n%killBatch != 0 {
		t.Fatalf("%d tiles after kill (%v): want whole batches of %d, at least 5", n, err, killBatch)
	}
	for i := 0; i < int(n); i++ {
		k, want := killTile(i)
		got, err := st.TileByKey(ctx, k)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tile %d after kill: %d bytes %v, want %d bytes", i, len(got), err, len(want))
		}
	}
	k, body := killTile(int(n))
	if err := st.Put(ctx, []TileRecord{{Key: k, Data: body}}); err != nil {
		t.Fatalf("Put after kill: %v", err)
	}
	t.Logf("killed after %d committed tiles", n)
}
