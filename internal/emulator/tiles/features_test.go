package tiles

import (
	"github.com/gorilla/mux"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/offlined/offlined/internal/emulator/features"
)

// testFeatures builds the demo feature services on router and returns the
// features vector tiles draw, as the emulator wires them.
func testFeatures(router *mux.Router) func(orb.Bound) map[string]*geojson.FeatureCollection {
	return features.New(features.Config{Router: router, Seed: 1}).TileFeatures
}
