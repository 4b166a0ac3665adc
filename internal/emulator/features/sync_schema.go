package features

import (
	"fmt"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// RemoveField drops a field from a layer's schema (a schema change made on
// the server, used by the sync tests). Stored features lose the attribute.
func (s *FeatureServer) RemoveField(svc string, layer int, name string) error {
	return s.withStore(svc, layer, func(fs *fsService, ls *layerStore) error {
		if _, ok := ls.def.field(name); !ok {
			return fmt.Errorf("remove field %s from %s/%d: %w", name, svc, layer, ErrNotFound)
		}
		var fields []arcgis.Field
		for _, f := range ls.def.fields {
			if !strings.EqualFold(f.Name, name) {
				fields = append(fields, f)
			}
		}
		ls.def.fields = fields
		ls.def.reindex()
		for oid, r := range ls.recs {
			attrs := make(map[string]any, len(r.Feature.Attributes))
			for k, v := range r.Feature.Attributes {
				if !strings.EqualFold(k, name) {
					attrs[k] = v
				}
			}
			nr := *r
			nr.Feature = arcgis.Feature{Attributes: attrs, Geometry: r.Feature.Geometry}
			ls.recs[oid] = &nr
		}
		return nil
	})
}
