// Package tiles is the tile part of the ArcGIS REST emulator: cached
// MapServers and ImageServers with exportTiles and estimateExportTilesSize
// (tpkx packages), dynamic MapServers, VectorTileServers with styles,
// sprites, glyphs and vtpk exports, the GP job machinery behind the exports,
// and an open XYZ server. Package emulator composes it with the portal and
// the feature services.
package tiles

import (
	"cmp"
	"slices"

	"github.com/gorilla/mux"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// Config is what the tile services need from the emulator that hosts them.
type Config struct {
	// Router receives the tile routes.
	Router *mux.Router
	// Authorize checks each service request's token (nil: anonymous).
	Authorize rest.AuthFunc
	// JobsFail reports whether export jobs must fail (the FailJobs fault).
	JobsFail func() bool
	// Features returns the features vector tiles draw, by layer name, for a
	// WGS84 bound (nil: vector tiles show a grid).
	Features func(orb.Bound) map[string]*geojson.FeatureCollection
	// Seed makes tiles deterministic.
	Seed int64
	// Tiles configures the services; nil means DemoTileOptions().
	Tiles *TileOptions
}

// Tiles serves the tile services. Create it with New.
type Tiles struct {
	router    *mux.Router
	authorize rest.AuthFunc
	jobsFail  func() bool
	features  func(orb.Bound) map[string]*geojson.FeatureCollection
	opts      struct {
		Seed  int64
		Tiles *TileOptions
	}
	tiles *tileState
	wmts  *wmtsState // wmts.go
}

// New builds the tile services and registers their routes on c.Router.
func New(c Config) *Tiles {
	s := &Tiles{router: c.Router, features: c.Features}
	s.authorize, s.jobsFail = rest.ServiceDefaults(c.Authorize, c.JobsFail)
	s.opts.Seed, s.opts.Tiles = c.Seed, c.Tiles
	s.initTiles()
	s.registerWMTS()
	return s
}

// tileFeatures returns the features vector tiles draw for bound.
func (s *Tiles) tileFeatures(b orb.Bound) map[string]*geojson.FeatureCollection {
	if s.features == nil {
		return nil
	}
	return s.features(b)
}

// Catalog lists the MapServers and VectorTileServers as name and type
// ("MapServer" or "VectorTileServer") pairs, sorted by name, then type.
func (s *Tiles) Catalog() [][2]string {
	var out [][2]string
	for name := range s.tiles.maps {
		out = append(out, [2]string{name, "MapServer"})
	}
	for name := range s.tiles.dynamic {
		out = append(out, [2]string{name, "MapServer"})
	}
	for name := range s.tiles.vectors {
		out = append(out, [2]string{name, "VectorTileServer"})
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	return out
}
