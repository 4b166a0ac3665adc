package features

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// checkGeometry validates an incoming geometry against the layer and
// returns it in Web Mercator without a spatialReference.
func (fs *fsService) checkGeometry(d *layerDef, g *arcgis.Geometry, inSR int) (*arcgis.Geometry, error) {
	if g == nil || g.Type() == "" && g.IsEmpty() {
		return nil, nil
	}
	if d.isTable() {
		return nil, nil
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if g.Type() != d.GeometryType {
		return nil, fmt.Errorf("geometry type %s does not match layer type %s", g.Type(), d.GeometryType)
	}
	if inSR == 0 {
		inSR = 3857
	}
	m := toEPSG(g, geomSR(g, inSR), 3857)
	if m == g {
		c := *g
		m = &c
	}
	m.SpatialReference = nil
	return m, nil
}

// normalizeAttrs maps attribute names to the layer's fields, converts
// values to the stored types and validates them. OID/GlobalID are not
// returned as editable values; the GlobalID (if present) is returned.
func normalizeAttrs(fields []arcgis.Field, in map[string]any) (map[string]any, string, error) {
	out := map[string]any{}
	gid := ""
	var firstErr error
	for k, val := range in {
		var fl *arcgis.Field
		for i := range fields {
			if strings.EqualFold(fields[i].Name, k) {
				fl = &fields[i]
				break
			}
		}
		if fl == nil {
			continue // ArcGIS ignores unknown attributes
		}
		switch fl.Type {
		case arcgis.FieldOID:
			continue
		case arcgis.FieldGlobalID:
			if s, ok := val.(string); ok {
				gid = normGUID(s)
			}
			continue
		}
		if !fl.IsEditable() {
			continue
		}
		cv, err := convertValue(fl, val)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		out[fl.Name] = cv
	}
	return out, gid, firstErr
}

// convertValue checks a value against a field type.
func convertValue(fl *arcgis.Field, val any) (any, error) {
	if val == nil {
		if !fl.IsNullable() {
			return nil, fmt.Errorf("field %s does not accept null", fl.Name)
		}
		return nil, nil
	}
	switch fl.Type {
	case arcgis.FieldString:
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("field %s expects a string, got %T", fl.Name, val)
		}
		if fl.Length > 0 && len([]rune(s)) > fl.Length {
			return nil, fmt.Errorf("value for field %s exceeds its length %d", fl.Name, fl.Length)
		}
		return s, nil
	case arcgis.FieldSmallInteger, arcgis.FieldInteger, arcgis.FieldBigInteger, arcgis.FieldDate:
		f, ok := toNum(val)
		if !ok {
			if s, isStr := val.(string); isStr && fl.Type == arcgis.FieldDate {
				if ms, ok := parseDateLiteral(s); ok {
					return ms, nil
				}
			}
			return nil, fmt.Errorf("field %s expects a number, got %T", fl.Name, val)
		}
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("field %s expects an integer", fl.Name)
		}
		if fl.Type == arcgis.FieldSmallInteger && (f < -32768 || f > 32767) {
			return nil, fmt.Errorf("value for field %s is out of range", fl.Name)
		}
		return int64(f), nil
	case arcgis.FieldDouble, arcgis.FieldSingle:
		f, ok := toNum(val)
		if !ok {
			return nil, fmt.Errorf("field %s expects a number, got %T", fl.Name, val)
		}
		return f, nil
	case arcgis.FieldGUID:
		s, ok := val.(string)
		if !ok || !isGUIDish(s) {
			return nil, fmt.Errorf("field %s expects a GUID", fl.Name)
		}
		return normGUID(s), nil
	}
	return val, nil
}

// attachmentBytesLocked gets an attachment's bytes from base64 data, an
// upload id or an uploads URL; fs.mu must be held.
func (fs *fsService) attachmentBytesLocked(a attEdit) ([]byte, error) {
	switch {
	case a.Data != "":
		b, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil {
			return nil, fmt.Errorf("attachment data is not valid base64: %w", err)
		}
		return b, nil
	case a.UploadID != "":
		return fs.uploads.data(a.UploadID)
	case a.URL != "":
		if i := strings.Index(a.URL, "/uploads/"); i >= 0 {
			id := strings.SplitN(a.URL[i+len("/uploads/"):], "/", 2)[0]
			return fs.uploads.data(id)
		}
		return nil, fmt.Errorf("attachment url %q does not reference an upload", a.URL)
	}
	return nil, fmt.Errorf("attachment has no data, uploadId or url")
}

// parseFeatures reads a JSON array of features (applyEdits adds/updates).
func parseFeatures(raw string) ([]arcgis.Feature, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	var out []arcgis.Feature
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// parseDeletes reads applyEdits deletes: OIDs ("1,2" or [1,2]) or GlobalIDs.
func parseDeletes(raw string) ([]int64, []string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil, nil
	}
	if strings.HasPrefix(raw, "[") {
		var items []any
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			return nil, nil, err
		}
		var oids []int64
		var gids []string
		for _, it := range items {
			switch x := it.(type) {
			case float64:
				oids = append(oids, int64(x))
			case string:
				if isGUIDish(x) {
					gids = append(gids, normGUID(x))
				} else if n, err := parseIDList(x); err == nil {
					oids = append(oids, n...)
				}
			}
		}
		return oids, gids, nil
	}
	var oids []int64
	var gids []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if isGUIDish(p) {
			gids = append(gids, normGUID(p))
			continue
		}
		n, err := parseIDList(p)
		if err != nil {
			return nil, nil, err
		}
		oids = append(oids, n...)
	}
	return oids, gids, nil
}
