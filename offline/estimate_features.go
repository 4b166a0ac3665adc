package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// attachmentRowOverhead is what a stored attachment adds besides its bytes
// (its row, name and content type).
const attachmentRowOverhead = 256

// estimate sizes each feature service's GeoPackage: per layer the count of
// the features the replica or snapshot will hold (returnCountOnly with the
// same filters), times the bytes per feature measured by loading a sample
// query (geometry included) into a scratch GeoPackage with the same schema,
// plus the size of that schema; attachments from queryAttachments of the
// sampled features. When a layer's sample holds every feature the figure is
// counted, else sampled.
func (featureSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	var out []*LayerEstimate
	for _, pl := range plans {
		g := o.GenerateGeodatabase[pl.key]
		le := &LayerEstimate{Key: pl.key, Title: e.title(pl), Kind: pl.kind, Step: pl.id, Store: pl.store,
			ReadOnly: g.Snapshot || g.SyncModel == SyncModelNone}
		if err := estimateService(ctx, e, g, le); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			unknown(le, err)
		}
		out = append(out, le)
	}
	return out, nil
}

func estimateService(ctx context.Context, e *estimation, g *GenerateGeodatabaseParameters, le *LayerEstimate) error {
	c := e.c
	var rawSvc json.RawMessage
	if err := c.GetJSON(ctx, g.ServiceURL, nil, &rawSvc); err != nil {
		return fmt.Errorf("service %s: %w", g.ServiceURL, err)
	}
	layers := map[int]*arcgis.Layer{}
	editable := false
	for _, lid := range g.LayerIDs() {
		l, err := serviceLayer(ctx, c, g, lid)
		if err != nil {
			return fmt.Errorf("layer %s: %w", arcgis.LayerURL(g.ServiceURL, lid), err)
		}
		layers[lid] = l
		if l.Capabilities == "" || hasAnyCap(l.Capabilities, "Create", "Update", "Delete", "Editing") {
			editable = true
		}
	}
	le.ReadOnly = le.ReadOnly || !editable
	dir, err := os.MkdirTemp(e.opt.TempDir, "offlined-estimate-")
	if err != nil {
		return fmt.Errorf("scratch GeoPackage: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sample.gpkg")
	db, err := geodb.Open(ctx, path, geodb.Options{})
	if err != nil {
		return fmt.Errorf("scratch GeoPackage: %w", err)
	}
	defer db.Close()
	if err := db.SaveService(ctx, rawSvc); err != nil {
		return err
	}
	for _, lid := range sortedInts(layers) {
		if _, err := db.CreateLayer(ctx, layers[lid], nil); err != nil {
			return fmt.Errorf("create table for layer %d: %w", lid, err)
		}
	}
	size := func() (int64, error) {
		if err := db.Checkpoint(ctx, false); err != nil {
			return 0, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	base, err := size()
	if err != nil {
		return err
	}
	data := Figure{Bytes: base, Low: base, High: base, Method: EstimateCounted}
	var att *Figure
	if g.ReturnAttachments && !g.Snapshot {
		att = &Figure{Method: EstimateCounted}
	}
	prev := base
	var taken, total int64 // features of the layers in the area, and in all
	for _, lid := range g.LayerIDs() {
		sl := SublayerEstimate{Key: LayerKey(g.ServiceURL, lid), LayerID: lid}
		qp, ok, err := SnapshotQueryParams(g, lid)
		if err != nil {
			return err
		}
		if opt := g.LayerOption(lid); !ok && !g.Snapshot && opt != nil && opt.IncludeRelated {
			// A table taken for the rows related to the features taken:
			// measured on all its rows, scaled below.
			t := true
			qp, ok, sl.RelatedOnly = arcgis.QueryParams{Where: "1=1", OutFields: []string{"*"}, ReturnGeometry: &t}, true, true
		}
		layerURL := arcgis.LayerURL(g.ServiceURL, lid)
		if ok {
			n, err := c.QueryCount(ctx, layerURL, qp)
			if err != nil {
				return fmt.Errorf("count %s: %w", layerURL, err)
			}
			sl.Features = int64(n)
			if !sl.RelatedOnly && qp.Geometry != nil && layers[lid] != nil && layers[lid].GeometryType != "" {
				// The share of the layer the area takes, for related rows.
				all, err := c.QueryCount(ctx, layerURL, arcgis.QueryParams{Where: qp.Where})
				if err != nil {
					return fmt.Errorf("count %s: %w", layerURL, err)
				}
				taken, total = taken+int64(n), total+int64(all)
			}
		}
		if sl.Features > 0 {
			sq := qp
			sq.ResultRecordCount = min(int(sl.Features), e.opt.SampleFeatures)
			if l := layers[lid]; l != nil && l.MaxRecordCount > 0 {
				sq.ResultRecordCount = min(sq.ResultRecordCount, l.MaxRecordCount)
			}
			t0 := time.Now()
			fs, err := c.Query(ctx, layerURL, sq)
			if err != nil {
				return fmt.Errorf("sample %s: %w", layerURL, err)
			}
			var buf bytes.Buffer
			buf.WriteString(`{"features":[`)
			oids := make([]int64, 0, len(fs.Features))
			for i := range fs.Features {
				b, err := json.Marshal(&fs.Features[i])
				if err != nil {
					return err
				}
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.Write(b)
				if id, ok := objectID(fs.Features[i].Attributes, layers[lid]); ok {
					oids = append(oids, id)
				}
			}
			buf.WriteString(`]}`)
			e.measured(int64(buf.Len()), time.Since(t0))
			st, err := db.LoadFeatures(ctx, lid, &buf, geodb.LoadOptions{})
			if err != nil {
				return fmt.Errorf("sample %s: load: %w", layerURL, err)
			}
			sl.Sampled = st.Features
			now, err := size()
			if err != nil {
				return err
			}
			if sl.Sampled > 0 {
				sl.Bytes = int64(math.Round(float64(now-prev) * float64(sl.Features) / float64(sl.Sampled)))
			}
			prev = now
			if att != nil && layers[lid] != nil && layers[lid].HasAttachments && len(oids) > 0 {
				t0 := time.Now()
				groups, err := c.QueryAttachments(ctx, layerURL, arcgis.QueryAttachmentsParams{ObjectIDs: oids})
				if err != nil {
					return fmt.Errorf("queryAttachments %s: %w", layerURL, err)
				}
				var ab int64
				for _, gr := range groups {
					for _, a := range gr.AttachmentInfos {
						ab += a.Size + attachmentRowOverhead
					}
				}
				e.measured(512, time.Since(t0))
				sl.Attachments = int64(math.Round(float64(ab) * float64(sl.Features) / float64(len(oids))))
				r := sampleRel(int64(len(oids)), sl.Features)
				att.add(band(sl.Attachments, r, ""))
				if r > countedRel {
					att.Method = EstimateSampled
				}
			}
		}
		le.Sublayers = append(le.Sublayers, sl)
	}
	for i := range le.Sublayers {
		sl := &le.Sublayers[i]
		rel := sampleRel(sl.Sampled, sl.Features)
		f := band(sl.Bytes, rel, "")
		if sl.RelatedOnly {
			// Related rows in proportion to the share of the layers'
			// features the area takes; between none and all the rows.
			all := f.Bytes
			if total > 0 {
				share := float64(taken) / float64(total)
				sl.Features = int64(math.Round(float64(sl.Features) * share))
				sl.Bytes = int64(math.Round(float64(sl.Bytes) * share))
			}
			f, rel = Figure{Bytes: sl.Bytes, High: all}, 1
		}
		data.add(f)
		if rel > countedRel {
			data.Method = EstimateSampled
		}
		le.Features += sl.Features
	}
	sortSublayers(le.Sublayers)
	// The GeoPackage also stores the replica's sync state and
	// configuration; its pages are rarely full.
	slack := storeSlack(data.Bytes)
	data.Bytes += slack
	data.High += 2 * slack
	le.Data, le.Attachments = data, att
	le.total()
	return nil
}

// countedRel is the band of a figure measured on every item: SQLite page
// fill still varies.
const countedRel = 0.05

// sampleRel is the relative uncertainty of a size measured on n of total
// items.
func sampleRel(n, total int64) float64 {
	if total == 0 || n >= total {
		return countedRel
	}
	if n == 0 {
		return 1
	}
	return min(1, 0.1+0.6/math.Sqrt(float64(n)))
}

// storeSlack is the extra a GeoPackage of about b bytes takes once the job
// has written its metadata and sync configuration.
func storeSlack(b int64) int64 { return 8<<10 + b/50 }

// objectID returns a feature's object id.
func objectID(attrs map[string]any, l *arcgis.Layer) (int64, bool) {
	name := "OBJECTID"
	if l != nil && l.ObjectIDField != "" {
		name = l.ObjectIDField
	}
	v, ok := attrs[name]
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}
