package tiles

import (
	"context"
	"sync"
	"testing"
)

// Bug: the store allowed 8 open connections but kept 2 idle, so concurrent
// tile reads (a map panning, wrk -c32) closed and reopened SQLite
// connections all the time.
func TestStoreKeepsReadersOpenUnderLoad(t *testing.T) {
	st := openTestStore(t, t.TempDir(), "c.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	ctx := context.Background()
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{1, 0, 0}, Data: []byte("t")}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if _, err := st.TileByKey(ctx, TileKey{1, 0, 0}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := st.db.Stats().MaxIdleClosed; n != 0 {
		t.Errorf("%d connections closed for want of idle room during concurrent reads, want 0", n)
	}
}
