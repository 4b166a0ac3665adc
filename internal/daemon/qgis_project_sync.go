package daemon

import (
	"context"

	"github.com/offlined/offlined/localapi"
	editsync "github.com/offlined/offlined/sync"

	"github.com/offlined/offlined/offline"
)

// schemaChanged rewrites the package's QGIS project after a sync that
// changed a layer's schema (fields added or removed on the server), so the
// project's fields, aliases and value maps follow the store. A failure is
// logged: the project is a convenience, the sync succeeded.
func (e *EngineSyncer) schemaChanged(ctx context.Context, mi localapi.MapInfo, rep *editsync.Report) {
	if rep == nil || len(rep.SchemaChanged) == 0 || mi.Dir == "" {
		return
	}
	if _, err := offline.WriteQGISProject(ctx, mi.Dir); err != nil {
		e.log.Warn("QGIS project not rewritten after a schema change", "map", mi.ID, "err", err)
	}
}
