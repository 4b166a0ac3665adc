package features

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// uploadItem is one uploaded file (committed) or a registered multi-part
// upload (parts pending until commit).
type uploadItem struct {
	ID          string
	Name        string
	Description string
	Date        int64
	Committed   bool
	Data        []byte
	Parts       map[string][]byte
}

// uploadStore keeps uploads in memory up to a byte budget.
type uploadStore struct {
	mu    sync.Mutex
	max   int64
	used  int64
	items map[string]*uploadItem
}

func newUploadStore(max int64) *uploadStore {
	return &uploadStore{max: max, items: map[string]*uploadItem{}}
}

// data returns a committed upload's bytes.
func (u *uploadStore) data(id string) ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	it, ok := u.items[strings.Trim(id, "{}")]
	if !ok {
		it, ok = u.items[id]
	}
	if !ok {
		return nil, fmt.Errorf("upload %s does not exist", id)
	}
	if !it.Committed {
		return nil, fmt.Errorf("upload %s is not committed", id)
	}
	return it.Data, nil
}

func (u *uploadStore) reserve(n int64) error {
	if u.used+n > u.max {
		return fmt.Errorf("upload storage limit of %d bytes exceeded", u.max)
	}
	u.used += n
	return nil
}

func (it *uploadItem) json() map[string]any {
	return map[string]any{"itemID": it.ID, "itemName": it.Name, "description": it.Description, "date": it.Date, "committed": it.Committed}
}

// readFilePart reads the multipart "file" field (bounded by limit).
func readFilePart(r *http.Request, limit int64) ([]byte, string, error) {
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		return nil, "", fmt.Errorf("multipart form: %w", err)
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return nil, "", fmt.Errorf("missing file: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(f, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("read file: %w", err)
	}
	if n > limit {
		return nil, "", fmt.Errorf("file larger than the upload limit of %d bytes", limit)
	}
	return buf.Bytes(), hdr.Filename, nil
}

func (s *FeatureServer) uploadsAllowed(w http.ResponseWriter, fs *fsService) bool {
	if !(fs.opts.Uploads || fs.canEdit()) {
		rest.WriteError(w, http.StatusOK, 400, "Requested operation is not supported by this service.", "The service does not support uploads")
		return false
	}
	return true
}

func (s *FeatureServer) newUploadID(fs *fsService) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return "i" + strings.ToLower(fs.newIDLocked())
}

func (s *FeatureServer) handleUpload(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	if !s.uploadsAllowed(w, fs) {
		return
	}
	data, name, err := readFilePart(r, fs.opts.MaxUploadBytes)
	if err != nil {
		rest.ParamError(w, err.Error())
		return
	}
	it := &uploadItem{ID: s.newUploadID(fs), Name: name, Description: rest.FormValue(r, "description"), Date: nowMillis(), Committed: true, Data: data}
	u := fs.uploads
	u.mu.Lock()
	err = u.reserve(int64(len(data)))
	if err == nil {
		u.items[it.ID] = it
	}
	u.mu.Unlock()
	if err != nil {
		rest.WriteError(w, http.StatusOK, 500, "Unable to upload item.", err.Error())
		return
	}
	rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "item": it.json()})
}

func (s *FeatureServer) handleUploadRegister(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	if !s.uploadsAllowed(w, fs) {
		return
	}
	name := rest.FormValue(r, "itemName")
	if name == "" {
		rest.ParamError(w, "'itemName' is required")
		return
	}
	it := &uploadItem{ID: s.newUploadID(fs), Name: name, Description: rest.FormValue(r, "description"), Date: nowMillis(), Parts: map[string][]byte{}}
	u := fs.uploads
	u.mu.Lock()
	u.items[it.ID] = it
	u.mu.Unlock()
	rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "item": it.json()})
}

