package featureserver

import (
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/localapi"
)

func FuzzEsriGeometryParam(f *testing.F) {
	for _, s := range []string{`-117.25,33.98,-117.1,34.1`, `{"x":1,"y":2}`, `{"xmin":1,"ymin":2,"xmax":3,"ymax":4,"spatialReference":{"wkid":4326}}`,
		`{"rings":[[[0,0],[1,0],[1,1],[0,0]]]}`, `{"paths":[[[0,0],[1,1]]]}`, `1,2,3`, `{`} {
		f.Add(s, "4326")
		f.Add(s, "")
	}
	tb := &geodb.Table{SRSID: 3857, Layer: arcgis.Layer{SpatialReference: &arcgis.SpatialReference{WKID: 102100}}}
	f.Fuzz(func(t *testing.T, v, inSR string) {
		g, err := parseEsriGeometry(v, inSR, tb)
		if err != nil {
			if ae, ok := err.(*localapi.Error); !ok || ae.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if g == nil {
			t.Fatal("nil geometry without error")
		}
	})
}
