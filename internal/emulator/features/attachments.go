package features

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// attachmentURL is the download URL of an attachment.
func (fs *fsService) attachmentURL(r *http.Request, layer int, a attRecord) string {
	return fmt.Sprintf("%s/%d/%d/attachments/%d", fs.baseURL(r), layer, a.ParentOID, a.ID)
}

// attachmentInfo is the wire description of an attachment.
func (a attRecord) info(url string) arcgis.AttachmentInfo {
	return arcgis.AttachmentInfo{ID: a.ID, GlobalID: a.GID, ParentObjectID: a.ParentOID, ParentGlobalID: a.ParentGID,
		Name: a.Name, ContentType: a.ContentType, Size: a.Size, Keywords: a.Keywords, URL: url}
}

func (s *FeatureServer) noAttachments(w http.ResponseWriter, ls *layerStore) bool {
	if !ls.def.attachments {
		rest.WriteError(w, http.StatusOK, 400, "Requested operation is not supported by this service.", "Layer does not have attachments")
		return true
	}
	return false
}

func (s *FeatureServer) handleQueryAttachments(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, _ string) {
	if s.noAttachments(w, ls) {
		return
	}
	v := fs.viewOf(ls)
	where, idSet, ok := queryFilter(w, r, v, "definitionExpression")
	if !ok {
		return
	}
	var gidSet map[string]bool
	if raw := strings.Trim(rest.FormValue(r, "globalIds"), "[]"); raw != "" {
		gidSet = map[string]bool{}
		for _, g := range strings.Split(raw, ",") {
			gidSet[normGUID(strings.Trim(strings.TrimSpace(g), `"`))] = true
		}
	}
	types := map[string]bool{}
	for _, t := range strings.Split(rest.FormValue(r, "attachmentTypes"), ",") {
		if t = strings.TrimSpace(strings.ToLower(t)); t != "" {
			types[t] = true
		}
	}
	groups := []map[string]any{}
	visit := func(oid int64, f arcgis.Feature) bool {
		if !where.match(f.Attributes) {
			return true
		}
		gid := normGUID(fmt.Sprint(f.Attributes[v.def.gidField]))
		if gidSet != nil && !gidSet[gid] {
			return true
		}
		var infos []arcgis.AttachmentInfo
		for _, a := range v.attachmentsOf(oid) {
			if len(types) > 0 && !types[strings.ToLower(a.ContentType)] && !types[strings.ToLower(strings.SplitN(a.ContentType, "/", 2)[0])+"/*"] {
				continue
			}
			infos = append(infos, a.info(fs.attachmentURL(r, v.def.ID, a)))
		}
		if len(infos) > 0 {
			groups = append(groups, map[string]any{"parentObjectId": oid, "parentGlobalId": gid, "attachmentInfos": infos})
		}
		return true
	}
	if idSet != nil {
		for oid := range idSet {
			if f, _, ok := v.get(oid); ok {
				visit(oid, f)
			}
		}
	} else {
		v.each(visit)
	}
	rest.WriteJSON(w, http.StatusOK, map[string]any{"fields": []arcgis.Field{}, "attachmentGroups": groups})
}

func (s *FeatureServer) handleAttachmentList(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, _ string) {
	if s.noAttachments(w, ls) {
		return
	}
	oid, _ := strconv.ParseInt(rest.MuxVar(r, "oid"), 10, 64)
	v := fs.viewOf(ls)
	if _, _, ok := v.get(oid); !ok {
		rest.WriteError(w, http.StatusOK, 404, "Requested object does not exist.", fmt.Sprintf("Object %d not found", oid))
		return
	}
	infos := []arcgis.AttachmentInfo{}
	for _, a := range v.attachmentsOf(oid) {
		infos = append(infos, a.info(fs.attachmentURL(r, v.def.ID, a)))
	}
	rest.WriteJSON(w, http.StatusOK, map[string]any{"attachmentInfos": infos})
}

