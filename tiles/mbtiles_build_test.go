package tiles

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// journalMode reads the journal mode of the store's connections.
func journalMode(t *testing.T, st *Store) string {
	t.Helper()
	var m string
	if err := st.db.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(m)
}

// TestOpenStoreForBuild: a new store being built uses the rollback journal;
// a store open in WAL elsewhere (served while a job writes it) opens for a
// build without contending for the journal switch and stays in WAL; and what
// the build wrote reads back through OpenStore.
func TestOpenStoreForBuild(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.mbtiles")
	s := WebMercatorScheme(256, 0, 19)

	b := openModeStore(t, "build", path, s)
	if m := journalMode(t, b); m != "delete" {
		t.Fatalf("OpenStoreForBuild journal mode %q on a new file, want delete", m)
	}
	if err := b.Put(ctx, []TileRecord{{Key: TileKey{Level: 1, Row: 0, Col: 1}, Data: []byte("\x89PNG one")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	served := openModeStore(t, "serve", path, s)
	defer served.Close()
	if m := journalMode(t, served); m != "wal" {
		t.Fatalf("OpenStore journal mode %q, want wal", m)
	}
	b = openModeStore(t, "build", path, s)
	if m := journalMode(t, b); m != "wal" {
		t.Fatalf("OpenStoreForBuild on a served store: journal mode %q, want wal kept", m)
	}
	if err := b.Put(ctx, []TileRecord{{Key: TileKey{Level: 1, Row: 1, Col: 1}, Data: []byte("\x89PNG two")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	r := served
	for _, k := range []TileKey{{Level: 1, Row: 0, Col: 1}, {Level: 1, Row: 1, Col: 1}} {
		if got, err := r.TileByKey(ctx, k); err != nil || !strings.HasPrefix(string(got), "\x89PNG") {
			t.Fatalf("tile %+v after the build: %q, %v", k, got, err)
		}
	}
}
