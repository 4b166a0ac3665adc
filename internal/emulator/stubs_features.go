package emulator

import (
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// featureState is owned by featureserver*.go (replace this stub file).
type featureState struct{}

// FeatureServiceOptions configures one emulated feature service.
type FeatureServiceOptions struct{ Name string }

func (s *Server) initFeatures() { s.features = &featureState{} }

// tileFeatures returns the current features of the first (demo) feature
// service's spatial layers that intersect bound (WGS84 lon/lat), keyed by
// layer name, geometries in WGS84. The vector tile server encodes them.
func (s *Server) tileFeatures(bound orb.Bound) map[string]*geojson.FeatureCollection {
	return nil
}
