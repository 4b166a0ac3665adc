package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// SnapshotQueriesKey is the offlined_meta key of the query (area, where
// clause, spatial reference) each snapshot layer was taken with, by layer
// id; a refresh asks the same.
const SnapshotQueriesKey = "offlined_snapshot_queries"

// SnapshotStampsKey is the offlined_meta key of each snapshot layer's
// editingInfo stamp (dataLastEditDate, else lastEditDate) at its last
// refresh, by layer id.
const SnapshotStampsKey = "offlined_snapshot_stamps"

// SnapshotReport counts one refresh of a store's snapshot layers. Rows are
// matched by GlobalID (derived from the object id for services without
// GlobalIDs), so unchanged rows keep their local ids.
type SnapshotReport struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Deleted   int `json:"deleted"`
	Unchanged int `json:"unchanged"`
	// SkippedLayers were not downloaded: their editingInfo stamp had not
	// changed since the last refresh.
	SkippedLayers []int `json:"skippedLayers,omitempty"`
	// Skipped: every layer was skipped.
	Skipped bool `json:"skipped"`

	localHeld int // the most local rows held at once (one server page's)
}

// SaveSnapshotQueries records the query of each snapshot layer of db (the
// offline job calls it when it writes a snapshot).
func SaveSnapshotQueries(ctx context.Context, db *geodb.DB, qs map[int]arcgis.QueryParams) error {
	b, err := json.Marshal(qs)
	if err != nil {
		return fmt.Errorf("snapshot queries of %s: %w", db.Path(), err)
	}
	return db.SetMeta(ctx, SnapshotQueriesKey, string(b))
}

func loadMetaJSON[T any](ctx context.Context, db *geodb.DB, key string) (map[int]T, error) {
	v, ok, err := db.Meta(ctx, key)
	if err != nil || !ok {
		return map[int]T{}, err
	}
	out := map[int]T{}
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", key, db.Path(), err)
	}
	return out, nil
}

// editStamp is the layer's data edit stamp, 0 when the service reports
// none (then the layer is always re-queried).
func editStamp(l *arcgis.Layer) int64 {
	if l == nil || l.EditingInfo == nil {
		return 0
	}
	if l.EditingInfo.DataLastEditDate != 0 {
		return l.EditingInfo.DataLastEditDate
	}
	return l.EditingInfo.LastEditDate
}

// refreshSnapshot re-queries every downloadable layer (snapshot mode:
// unless its editingInfo stamp is unchanged) with the query it was taken
// with, and makes the local table equal to the server's in one
// transaction: new rows added, changed rows updated in place, rows gone
// from the server deleted; unchanged rows are not touched. Features with
// unsent local edits are conflicts decided by the policy; unsent local adds
// are kept.
func (e *Engine) refreshSnapshot(ctx context.Context, cfg *Config, rep *Report) error {
	upTo, err := e.db.LastChangeSeq(ctx)
	if err != nil {
		return err
	}
	pend, err := e.readPending(ctx, upTo)
	if err != nil {
		return err
	}
	queries, err := loadMetaJSON[arcgis.QueryParams](ctx, e.db, SnapshotQueriesKey)
	if err != nil {
		return err
	}
	stamps, err := loadMetaJSON[int64](ctx, e.db, SnapshotStampsKey)
	if err != nil {
		return err
	}
	sr := &SnapshotReport{}
	var changes []geodb.LayerChanges
	refreshed := 0
	for _, t := range e.db.Tables() {
		if !cfg.downloads(t.LayerID) {
			continue
		}
		lurl := arcgis.LayerURL(cfg.ServiceURL, t.LayerID)
		if cfg.Mode == ModeSnapshot {
			li, err := e.c.Layer(ctx, lurl)
			if err != nil {
				return fmt.Errorf("refresh layer %d: layer info: %w", t.LayerID, err)
			}
			st := editStamp(li)
			if st != 0 && stamps[t.LayerID] == st {
				sr.SkippedLayers = append(sr.SkippedLayers, t.LayerID)
				continue
			}
			if st != 0 {
				stamps[t.LayerID] = st
			} else {
				delete(stamps, t.LayerID)
			}
		}
		refreshed++
		lc, err := e.refreshLayer(ctx, t, lurl, queries[t.LayerID], pend, sr)
		if err != nil {
			return err
		}
		rep.Downloaded += len(lc.Updates) + len(lc.Deletes)
		changes = append(changes, lc)
	}
	sr.Skipped = refreshed == 0 && len(sr.SkippedLayers) > 0
	if cfg.Mode == ModeSnapshot {
		rep.Snapshot = sr
	}
	apply := geodb.SyncApply{Layers: changes, Decide: e.decider(ctx, cfg, pend)}
	if cfg.Mode == ModeSnapshot {
		b, err := json.Marshal(stamps)
		if err != nil {
			return err
		}
		apply.SetMeta = map[string]string{SnapshotStampsKey: string(b)}
	}
	ar, err := e.db.ApplySync(ctx, apply)
	rep.Conflicts += ar.Conflicts
	return err
}