// uploadRoute serves h for the upload item the path names, answering
// ArcGIS's "does not exist" when there is none.
func (s *FeatureServer) uploadRoute(h func(w http.ResponseWriter, r *http.Request, fs *fsService, it *uploadItem)) func(http.ResponseWriter, *http.Request, *fsService, string) {
	return func(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
		id := rest.MuxVar(r, "item")
		fs.uploads.mu.Lock()
		it, ok := fs.uploads.items[id]
		fs.uploads.mu.Unlock()
		if !ok {
			rest.WriteError(w, http.StatusOK, 404, "Item does not exist or is inaccessible.", "Upload "+id+" not found")
			return
		}
		h(w, r, fs, it)
	}
}

func (s *FeatureServer) handleUploadItem(w http.ResponseWriter, r *http.Request, fs *fsService, it *uploadItem) {
	fs.uploads.mu.Lock()
	body := it.json()
	body["size"] = len(it.Data)
	fs.uploads.mu.Unlock()
	rest.WriteJSON(w, http.StatusOK, map[string]any{"item": body})
}

func (s *FeatureServer) handleUploadPart(w http.ResponseWriter, r *http.Request, fs *fsService, it *uploadItem) {
	data, _, err := readFilePart(r, fs.opts.MaxUploadBytes)
	if err != nil {
		rest.ParamError(w, err.Error())
		return
	}
	part := rest.FormValue(r, "partId")
	if part == "" {
		rest.ParamError(w, "'partId' is required")
		return
	}
	u := fs.uploads
	u.mu.Lock()
	switch {
	case it.Committed:
		err = fmt.Errorf("upload %s is already committed", it.ID)
	default:
		if old, ok := it.Parts[part]; ok {
			u.used -= int64(len(old))
		}
		if err = u.reserve(int64(len(data))); err == nil {
			it.Parts[part] = data
		}
	}
	u.mu.Unlock()
	if err != nil {
		rest.WriteError(w, http.StatusOK, 500, "Unable to upload part.", err.Error())
		return
	}
	rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "part": map[string]any{"partId": part, "size": len(data)}})
}

func (s *FeatureServer) handleUploadCommit(w http.ResponseWriter, r *http.Request, fs *fsService, it *uploadItem) {
	u := fs.uploads
	u.mu.Lock()
	defer u.mu.Unlock()
	if it.Committed {
		rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "item": it.json()})
		return
	}
	var order []string
	if p := strings.TrimSpace(rest.FormValue(r, "parts")); p != "" {
		for _, id := range strings.Split(p, ",") {
			order = append(order, strings.TrimSpace(id))
		}
	} else {
		for id := range it.Parts {
			order = append(order, id)
		}
		sort.Slice(order, func(i, j int) bool {
			a, e1 := strconv.Atoi(order[i])
			b, e2 := strconv.Atoi(order[j])
			if e1 == nil && e2 == nil {
				return a < b
			}
			return order[i] < order[j]
		})
	}
	var buf bytes.Buffer
	for _, id := range order {
		p, ok := it.Parts[id]
		if !ok {
			rest.WriteError(w, http.StatusOK, 400, "Unable to commit item.", "Part "+id+" was not uploaded")
			return
		}
		buf.Write(p)
	}
	it.Data, it.Parts, it.Committed = buf.Bytes(), nil, true
	if d := rest.FormValue(r, "description"); d != "" {
		it.Description = d
	}
	rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "item": it.json()})
}

func (s *FeatureServer) handleUploadDelete(w http.ResponseWriter, r *http.Request, fs *fsService, it *uploadItem) {
	u := fs.uploads
	u.mu.Lock()
	u.used -= int64(len(it.Data))
	for _, p := range it.Parts {
		u.used -= int64(len(p))
	}
	delete(u.items, it.ID)
	u.mu.Unlock()
	rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
}

func (s *FeatureServer) handleUploadsInfo(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	rest.WriteJSON(w, http.StatusOK, map[string]any{"maxUploadFileSize": fs.opts.MaxUploadBytes >> 20, "maxUploadFileSizeUnit": "MB"})
}
