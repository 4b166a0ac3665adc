package sync

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// reconcile asks the server what of a possibly-sent journal landed and
// removes it from the journal: adds whose GlobalID exists, updates whose
// sent fields already hold the sent values, deletes whose feature is gone,
// attachment adds/updates present with the uploaded size, attachment
// deletes that are gone. It returns how many edits had landed.
func (e *Engine) reconcile(ctx context.Context, cfg *Config, j *journal, p *pending) (int, error) {
	landed := 0
	for i := range j.Edits {
		le := &j.Edits[i]
		t := e.db.TableByID(le.ID)
		if t == nil {
			continue
		}
		lurl := arcgis.LayerURL(cfg.ServiceURL, le.ID)
		if le.count() > 0 {
			gids := append(append(append([]string(nil), le.Adds...), le.Updates...), le.Deletes...)
			server, err := e.serverFeatures(ctx, lurl, t, gids, t.GeomCol != "")
			if err != nil {
				return landed, err
			}
			var adds, updates, dels []string
			for _, g := range le.Adds {
				if _, ok := server[g]; ok {
					landed++
					continue
				}
				adds = append(adds, g)
			}
			// An update landed when the server holds every value it would
			// send now (re-sending newer local values is harmless).
			sent := map[string]bool{}
			err = e.eachOutgoing(ctx, cfg, p, le.ID, le.Updates, func(g string, out *arcgis.Feature) error {
				if sf, ok := server[g]; ok && sameFields(t, out, sf) && sameGeometry(out.Geometry, sf.Geometry) {
					sent[g] = true
				}
				return nil
			})
			if err != nil {
				return landed, err
			}
			for _, g := range le.Updates {
				if sent[g] {
					landed++
					continue
				}
				updates = append(updates, g)
			}
			for _, g := range le.Deletes {
				if _, ok := server[g]; !ok {
					landed++
					continue
				}
				dels = append(dels, g)
			}
			le.Adds, le.Updates, le.Deletes = adds, updates, dels
		}
		if ac := le.Attachments; ac != nil && len(ac.Adds)+len(ac.Updates)+len(ac.DeleteIDs) > 0 {
			present, err := e.serverAttachments(ctx, lurl, ac)
			if err != nil {
				return landed, err
			}
			keepIf := func(in []arcgis.AttachmentEdit) []arcgis.AttachmentEdit {
				var out []arcgis.AttachmentEdit
				for _, a := range in {
					g, _ := geodb.NormalizeGlobalID(a.GlobalID)
					if info, ok := present[g]; ok && (j.Uploads[g] == nil || info.Size == j.Uploads[g].Size) {
						landed++
						continue
					}
					out = append(out, a)
				}
				return out
			}
			ac.Adds, ac.Updates = keepIf(ac.Adds), keepIf(ac.Updates)
			var dels []string
			for _, d := range ac.DeleteIDs {
				g, _ := geodb.NormalizeGlobalID(d)
				if _, ok := present[g]; !ok {
					landed++
					continue
				}
				dels = append(dels, d)
			}
			ac.DeleteIDs = dels
		}
	}
	return landed, nil
}

func gidOfFeature(t *geodb.Table, f *arcgis.Feature) string {
	for k, v := range f.Attributes {
		if strings.EqualFold(k, t.GIDCol) {
			g, _ := geodb.NormalizeGlobalID(fmt.Sprint(v))
			return g
		}
	}
	return ""
}

// serverFeatures queries the server for features by GlobalID, with their
// geometries in the table's spatial reference when geom is set.
func (e *Engine) serverFeatures(ctx context.Context, layerURL string, t *geodb.Table, gids []string, geom bool) (map[string]*arcgis.Feature, error) {
	out := map[string]*arcgis.Feature{}
	for i := 0; i < len(gids); i += 100 {
		chunk := gids[i:min(i+100, len(gids))]
		quoted := make([]string, len(chunk))
		for k, g := range chunk {
			quoted[k] = "'" + strings.ReplaceAll(g, "'", "''") + "'"
		}
		q := arcgis.QueryParams{Where: t.GIDCol + " IN (" + strings.Join(quoted, ",") + ")", OutFields: []string{"*"}, ReturnGeometry: arcgis.Bool(geom)}
		if geom {
			q.OutSR = int(t.SRSID)
		}
		fs, err := e.c.Query(ctx, layerURL, q)
		if err != nil {
			return nil, fmt.Errorf("query %s by GlobalID: %w", layerURL, err)
		}
		for k := range fs.Features {
			f := &fs.Features[k]
			out[gidOfFeature(t, f)] = f
		}
	}
	return out, nil
}

// sameFields reports whether the server feature holds every sent
// attribute value.
func sameFields(t *geodb.Table, sent, server *arcgis.Feature) bool {
	for k, v := range sent.Attributes {
		if strings.EqualFold(k, t.GIDCol) {
			continue
		}
		var sv any
		found := false
		for sk, x := range server.Attributes {
			if strings.EqualFold(sk, k) {
				sv, found = x, true
			}
		}
		if !found {
			continue // a field the server does not return
		}
		if !eqVal(v, sv) {
			return false
		}
	}
	return true
}

