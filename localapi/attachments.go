package localapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/geodb"
)

// attachmentJSON is an attachment as the API shows it.
func attachmentJSON(m geodb.AttachmentMeta) map[string]any {
	return map[string]any{"id": m.ID, "globalId": m.GlobalID, "parentGlobalId": m.ParentGlobalID, "name": m.Name,
		"contentType": m.ContentType, "size": m.Size, "sha256": m.SHA256, "keywords": m.Keywords}
}

func (s *Server) featureAndLayer(r *http.Request) (*layerRef, string, error) {
	lr, err := s.routeLayer(r)
	if err != nil {
		return nil, "", err
	}
	gid, err := featureGlobalID(r, lr)
	if err != nil {
		return nil, "", err
	}
	if _, err := existingFeature(r.Context(), lr, gid); err != nil {
		return nil, "", err
	}
	if lr.t.AttachTable == "" {
		return nil, "", &Error{Status: http.StatusConflict, Code: "noAttachments", Field: "layer", Message: "the layer has no attachments"}
	}
	return lr, gid, nil
}

func (s *Server) listAttachments(w http.ResponseWriter, r *http.Request) error {
	lr, gid, err := s.featureAndLayer(r)
	if err != nil {
		return err
	}
	atts, err := lr.db.Attachments(r.Context(), lr.t.LayerID, gid)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(atts))
	for i, a := range atts {
		out[i] = attachmentJSON(a)
	}
	writeJSON(w, 200, map[string]any{"attachments": out})
	return nil
}

// uploadAttachment streams the request body (raw, with Content-Type and the
// name query parameter, or multipart with an "attachment" or "file" part)
// into the feature's attachments.
func (s *Server) uploadAttachment(w http.ResponseWriter, r *http.Request) error {
	lr, gid, err := s.featureAndLayer(r)
	if err != nil {
		return err
	}
	if err := checkWritable(r.Context(), lr.db, lr.t); err != nil {
		return err
	}
	meta, body, err := attachmentUpload(r)
	if err != nil {
		return err
	}
	meta.ParentGlobalID = gid
	m, err := lr.db.PutAttachment(r.Context(), lr.t.LayerID, meta, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, attachmentJSON(m))
	return nil
}

// attachmentUpload reads the attachment's metadata and opens its content.
// Every upload route goes through it, so the name, keywords and content
// type are checked the same way whichever form the body takes.
func attachmentUpload(r *http.Request) (geodb.AttachmentMeta, io.Reader, error) {
	meta, body, err := attachmentUploadParts(r)
	if err != nil {
		return meta, nil, err
	}
	if err := checkAttachmentName(meta.Name); err != nil {
		return meta, nil, err
	}
	if len(meta.Keywords) > 1024 || !utf8.ValidString(meta.Keywords) || strings.ContainsRune(meta.Keywords, 0) {
		return meta, nil, badRequest("keywords", "keywords must be valid UTF-8 text of at most 1024 bytes")
	}
	mt, _, err := mime.ParseMediaType(meta.ContentType)
	if err != nil || !strings.Contains(mt, "/") {
		return meta, nil, badRequest("Content-Type", "invalid content type %q", meta.ContentType)
	}
	meta.ContentType = mt
	return meta, body, nil
}

// checkAttachmentName refuses attachment names that are not a plain file
// name: empty, over 255 bytes, invalid UTF-8, with a path separator, a
// control character (NUL included), or "." / "..".
func checkAttachmentName(name string) error {
	switch {
	case name == "":
		return badRequest("name", "the attachment needs a name")
	case len(name) > 255:
		return badRequest("name", "the attachment name is over 255 bytes")
	case !utf8.ValidString(name):
		return badRequest("name", "the attachment name is not valid UTF-8")
	case name == "." || name == "..":
		return badRequest("name", "the attachment name must be a file name")
	case strings.ContainsAny(name, "/\\"):
		return badRequest("name", "the attachment name must not contain / or \\")
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return badRequest("name", "the attachment name must not contain control characters")
		}
	}
	return nil
}

// attachmentUploadParts reads the metadata (unchecked) and opens the content:
// a raw body with Content-Type and the name query parameter, or multipart
// with an "attachment" or "file" part.
func attachmentUploadParts(r *http.Request) (geodb.AttachmentMeta, io.Reader, error) {
	q := r.URL.Query()
	meta := geodb.AttachmentMeta{Name: q.Get("name"), Keywords: q.Get("keywords")}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return meta, nil, badRequest("body", "invalid multipart body: %v", err)
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return meta, nil, badRequest("attachment", "multipart body has no attachment or file part")
			}
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return meta, nil, err
				}
				return meta, nil, badRequest("body", "invalid multipart body: %v", err)
			}
			switch part.FormName() {
			case "attachment", "file":
				if meta.Name == "" {
					// The raw file name: Part.FileName would quietly
					// shorten "../x" to "x"; it is checked, not repaired.
					_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
					meta.Name = params["filename"]
				}
				meta.ContentType = part.Header.Get("Content-Type")
				if meta.ContentType == "" {
					meta.ContentType = "application/octet-stream"
				}
				return meta, part, nil
			case "keywords":
				b, _ := io.ReadAll(io.LimitReader(part, 1025))
				meta.Keywords = string(b)
			}
		}
	}
	if meta.Name == "" {
		return meta, nil, badRequest("name", "the name query parameter is required")
	}
	if mt == "" {
		return meta, nil, badRequest("Content-Type", "a Content-Type header is required")
	}
	meta.ContentType = ct
	return meta, r.Body, nil
}