func (s *FeatureServer) handleAttachmentData(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, _ string) {
	if s.noAttachments(w, ls) {
		return
	}
	oid, _ := strconv.ParseInt(rest.MuxVar(r, "oid"), 10, 64)
	id, _ := strconv.ParseInt(rest.MuxVar(r, "att"), 10, 64)
	v := fs.viewOf(ls)
	a, data, ok := v.attachment(id)
	if !ok || a.ParentOID != oid {
		rest.WriteError(w, http.StatusOK, 404, "Attachment not found.", fmt.Sprintf("Attachment %d of object %d not found", id, oid))
		return
	}
	w.Header().Set("Content-Type", a.ContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", a.Name))
	http.ServeContent(w, r, a.Name, time.UnixMilli(genEpochMillis), bytes.NewReader(data))
}

// legacyAttachmentEdit runs one add/update/delete attachment request
// through the edit engine and writes the legacy response.
func (s *FeatureServer) legacyAttachmentEdit(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, user, key string, e layerEdits) {
	opts := editOptions{useGlobalIDs: true, rollback: true, user: user, canAdd: fs.opts.Create, canUpdate: fs.opts.Update, canDelete: fs.opts.Delete}
	fs.mu.Lock()
	res := fs.applyLayerEditsLocked(ls, e, opts)
	fs.mu.Unlock()
	switch key {
	case "addAttachmentResult":
		rest.WriteJSON(w, http.StatusOK, map[string]any{key: res.AttAdd[0]})
	case "updateAttachmentResult":
		rest.WriteJSON(w, http.StatusOK, map[string]any{key: res.AttUpdate[0]})
	default:
		rest.WriteJSON(w, http.StatusOK, map[string]any{key: nz(res.AttDelete)})
	}
}

// attachmentFromRequest reads the "attachment" multipart file or uploadId.
func attachmentFromRequest(r *http.Request, limit int64) (attEdit, error) {
	if id := rest.FormValue(r, "uploadId"); id != "" {
		return attEdit{UploadID: id}, nil
	}
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		return attEdit{}, fmt.Errorf("multipart form: %w", err)
	}
	f, hdr, err := r.FormFile("attachment")
	if err != nil {
		return attEdit{}, fmt.Errorf("missing attachment: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return attEdit{}, err
	}
	if int64(buf.Len()) > limit {
		return attEdit{}, fmt.Errorf("attachment larger than %d bytes", limit)
	}
	return attEdit{Name: hdr.Filename, ContentType: hdr.Header.Get("Content-Type"), Data: base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

func (s *FeatureServer) featureGID(fs *fsService, ls *layerStore, oid int64) (string, bool) {
	v := fs.viewOf(ls)
	f, _, ok := v.get(oid)
	if !ok {
		return "", false
	}
	return normGUID(fmt.Sprint(f.Attributes[v.def.gidField])), true
}

func (s *FeatureServer) handleAddAttachment(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, user string) {
	if s.noAttachments(w, ls) {
		return
	}
	oid, _ := strconv.ParseInt(rest.MuxVar(r, "oid"), 10, 64)
	gid, ok := s.featureGID(fs, ls, oid)
	if !ok {
		rest.WriteError(w, http.StatusOK, 404, "Requested object does not exist.", fmt.Sprintf("Object %d not found", oid))
		return
	}
	a, err := attachmentFromRequest(r, fs.opts.MaxUploadBytes)
	if err != nil {
		rest.ParamError(w, err.Error())
		return
	}
	a.ParentGlobalID = gid
	s.legacyAttachmentEdit(w, r, fs, ls, user, "addAttachmentResult", layerEdits{AttAdds: []attEdit{a}})
}

func (s *FeatureServer) handleUpdateAttachment(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, user string) {
	if s.noAttachments(w, ls) {
		return
	}
	oid, _ := strconv.ParseInt(rest.MuxVar(r, "oid"), 10, 64)
	id, err := strconv.ParseInt(rest.FormValue(r, "attachmentId"), 10, 64)
	if err != nil {
		rest.ParamError(w, "'attachmentId' is required")
		return
	}
	v := fs.viewOf(ls)
	cur, _, ok := v.attachment(id)
	if !ok || cur.ParentOID != oid {
		rest.WriteError(w, http.StatusOK, 404, "Attachment not found.", fmt.Sprintf("Attachment %d of object %d not found", id, oid))
		return
	}
	a, err := attachmentFromRequest(r, fs.opts.MaxUploadBytes)
	if err != nil {
		rest.ParamError(w, err.Error())
		return
	}
	a.GlobalID = cur.GID
	s.legacyAttachmentEdit(w, r, fs, ls, user, "updateAttachmentResult", layerEdits{AttUpdates: []attEdit{a}})
}

func (s *FeatureServer) handleDeleteAttachments(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, user string) {
	if s.noAttachments(w, ls) {
		return
	}
	oid, _ := strconv.ParseInt(rest.MuxVar(r, "oid"), 10, 64)
	ids, err := parseIDList(rest.FormValue(r, "attachmentIds"))
	if err != nil || len(ids) == 0 {
		rest.ParamError(w, "'attachmentIds' is required")
		return
	}
	v := fs.viewOf(ls)
	var results []editResult
	var gids []string
	for _, id := range ids {
		a, _, ok := v.attachment(id)
		if !ok || a.ParentOID != oid {
			results = append(results, failRes(id, "", editErrMissing, "Attachment is missing."))
			continue
		}
		gids = append(gids, a.GID)
	}
	opts := editOptions{useGlobalIDs: true, rollback: false, user: user, canDelete: fs.opts.Delete}
	fs.mu.Lock()
	res := fs.applyLayerEditsLocked(ls, layerEdits{AttDeletes: gids}, opts)
	fs.mu.Unlock()
	rest.WriteJSON(w, http.StatusOK, map[string]any{"deleteAttachmentResults": append(nz(res.AttDelete), results...)})
}