// refreshLayer queries one layer and returns the changes that make the
// local table equal to the server's. It holds the local rows of one server
// page at a time (looked up by GlobalID) and, for the deletes, streams the
// local GlobalIDs: memory follows the page size and the changes, not the
// layer's size.
func (e *Engine) refreshLayer(ctx context.Context, t *geodb.Table, lurl string, qp arcgis.QueryParams, pend *pending, sr *SnapshotReport) (geodb.LayerChanges, error) {
	lc := geodb.LayerChanges{LayerID: t.LayerID}
	if qp.Where == "" {
		qp.Where = "1=1"
	}
	qp.OutFields = []string{"*"}
	qp.ResultOffset, qp.ResultRecordCount = 0, 0
	if t.GeomCol != "" {
		qp.OutSR = int(t.SRSID)
		if qp.Extra != nil {
			qp.Extra.Del("outSR")
		}
	}
	seen := map[string]bool{}
	err := e.c.QueryAll(ctx, lurl, nil, qp, func(fs *arcgis.FeatureSet) error {
		page, gids := make([]arcgis.Feature, 0, len(fs.Features)), make([]string, 0, len(fs.Features))
		for i := range fs.Features {
			f := fs.Features[i]
			g := gidOfFeature(t, &f)
			if g == "" {
				// A service without GlobalIDs: the store's are derived
				// from the object id.
				oid, ok := featureOID(t, &f)
				if !ok {
					continue
				}
				f.Attributes[t.GIDCol] = geodb.DerivedGlobalID(t.Name, oid)
				g = gidOfFeature(t, &f)
			}
			if g != "" {
				page, gids = append(page, f), append(gids, g)
			}
		}
		local, err := e.localByGID(ctx, t, gids)
		if err != nil {
			return err
		}
		sr.localHeld = max(sr.localHeld, len(local))
		for i := range page {
			f, g := &page[i], gids[i]
			seen[g] = true
			if pe := pend.Edits[geodb.ChangeKey{Table: t.Name, GlobalID: g}]; pe != nil {
				// pending local edit: only a real server change is a conflict
				if pe.Base == nil || sameFields(t, f, baseFeature(t, pe.Base)) {
					continue
				}
			}
			lf := local[g]
			switch {
			case lf == nil:
				sr.Added++
			case sameFields(t, f, lf) && sameFields(t, lf, f) && (t.GeomCol == "" || (sameGeometry(f.Geometry, lf.Geometry) && sameGeometry(lf.Geometry, f.Geometry))):
				sr.Unchanged++
				continue
			default:
				sr.Updated++
			}
			lc.Updates = append(lc.Updates, *f)
		}
		return nil
	})
	if err != nil {
		return lc, fmt.Errorf("refresh layer %d by query: %w", t.LayerID, err)
	}
	err = e.db.Each(ctx, geodb.Query{LayerID: t.LayerID, OutFields: []string{t.GIDCol}, NoGeometry: true}, func(r *geodb.Row) error {
		g := gidOfFeature(t, &arcgis.Feature{Attributes: r.Attributes})
		if g == "" || seen[g] {
			return nil
		}
		if pend.Edits[geodb.ChangeKey{Table: t.Name, GlobalID: g}] != nil {
			return nil // an unsent local add (or edit): kept
		}
		lc.Deletes = append(lc.Deletes, g)
		sr.Deleted++
		return nil
	})
	if err != nil {
		return lc, fmt.Errorf("refresh layer %d: local rows: %w", t.LayerID, err)
	}
	return lc, nil
}

// localByGID returns the local features of t with the given GlobalIDs, by
// GlobalID.
func (e *Engine) localByGID(ctx context.Context, t *geodb.Table, gids []string) (map[string]*arcgis.Feature, error) {
	out := make(map[string]*arcgis.Feature, len(gids))
	if len(gids) == 0 {
		return out, nil
	}
	local, err := e.db.Features(ctx, geodb.Query{LayerID: t.LayerID, GlobalIDs: gids})
	if err != nil {
		return nil, fmt.Errorf("refresh layer %d: local rows: %w", t.LayerID, err)
	}
	for i := range local {
		if g := gidOfFeature(t, &local[i]); g != "" {
			out[g] = &local[i]
		}
	}
	return out, nil
}

// featureOID returns the object id of a server feature.
func featureOID(t *geodb.Table, f *arcgis.Feature) (int64, bool) {
	name := t.Layer.ObjectIDField
	if name == "" {
		name = t.OIDCol
	}
	for k, v := range f.Attributes {
		if strings.EqualFold(k, name) {
			switch x := v.(type) {
			case float64:
				return int64(x), true
			case int64:
				return x, true
			case json.Number:
				n, err := x.Int64()
				return n, err == nil
			case string:
				n, err := strconv.ParseInt(x, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
