package tiles

import (
	"github.com/gorilla/mux"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// testFeatures returns the features vector tiles draw (none yet).
func testFeatures(*mux.Router) func(orb.Bound) map[string]*geojson.FeatureCollection {
	return nil
}
