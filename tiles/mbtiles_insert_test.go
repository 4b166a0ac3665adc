package tiles

import (
	"context"
	"fmt"
	"path/filepath"
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
