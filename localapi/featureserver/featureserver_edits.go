package featureserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/localapi"
)

// fsApplyEdits applies adds, updates (by OBJECTID, or GlobalID with
// useGlobalIds) and deletes in one transaction: on any bad value nothing
// changes and the error names the field.
func (s *Server) fsApplyEdits(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(s.applyEdits)(w, r)
}

// fsFeatureEdit serves addFeatures, updateFeatures and deleteFeatures
// through applyEdits (features → adds/updates, objectIds → deletes).
func (s *Server) fsFeatureEdit(op string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
			f := r.Form
			feats, ids := f.Get("features"), f.Get("objectIds")
			for _, k := range []string{"adds", "updates", "deletes"} {
				f.Del(k)
			}
			switch op {
			case "add":
				f.Set("adds", feats)
			case "update":
				f.Set("updates", feats)
			case "delete":
				if ids == "" {
					return localapi.BadRequest("objectIds", "objectIds are required (deletes by where clause are not supported offline)")
				}
				f.Set("deletes", ids)
			}
			return s.applyEdits(w, r)
		})(w, r)
	}
}

func (s *Server) applyEdits(w http.ResponseWriter, r *http.Request) error {
	{
		db, t, err := s.fsTable(r)
		if err != nil {
			return err
		}
		if err := localapi.CheckWritable(r.Context(), db, t); err != nil {
			return err
		}
		f := r.Form
		useGIDs := strings.EqualFold(f.Get("useGlobalIds"), "true")
		var adds, updates []arcgis.Feature
		for _, p := range []struct {
			name string
			dst  *[]arcgis.Feature
		}{{"adds", &adds}, {"updates", &updates}} {
			if v := f.Get(p.name); v != "" {
				if err := json.Unmarshal([]byte(v), p.dst); err != nil {
					return localapi.BadRequest(p.name, "%s must be a JSON array of features: %v", p.name, err)
				}
			}
		}
		var e geodb.Edits
		for _, a := range adds {
			if a.Attributes == nil {
				a.Attributes = map[string]any{}
			}
			dropKey(a.Attributes, t.OIDCol)
			if !useGIDs {
				dropKey(a.Attributes, t.GIDCol)
			}
			e.Adds = append(e.Adds, a)
		}
		var updOIDs []int64
		for _, u := range updates {
			if u.Attributes == nil {
				return localapi.BadRequest("updates", "an update has no attributes")
			}
			if !useGIDs {
				oid, ok := attrOID(u.Attributes, t.OIDCol)
				if !ok {
					return localapi.BadRequest(t.OIDCol, "each update needs its %s", t.OIDCol)
				}
				updOIDs = append(updOIDs, oid)
			}
		}
		var delOIDs []int64
		var delGIDs []string
		if v := strings.TrimSpace(f.Get("deletes")); v != "" {
			if strings.HasPrefix(v, "[") {
				if useGIDs {
					if err := json.Unmarshal([]byte(v), &delGIDs); err != nil {
						return localapi.BadRequest("deletes", "deletes must be a JSON array of GlobalIDs")
					}
				} else if err := json.Unmarshal([]byte(v), &delOIDs); err != nil {
					return localapi.BadRequest("deletes", "deletes must be a JSON array of object ids")
				}
			} else {
				for _, p := range strings.Split(v, ",") {
					p = strings.TrimSpace(p)
					if useGIDs {
						delGIDs = append(delGIDs, p)
						continue
					}
					n, err := strconv.ParseInt(p, 10, 64)
					if err != nil {
						return localapi.BadRequest("deletes", "deletes must be object ids")
					}
					delOIDs = append(delOIDs, n)
				}
			}
		}
		gids, err := gidsOfOIDs(r, db, t, append(append([]int64{}, updOIDs...), delOIDs...))
		if err != nil {
			return err
		}
		for i, u := range updates {
			if !useGIDs {
				g, ok := gids[updOIDs[i]]
				if !ok {
					return &localapi.Error{Status: http.StatusNotFound, Code: "notFound", Field: t.OIDCol, Message: fmt.Sprintf("no feature with %s %d", t.OIDCol, updOIDs[i])}
				}
				dropKey(u.Attributes, t.GIDCol)
				u.Attributes[t.GIDCol] = g
			}
			dropKey(u.Attributes, t.OIDCol)
			e.Updates = append(e.Updates, u)
		}
		for _, oid := range delOIDs {
			g, ok := gids[oid]
			if !ok {
				return &localapi.Error{Status: http.StatusNotFound, Code: "notFound", Field: "deletes", Message: fmt.Sprintf("no feature with %s %d", t.OIDCol, oid)}
			}
			e.Deletes = append(e.Deletes, g)
		}
		for _, g := range delGIDs {
			n, ok := geodb.NormalizeGlobalID(g)
			if !ok {
				return localapi.BadRequest("deletes", "invalid GlobalID %q", g)
			}
			e.Deletes = append(e.Deletes, n)
		}
		addRes, updRes, err := db.ApplyEdits(r.Context(), t.LayerID, e)
		if err != nil {
			return err
		}
		res := func(l []geodb.EditResult) []map[string]any {
			out := make([]map[string]any, 0, len(l))
			for _, x := range l {
				out = append(out, map[string]any{"objectId": x.ObjectID, "globalId": x.GlobalID, "success": true})
			}
			return out
		}
		var dels []map[string]any
		for i, g := range e.Deletes {
			d := map[string]any{"globalId": g, "success": true}
			if i < len(delOIDs) {
				d["objectId"] = delOIDs[i]
			}
			dels = append(dels, d)
		}
		localapi.WriteJSON(w, 200, map[string]any{"addResults": res(addRes), "updateResults": res(updRes), "deleteResults": orEmpty(dels)})
		return nil
	}
}

