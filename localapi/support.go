package localapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/offlined/offlined/geodb"
)

// This file is what route packages under localapi (localapi/featureserver)
// use of the Server: registering routes behind its middleware, its maps and
// logger, and the shared JSON, GeoJSON and error writers.

// HandlerFunc is a route handler; a returned error is written as the
// API's JSON error (handlers of the ArcGIS routes write their own shape
// and return nil).
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle registers h for method and path behind the Server's middleware
// (token, Host check, body limit).
func (s *Server) Handle(method, path string, h HandlerFunc) { s.handle(method, path, h) }

// HandleUpload registers an attachment upload route (the
// MaxAttachmentBytes body limit).
func (s *Server) HandleUpload(method, path string, h HandlerFunc) { s.handleUpload(method, path, h) }

// Maps returns the offline maps the Server answers for.
func (s *Server) Maps() Maps { return s.reg }

// Logger returns the Server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// ServeAttachment writes attachment m of layer layerID (ranges, ETag, a
// sandboxing CSP, downloads for active content).
func (s *Server) ServeAttachment(w http.ResponseWriter, r *http.Request, db *geodb.DB, layerID int, m geodb.AttachmentMeta) {
	serveAttachment(w, r, db, layerID, m, s)
}

// AttachmentUpload reads an attachment upload (multipart form or raw
// body) from r.
func AttachmentUpload(r *http.Request) (geodb.AttachmentMeta, io.Reader, error) {
	return attachmentUpload(r)
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// WriteArcGISError writes err in the ArcGIS error shape with its 4xx status:
// {"error":{"code":400,"message":"…","details":["<code>"],"field":"…"}}.
func WriteArcGISError(w http.ResponseWriter, err error) { fsError(w, err) }

func fsError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	code := ae.Status
	if ae.ArcGISCode != 0 {
		code = ae.ArcGISCode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": ae.Message, "details": []string{ae.Code}, "field": ae.Field}})
}

// IsBroken reports whether err is the 409 brokenPackage of a package file
// that cannot be used.
func IsBroken(err error) bool { return isBroken(err) }

// BrokenMap is the 409 brokenPackage for a map whose feature stores are
// all unusable.
func BrokenMap(mi MapInfo) *Error { return brokenMap(mi) }

// CheckLonLat refuses a WGS84 position outside lon -180..180, lat -90..90.
func CheckLonLat(lon, lat float64) error { return checkLonLat(lon, lat) }

// CheckWritable refuses edits to a layer the package holds read-only (a
// snapshot, or a layer synced download-only).
func CheckWritable(ctx context.Context, db *geodb.DB, t *geodb.Table) error {
	return checkWritable(ctx, db, t)
}

// LayerReadOnly reports whether layer t of db is read-only offline.
func LayerReadOnly(ctx context.Context, db *geodb.DB, t *geodb.Table) (bool, error) {
	return layerReadOnly(ctx, db, t)
}

// Xform is a table's coordinate conversion between its spatial reference
// and WGS84.
type Xform struct{ x coordXform }

// XformFor returns the coordinate conversion of table t.
func XformFor(t *geodb.Table) Xform {
	x, _ := xformFor(t)
	return Xform{x}
}

// FromWGS converts a WGS84 longitude/latitude to the table's coordinates.
func (x Xform) FromWGS(lon, lat float64) (float64, float64) { return x.x.fromWGS(lon, lat) }

// JSONStream writes a JSON document piece by piece through a buffer; the
// first error sticks.
type JSONStream struct{ s *jsonStream }

// NewJSONStream returns a JSONStream writing to w.
func NewJSONStream(w io.Writer) *JSONStream { return &JSONStream{newJSONStream(w)} }

// Raw writes t as it is.
func (j *JSONStream) Raw(t string) { j.s.raw(t) }

// Value writes v encoded.
func (j *JSONStream) Value(v any) error { return j.s.value(v) }

// Write writes already encoded JSON.
func (j *JSONStream) Write(b []byte) error { return j.s.write(b) }

// Features writes up to limit rows of q from db as comma-separated GeoJSON
// Features (WGS84) of t; more reports a row beyond limit (ask for
// limit+1).
func (j *JSONStream) Features(ctx context.Context, db *geodb.DB, q geodb.Query, t *geodb.Table, limit int) (n int, more bool, err error) {
	x, _ := xformFor(t)
	return j.s.features(ctx, db, q, t, x, limit)
}

// Flush flushes the buffer.
func (j *JSONStream) Flush() error { return j.s.flush() }