func (s *Server) attachmentMeta(r *http.Request) (*layerRef, geodb.AttachmentMeta, error) {
	lr, gid, err := s.featureAndLayer(r)
	if err != nil {
		return nil, geodb.AttachmentMeta{}, err
	}
	aid, ok := geodb.NormalizeGlobalID(mux.Vars(r)["attachment"])
	if !ok {
		// The attachment's "id" in listings (digits) names it too.
		raw := mux.Vars(r)["attachment"]
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || raw != strconv.FormatInt(n, 10) {
			return nil, geodb.AttachmentMeta{}, notFound("attachment", "an attachment id is its id or its GlobalID; got %q", raw)
		}
		list, err := lr.db.Attachments(r.Context(), lr.t.LayerID, gid)
		if err != nil {
			return nil, geodb.AttachmentMeta{}, err
		}
		for _, m := range list {
			if m.ID == n {
				aid, ok = m.GlobalID, true
			}
		}
		if !ok {
			return nil, geodb.AttachmentMeta{}, notFound("attachment", "no attachment %d on this feature", n)
		}
	}
	m, err := lr.db.AttachmentByGlobalID(r.Context(), lr.t.LayerID, aid)
	if err != nil {
		if errors.Is(err, geodb.ErrNoAttachment) {
			return nil, m, notFound("attachment", "no attachment %s", aid)
		}
		return nil, m, err
	}
	if m.ParentGlobalID != gid {
		return nil, m, notFound("attachment", "no attachment %s on feature %s", aid, gid)
	}
	return lr, m, nil
}

// downloadAttachment streams an attachment with Content-Type,
// Content-Length, an ETag (its SHA-256) and single-range support.
func (s *Server) downloadAttachment(w http.ResponseWriter, r *http.Request) error {
	lr, m, err := s.attachmentMeta(r)
	if err != nil {
		return err
	}
	serveAttachment(w, r, lr.db, lr.t.LayerID, m, s)
	return nil
}

func serveAttachment(w http.ResponseWriter, r *http.Request, db *geodb.DB, layerID int, m geodb.AttachmentMeta, s *Server) {
	h := w.Header()
	ct, disp := attachmentType(m.ContentType)
	h.Set("Content-Type", ct)
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+m.SHA256+`"`)
	// Stored content is never active on the daemon's origin: no sniffing, a
	// sandboxing CSP (also set by guard), and anything but passive media is
	// a download.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", apiCSP)
	if d := mime.FormatMediaType(disp, map[string]string{"filename": m.Name}); d != "" {
		h.Set("Content-Disposition", d)
	} else {
		h.Set("Content-Disposition", disp)
	}
	start, end := int64(0), m.Size-1
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && m.Size > 0 {
		a, b, ok := parseRange(rg, m.Size)
		if !ok {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", m.Size))
			writeError(w, &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: "badRange", Field: "Range", Message: "range not satisfiable"})
			return
		}
		start, end, status = a, b, http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, m.Size))
	}
	h.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	rw := &rangeWriter{w: w, skip: start, left: end - start + 1}
	if _, err := db.ReadAttachment(r.Context(), layerID, m.GlobalID, rw); err != nil {
		s.log.Error("attachment read failed", "attachment", m.GlobalID, "err", err)
		panic(http.ErrAbortHandler) // the client must see a broken transfer
	}
}

// attachmentType returns the Content-Type and disposition an attachment is
// served with: raster images, audio, video and plain text inline, everything
// else (HTML, SVG, XML, scripts, PDF, unknown) as an attachment; a stored
// type that does not parse is served as application/octet-stream.
func attachmentType(stored string) (string, string) {
	mt, params, err := mime.ParseMediaType(stored)
	if err != nil || !strings.Contains(mt, "/") {
		return "application/octet-stream", "attachment"
	}
	ct := mime.FormatMediaType(mt, params)
	if ct == "" {
		ct = mt
	}
	major, _, _ := strings.Cut(mt, "/")
	switch {
	case mt == "image/png", mt == "image/jpeg", mt == "image/gif", mt == "image/webp", mt == "image/avif", mt == "image/bmp", mt == "image/heic", mt == "image/tiff":
		return ct, "inline"
	case major == "audio", major == "video":
		return ct, "inline"
	case mt == "text/plain":
		return ct, "inline"
	}
	return ct, "attachment"
}

// parseRange parses one "bytes=" range against size.
func parseRange(h string, size int64) (int64, int64, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		if n > size {
			n = size
		}
		return size - n, size - 1, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	end := size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return 0, 0, false
		}
		if e < end {
			end = e
		}
	}
	return start, end, true
}

// rangeWriter passes on bytes skip..skip+left and discards the rest.
type rangeWriter struct {
	w    io.Writer
	skip int64
	left int64
}

// Write passes on the part of p inside the range.
func (rw *rangeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if rw.skip > 0 {
		if int64(len(p)) <= rw.skip {
			rw.skip -= int64(len(p))
			return n, nil
		}
		p = p[rw.skip:]
		rw.skip = 0
	}
	if int64(len(p)) > rw.left {
		p = p[:rw.left]
	}
	if len(p) > 0 {
		if _, err := rw.w.Write(p); err != nil {
			return 0, err
		}
		rw.left -= int64(len(p))
	}
	return n, nil
}

func (s *Server) deleteAttachment(w http.ResponseWriter, r *http.Request) error {
	lr, m, err := s.attachmentMeta(r)
	if err != nil {
		return err
	}
	if err := checkWritable(r.Context(), lr.db, lr.t); err != nil {
		return err
	}
	if err := lr.db.DeleteAttachment(r.Context(), lr.t.LayerID, m.GlobalID); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"globalId": m.GlobalID, "deleted": true})
	return nil
}
