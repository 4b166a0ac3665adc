package features

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/offlined/offlined/internal/arcgis"
)

// selector decides whether a feature belongs to a replica.
type selector func(oid int64, f arcgis.Feature) bool

// selectors builds each replica layer's selection from its layer query:
// queryOption all/none/useFilter, where, useGeometry (spatial layers) and
// includeRelated (a related table keeps the rows whose parent feature is
// selected, when the parent layer is in the replica).
func (rp *replica) selectors(views map[int]*layerView) map[int]selector {
	out := map[int]selector{}
	build := func(id int) selector {
		v := views[id]
		q := rp.Queries[id]
		switch q.QueryOption {
		case "none":
			return func(int64, arcgis.Feature) bool { return false }
		case "all":
			return func(int64, arcgis.Feature) bool { return true }
		}
		where, err := v.bindWhere(q.Where)
		if err != nil {
			return func(int64, arcgis.Feature) bool { return false }
		}
		var filter *spatialFilter
		if !v.def.isTable() && (q.UseGeometry == nil || *q.UseGeometry) {
			filter = rp.filter
		}
		return func(_ int64, f arcgis.Feature) bool {
			return where.match(f.Attributes) && (filter == nil || filter.intersects(f.Geometry))
		}
	}
	var tables []int
	for _, id := range rp.Layers {
		if views[id].def.isTable() {
			tables = append(tables, id)
			continue
		}
		out[id] = build(id)
	}
	for _, id := range tables {
		own := build(id)
		v := views[id]
		q := rp.Queries[id]
		parent := v.def.relParent
		psel, inReplica := out[parent]
		if q.QueryOption != "useFilter" && q.QueryOption != "none" || q.IncludeRelated != nil && !*q.IncludeRelated || parent < 0 || !inReplica {
			out[id] = own
			continue
		}
		if q.QueryOption == "none" {
			// none with includeRelated: only the rows related to features
			// taken (ArcGIS's destinationTableRowFilter relatedOnly).
			own = func(int64, arcgis.Feature) bool { return true }
		}
		pv, key := views[parent], v.def.relKeyField
		out[id] = func(oid int64, f arcgis.Feature) bool {
			if !own(oid, f) {
				return false
			}
			g, ok := f.Attributes[key].(string)
			if !ok {
				return false
			}
			poid, exists := pv.oidOf(g)
			if !exists {
				return false
			}
			pf, _, ok := pv.get(poid)
			return ok && psel(poid, pf)
		}
	}
	return out
}

// writeReplicaData streams a replica snapshot as the JSON replica document
// {replicaName, replicaID, gens, transportType, responseType, layers:[{id,
// features, attachments}]}, encoding feature by feature.
func (s *FeatureServer) writeReplicaData(w io.Writer, r *http.Request, fs *fsService, rf *replicaFile, transport string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	rp := rf.rp
	head := map[string]any{"replicaName": rp.Name, "replicaID": rp.ID, "transportType": transport, "responseType": responseData}
	for k, v := range rf.gens {
		head[k] = v
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	bw.Write(hb[:len(hb)-1])
	bw.WriteString(`,"layers":[`)
	sels := rp.selectors(rf.views)
	base := fs.baseURL(r)
	for li, id := range rp.Layers {
		v := rf.views[id]
		sel := sels[id]
		if li > 0 {
			bw.WriteByte(',')
		}
		fmt.Fprintf(bw, `{"id":%d,"features":[`, id)
		feats := &arrayWriter{w: bw}
		v.each(func(oid int64, f arcgis.Feature) bool {
			return !sel(oid, f) || feats.add(projectFeature(f, nil, v.def.oidField, !v.def.isTable(), rp.SR))
		})
		if feats.err != nil {
			return fmt.Errorf("replica %s layer %d: %w", rp.ID, id, feats.err)
		}
		bw.WriteString(`]`)
		if rp.ReturnAttachments && v.def.attachments {
			bw.WriteString(`,"attachments":[`)
			atts := &arrayWriter{w: bw}
			v.each(func(oid int64, f arcgis.Feature) bool {
				if !sel(oid, f) {
					return true
				}
				for _, a := range v.attachmentsOf(oid) {
					if !atts.add(replicaAttachment(v, a, base, rf.attByURL)) {
						return false
					}
				}
				return true
			})
			if atts.err != nil {
				return fmt.Errorf("replica %s layer %d attachments: %w", rp.ID, id, atts.err)
			}
			bw.WriteString(`]`)
		}
		bw.WriteString(`}`)
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// arrayWriter writes the elements of a JSON array, comma-separated, to w
// and keeps the first error.
type arrayWriter struct {
	w   *bufio.Writer
	n   int
	err error
}

// add writes v's JSON as the next element and reports whether it could.
func (a *arrayWriter) add(v any) bool {
	b, err := json.Marshal(v)
	if err == nil {
		if a.n > 0 {
			a.w.WriteByte(',')
		}
		a.n++
		_, err = a.w.Write(b)
	}
	a.err = err
	return err == nil
}

// replicaAttachment is an attachment entry of a replica or sync document.
func replicaAttachment(v *layerView, a attRecord, base string, byURL bool) arcgis.AttachmentInfo {
	info := arcgis.AttachmentInfo{ID: a.ID, GlobalID: a.GID, ParentGlobalID: a.ParentGID, Name: a.Name,
		ContentType: a.ContentType, Size: a.Size}
	if byURL {
		info.URL = fmt.Sprintf("%s/%d/%d/attachments/%d", base, v.def.ID, a.ParentOID, a.ID)
	} else if _, data, ok := v.attachment(a.ID); ok {
		info.Data = base64.StdEncoding.EncodeToString(data)
	}
	return info
}

// sortedKeys returns the map's keys in ascending order.
func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
