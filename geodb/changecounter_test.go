package geodb

import (
	"context"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// The counter keeps growing after acknowledged rows are deleted (max(seq)
// falls back to 0 then).
func TestChangeCounterMonotonic(t *testing.T) {
	ctx := context.Background()
	db := loadedDB(t)
	if n, err := db.ChangeCounter(ctx); err != nil || n != 0 {
		t.Fatalf("fresh counter %d %v", n, err)
	}
	notes := -1
	for _, tb := range db.Tables() {
		if tb.Name == "Notes" {
			notes = tb.LayerID
		}
	}
	if _, err := db.Add(ctx, notes, arcgis.Feature{Attributes: map[string]any{"text": "a"}}); err != nil {
		t.Fatal(err)
	}
	n1, _ := db.ChangeCounter(ctx)
	last, _ := db.LastChangeSeq(ctx)
	if n1 == 0 || n1 != last {
		t.Fatalf("counter %d, last seq %d", n1, last)
	}
	if err := db.AckChanges(ctx, last); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.ChangeCounter(ctx); n != n1 {
		t.Fatalf("counter %d after ack, want %d", n, n1)
	}
	if _, err := db.Add(ctx, notes, arcgis.Feature{Attributes: map[string]any{"text": "b"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.ChangeCounter(ctx); n != n1+1 {
		t.Fatalf("counter %d after a new change, want %d", n, n1+1)
	}
}