// fsFeatureGID resolves {oid} to the feature's GlobalID.
func (s *Server) fsFeatureGID(r *http.Request) (*geodb.DB, *geodb.Table, string, error) {
	db, t, err := s.fsTable(r)
	if err != nil {
		return nil, nil, "", err
	}
	if t.AttachTable == "" {
		return nil, nil, "", &localapi.Error{Status: http.StatusBadRequest, Code: "noAttachments", Field: "layer", Message: "the layer has no attachments"}
	}
	oid, _ := strconv.ParseInt(mux.Vars(r)["oid"], 10, 64)
	gids, err := gidsOfOIDs(r, db, t, []int64{oid})
	if err != nil {
		return nil, nil, "", err
	}
	g, ok := gids[oid]
	if !ok {
		return nil, nil, "", localapi.NotFound("objectId", "no feature %d", oid)
	}
	return db, t, g, nil
}

func esriAttachment(m geodb.AttachmentMeta) map[string]any {
	return map[string]any{"id": m.ID, "globalId": m.GlobalID, "parentGlobalId": m.ParentGlobalID, "name": m.Name,
		"contentType": m.ContentType, "size": m.Size, "keywords": m.Keywords}
}

func (s *Server) fsAttachments(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, gid, err := s.fsFeatureGID(r)
		if err != nil {
			return err
		}
		atts, err := db.Attachments(r.Context(), t.LayerID, gid)
		if err != nil {
			return err
		}
		infos := make([]map[string]any, 0, len(atts))
		for _, a := range atts {
			infos = append(infos, esriAttachment(a))
		}
		localapi.WriteJSON(w, 200, map[string]any{"attachmentInfos": infos})
		return nil
	})(w, r)
}

func (s *Server) fsAttachment(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, gid, err := s.fsFeatureGID(r)
		if err != nil {
			return err
		}
		aid, _ := strconv.ParseInt(mux.Vars(r)["aid"], 10, 64)
		atts, err := db.Attachments(r.Context(), t.LayerID, gid)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if a.ID == aid {
				s.api.ServeAttachment(w, r, db, t.LayerID, a)
				return nil
			}
		}
		return localapi.NotFound("attachmentId", "no attachment %d", aid)
	})(w, r)
}

func (s *Server) fsAddAttachment(w http.ResponseWriter, r *http.Request) error {
	// Not wrapped by fsWrap: the multipart body is streamed, not parsed.
	db, t, gid, err := s.fsFeatureGID(r)
	if err != nil {
		localapi.WriteArcGISError(w, err)
		return nil
	}
	if err := localapi.CheckWritable(r.Context(), db, t); err != nil {
		localapi.WriteArcGISError(w, err)
		return nil
	}
	meta, body, err := localapi.AttachmentUpload(r)
	if err != nil {
		localapi.WriteArcGISError(w, err)
		return nil
	}
	meta.ParentGlobalID = gid
	m, err := db.PutAttachment(r.Context(), t.LayerID, meta, body)
	if err != nil {
		localapi.WriteArcGISError(w, err)
		return nil
	}
	localapi.WriteJSON(w, 200, map[string]any{"addAttachmentResult": map[string]any{"objectId": m.ID, "globalId": m.GlobalID, "success": true}})
	return nil
}

func (s *Server) fsDeleteAttachments(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, gid, err := s.fsFeatureGID(r)
		if err != nil {
			return err
		}
		if err := localapi.CheckWritable(r.Context(), db, t); err != nil {
			return err
		}
		atts, err := db.Attachments(r.Context(), t.LayerID, gid)
		if err != nil {
			return err
		}
		byID := map[int64]geodb.AttachmentMeta{}
		for _, a := range atts {
			byID[a.ID] = a
		}
		var del []geodb.AttachmentMeta
		for _, p := range strings.Split(r.Form.Get("attachmentIds"), ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil {
				return localapi.BadRequest("attachmentIds", "attachmentIds must be integers")
			}
			a, ok := byID[n]
			if !ok {
				return localapi.NotFound("attachmentIds", "no attachment %d on this feature", n)
			}
			del = append(del, a)
		}
		var out []map[string]any
		for _, a := range del {
			if err := db.DeleteAttachment(r.Context(), t.LayerID, a.GlobalID); err != nil {
				return err
			}
			out = append(out, map[string]any{"objectId": a.ID, "globalId": a.GlobalID, "success": true})
		}
		localapi.WriteJSON(w, 200, map[string]any{"deleteAttachmentResults": out})
		return nil
	})(w, r)
}
