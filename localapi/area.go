package localapi

import (
	"encoding/json"

	"github.com/offlined/offlined/internal/arcgis"
)

// Area is an area of interest on the native API: an Esri envelope or
// polygon, or a GeoJSON Polygon or MultiPolygon (bare, or as a Feature).
// Without a spatialReference it is WGS84 lon/lat, as bbox and GeoJSON are
// everywhere in the native API; another reference must be named. (The
// ArcGIS-compatible routes keep ArcGIS's rule: the map's reference.)
type Area struct {
	arcgis.Geometry
	// GeoJSON is true when the area was given as GeoJSON.
	GeoJSON bool `json:"-"`
}

// UnmarshalJSON reads either form.
func (a *Area) UnmarshalJSON(b []byte) error {
	var probe struct {
		Type     string          `json:"type"`
		Geometry json.RawMessage `json:"geometry"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return badRequest("areaOfInterest", "%v", err)
	}
	if probe.Type == "Feature" {
		if len(probe.Geometry) == 0 {
			return badRequest("areaOfInterest", "a GeoJSON Feature without a geometry")
		}
		return a.UnmarshalJSON(probe.Geometry)
	}
	if probe.Type != "" {
		if probe.Type != "Polygon" && probe.Type != "MultiPolygon" {
			return badRequest("areaOfInterest", "GeoJSON %s is not a Polygon or MultiPolygon", probe.Type)
		}
		g, err := esriFromGeoJSON(b, coordXform{toWGS: identity, fromWGS: identity, lonLat: true}, false, "areaOfInterest")
		if err != nil {
			return err
		}
		a.Geometry, a.GeoJSON = *g, true
		a.SpatialReference = &arcgis.SpatialReference{WKID: 4326}
		return nil
	}
	if err := json.Unmarshal(b, &a.Geometry); err != nil {
		return badRequest("areaOfInterest", "%v", err)
	}
	if a.SpatialReference == nil {
		a.SpatialReference = &arcgis.SpatialReference{WKID: 4326}
	}
	return nil
}

// Esri returns the area as an Esri geometry (nil for a nil area).
func (a *Area) Esri() *arcgis.Geometry {
	if a == nil {
		return nil
	}
	g := a.Geometry
	return &g
}
