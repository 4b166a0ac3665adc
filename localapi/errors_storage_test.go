package localapi

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/offlined/offlined/geodb"
)

// A full disk while serving is 507 with a code, not 500 "internal".
func TestStorageFullIs507(t *testing.T) {
	err := fmt.Errorf("apply edits: %w", fmt.Errorf("%w: disk I/O", geodb.ErrStorageFull))
	ae := toAPIError(err)
	if ae.Status != http.StatusInsufficientStorage || ae.Code != "storageFull" {
		t.Fatalf("got %d %s, want 507 storageFull", ae.Status, ae.Code)
	}
}
