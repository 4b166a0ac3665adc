// Package emulator is an in-process ArcGIS REST emulator: an http.Handler
// that answers portal, FeatureServer, MapServer and VectorTileServer requests
// in the shapes real ArcGIS services use (see shared/arcgis-fixtures), with
// deterministic generated data and fault knobs for tests, benchmarks and
// `offlined demo`. It imports no testing package; see emulatortest for test
// helpers.
//
// This package is the composition root: it owns the router, the request log
// and the fault knobs, and wires the parts in its subpackages — portal
// (tokens, items, search), features (FeatureServers), tiles (MapServer,
// VectorTileServer, exports, XYZ) and demo (demo items and web maps), with
// rest holding their shared HTTP helpers. The parts' Go APIs (AddItem,
// EditFeatures, TileBytes, …) are promoted onto Server.
//
// URL layout (the host is whatever the request came to):
//
//	/sharing/rest/...                               portal (tokens, items, search)
//	/arcgis/rest/info                               server info
//	/arcgis/rest/services/{svc}/FeatureServer/...   feature services
//	/arcgis/rest/services/{svc}/MapServer/...       tiled map services
//	/arcgis/rest/services/{svc}/VectorTileServer/...
package emulator

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/internal/emulator/demo"
	"github.com/offlined/offlined/internal/emulator/features"
	"github.com/offlined/offlined/internal/emulator/portal"
	"github.com/offlined/offlined/internal/emulator/rest"
	"github.com/offlined/offlined/internal/emulator/tiles"
)

// Options configures an emulator. The zero value is usable: it serves the
// demo user, the demo feature service and the demo tile services.
type Options struct {
	// Users maps user names to passwords. Empty means DemoUser/DemoPassword.
	Users map[string]string
	// TokenLifetime is how long issued tokens stay valid. Zero means 60 minutes.
	TokenLifetime time.Duration
	// Now is the clock tokens expire by (nil: time.Now); tests pass a fake.
	Now func() time.Time
	// Anonymous lets requests without a token read and edit services.
	Anonymous bool
	// PublicServices names feature services open to requests without a
	// token (query, applyEdits, createReplica, synchronizeReplica), as a
	// public ArcGIS service is; SetServicePublic changes it while running.
	PublicServices []string
	// EnterpriseLogins makes every user an enterprise (SAML) account: they
	// sign in only through the OAuth authorize page, generateToken refuses
	// them, and portals/self says so (canSignInIDP).
	EnterpriseLogins bool
	// RefreshTokenLifetime is how long OAuth refresh tokens stay valid. Zero
	// means RefreshTokenLifetime (two weeks).
	RefreshTokenLifetime time.Duration
	// Seed makes generated data deterministic. Zero means 1.
	Seed int64
	// FeatureServices configures the feature services. Nil means the demo
	// services (DemoFeatureServices(): Field_Survey and Reference_Data).
	FeatureServices []FeatureServiceOptions
	// Tiles configures the tile services. Nil means the demo tile services.
	Tiles *TileOptions
	// Faults injects failures; it can be changed while running with SetFaults.
	Faults Faults
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Faults are the failure knobs. Rates are probabilities in [0,1]; a zero
// value injects nothing. Paths restricts faults to request paths that
// contain one of the given substrings (empty means every path).
type Faults struct {
	Latency          time.Duration // added before every response
	ErrorRate        float64       // chance of an HTTP 500
	ErrorBurst       int           // the next N requests fail with HTTP 503
	TooManyRate      float64       // chance of a 429
	TooManyBurst     int           // the next N requests get 429
	RetryAfter       time.Duration // Retry-After sent with 429s (rounded up to seconds)
	CutAfterBytes    int64         // cut the connection after this many body bytes (0: never)
	CutRate          float64       // chance that a response is cut (uses CutAfterBytes, or 0 bytes)
	ExpireTokensNow  bool          // consumed: invalidates every token issued so far
	TokenErrorAsHTTP bool          // answer invalid tokens with HTTP 401/403 instead of 200 + error body
	FailJobs         bool          // async jobs (replicas, exportTiles) end in failure
	Paths            []string
}

// Server is the emulator. Create it with New; it is an http.Handler.
type Server struct {
	opts   Options
	router *mux.Router
	log    *RequestLog
	logger *slog.Logger

	mu     sync.Mutex // guards faults and rng-driven fault decisions
	faults Faults
	rng    *lockedRand

	*portal.Portal                      // portal, tokens, items
	*features.FeatureServer             // FeatureServers
	*tiles.Tiles                        // MapServer, ImageServer, VectorTileServer, XYZ, WMTS
	ogc                     *ogcState   // ogcfeatures.go
	public                  publicState // anonymous.go
}

// New builds an emulator with the given options.
func New(opts Options) *Server {
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = 60 * time.Minute
	}
	if len(opts.Users) == 0 {
		opts.Users = map[string]string{DemoUser: DemoPassword}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:   opts,
		router: mux.NewRouter(),
		log:    &RequestLog{},
		logger: logger,
		faults: opts.Faults,
		rng:    newLockedRand(opts.Seed),
	}
	s.initPublic()
	s.Portal = portal.New(portal.Config{Router: s.router, Users: opts.Users, TokenLifetime: opts.TokenLifetime,
		Now: opts.Now, Anonymous: opts.Anonymous, TokenErrorAsHTTP: s.tokenErrorAsHTTP, IsPublic: s.isPublicRequest,
		EnterpriseLogins: opts.EnterpriseLogins, RefreshTokenLifetime: opts.RefreshTokenLifetime})
	demo.AddItems(s.Portal)
	s.FeatureServer = features.New(features.Config{Router: s.router, Authorize: s.Portal.Authorize, JobsFail: s.jobsFail,
		Seed: opts.Seed, Services: opts.FeatureServices})
	s.routeCatalog()
	s.Tiles = tiles.New(tiles.Config{Router: s.router, Authorize: s.Portal.Authorize, JobsFail: s.jobsFail,
		Features: s.FeatureServer.TileFeatures, Seed: opts.Seed, Tiles: opts.Tiles})
	s.registerOGCFeatures()
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusOK, 400, "Invalid URL", "Invalid URL")
	})
	return s
}

// Demo credentials accepted by an emulator built without Users.
const (
	DemoUser     = portal.DemoUser
	DemoPassword = portal.DemoPassword
)

// Close stops background work (export jobs) and removes the files the
// emulator wrote. The Server must not be used afterwards.
func (s *Server) Close() { s.CloseTiles() }

// Log returns the request log.
func (s *Server) Log() *RequestLog { return s.log }

// SetFaults replaces the fault knobs.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	if f.ExpireTokensNow {
		s.Portal.ExpireAllTokens()
	}
}

// ServeHTTP records the request, applies the fault knobs and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entry := s.log.add(r)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() { s.log.finish(entry, rec.status, rec.bytes) }()
	if s.injectFault(rec, r) {
		return
	}
	s.router.ServeHTTP(rec, r)
}

// tokenErrorAsHTTP reports whether the TokenErrorAsHTTP fault is on.
func (s *Server) tokenErrorAsHTTP() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.TokenErrorAsHTTP
}

// jobsFail reports whether the FailJobs fault is on.
func (s *Server) jobsFail() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.FailJobs
}

var (
	writeJSON  = rest.WriteJSON
	writeError = rest.WriteError
)