// sameGeometry reports whether the server holds the sent geometry (to
// about a centimetre, or 1e-9 of the coordinate); a sent update without a
// geometry matches any. Found by the fleet harness (issue 20): comparing
// attributes only took a pure move whose batch never landed for landed,
// and the move was lost.
func sameGeometry(sent, server *arcgis.Geometry) bool {
	if sent == nil {
		return true
	}
	if server == nil {
		return false
	}
	a, b := coords(sent), coords(server)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(a[i])) {
			return false
		}
	}
	return true
}

// coords flattens a geometry's x/y coordinates.
func coords(g *arcgis.Geometry) []float64 {
	var out []float64
	if g.X != nil && g.Y != nil {
		out = append(out, *g.X, *g.Y)
	}
	for _, p := range g.Points {
		out = append(out, p[:min(2, len(p))]...)
	}
	for _, set := range [][][][]float64{g.Paths, g.Rings} {
		for _, path := range set {
			for _, p := range path {
				out = append(out, p[:min(2, len(p))]...)
			}
		}
	}
	return out
}

// serverAttachments lists the server attachments of the parents named in ac.
func (e *Engine) serverAttachments(ctx context.Context, layerURL string, ac *arcgis.SyncAttachmentChanges) (map[string]arcgis.AttachmentInfo, error) {
	parents := map[string]bool{}
	for _, set := range [][]arcgis.AttachmentEdit{ac.Adds, ac.Updates} {
		for _, a := range set {
			parents[a.ParentGlobalID] = true
		}
	}
	out := map[string]arcgis.AttachmentInfo{}
	var list []string
	for p := range parents {
		list = append(list, p)
	}
	if len(ac.DeleteIDs) > 0 {
		list = nil // deletes name no parent: ask for the whole layer
	}
	groups, err := e.c.QueryAttachments(ctx, layerURL, arcgis.QueryAttachmentsParams{GlobalIDs: list, DefinitionExpression: "1=1", ReturnMetadata: true})
	if err != nil {
		return nil, fmt.Errorf("queryAttachments %s: %w", layerURL, err)
	}
	for _, g := range groups {
		for _, a := range g.AttachmentInfos {
			a.ParentObjectID = g.ParentObjectID
			gid, _ := geodb.NormalizeGlobalID(a.GlobalID)
			out[gid] = a
		}
	}
	return out, nil
}

// dropGoneDeletes removes from the batch the feature deletes the server has
// nothing for (a feature added and deleted locally whose add never went up,
// or one a colleague deleted too) and the attachment deletes of attachments
// the server no longer has (a colleague deleted it, or its parent): under
// rollbackOnFailure one such delete would make the server refuse the whole
// batch, at every attempt. Their change-log rows are acknowledged with the
// batch. Adds the server already has (an earlier batch landed, its answer
// was lost and that batch was then refused as a whole, so the add is back
// in a fresh batch) and attachment adds the server already has (a re-send
// after a failed size/hash check) go as updates, so they neither fail as
// duplicates nor get lost.
func (e *Engine) dropGoneDeletes(ctx context.Context, cfg *Config, j *journal) error {
	changed := false
	for i := range j.Edits {
		le := &j.Edits[i]
		t := e.db.TableByID(le.ID)
		if t == nil || len(le.Deletes)+len(le.Adds) == 0 {
			continue
		}
		server, err := e.serverFeatures(ctx, arcgis.LayerURL(cfg.ServiceURL, le.ID), t, append(append([]string(nil), le.Deletes...), le.Adds...), false)
		if err != nil {
			return err
		}
		var keep, adds []string
		for _, g := range le.Deletes {
			if _, ok := server[g]; ok {
				keep = append(keep, g)
			}
		}
		if len(keep) != len(le.Deletes) {
			le.Deletes, changed = keep, true
		}
		for _, g := range le.Adds {
			if _, ok := server[g]; ok {
				le.Updates, changed = append(le.Updates, g), true
				continue
			}
			adds = append(adds, g)
		}
		le.Adds = adds
	}
	for i := range j.Edits {
		le := &j.Edits[i]
		ac := le.Attachments
		if ac == nil || len(ac.Adds)+len(ac.DeleteIDs) == 0 {
			continue
		}
		present, err := e.serverAttachments(ctx, arcgis.LayerURL(cfg.ServiceURL, le.ID), &arcgis.SyncAttachmentChanges{Adds: ac.Adds, DeleteIDs: ac.DeleteIDs})
		if err != nil {
			return err
		}
		var adds []arcgis.AttachmentEdit
		for _, a := range ac.Adds {
			g, _ := geodb.NormalizeGlobalID(a.GlobalID)
			if _, ok := present[g]; ok {
				ac.Updates = append(ac.Updates, a)
				changed = true
				continue
			}
			adds = append(adds, a)
		}
		ac.Adds = adds
		var dels []string
		for _, d := range ac.DeleteIDs {
			g, _ := geodb.NormalizeGlobalID(d)
			if _, ok := present[g]; ok {
				dels = append(dels, d)
			}
		}
		if len(dels) != len(ac.DeleteIDs) {
			ac.DeleteIDs, changed = dels, true
		}
	}
	if !changed {
		return nil
	}
	return saveJournal(ctx, e.db, j)
}
