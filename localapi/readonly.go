package localapi

import (
	"context"
	"fmt"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	editsync "github.com/offlined/offlined/sync"
)

// checkWritable refuses edits to a layer the device cannot send back: a
// read-only snapshot (a service without Sync or applyEdits), or a layer
// whose service does not allow creating, updating or deleting features.
// Without the check an edit would sit in the change log forever.
func checkWritable(ctx context.Context, db *geodb.DB, t *geodb.Table) error {
	readOnly, err := layerReadOnly(ctx, db, t)
	if err != nil {
		return err
	}
	if readOnly {
		return &Error{Status: 403, Code: "readOnlyLayer", Field: "layer",
			Message: fmt.Sprintf("layer %q is read-only offline (its service cannot take edits back)", t.Layer.Name)}
	}
	return nil
}

// layerReadOnly reports whether edits to t cannot go back to its service:
// the store is a snapshot (or has no sync configuration), or the service
// layer allows no creates, updates or deletes.
func layerReadOnly(ctx context.Context, db *geodb.DB, t *geodb.Table) (bool, error) {
	cfg, err := editsync.LoadConfig(ctx, db)
	if err != nil {
		return false, fmt.Errorf("read sync configuration: %w", err)
	}
	readOnly := cfg.Mode == editsync.ModeSnapshot || cfg.Mode == ""
	if caps := t.Layer.Capabilities; caps != "" &&
		!arcgis.HasCapability(caps, "Create") && !arcgis.HasCapability(caps, "Update") &&
		!arcgis.HasCapability(caps, "Delete") && !arcgis.HasCapability(caps, "Editing") {
		readOnly = true
	}
	return readOnly, nil
}
