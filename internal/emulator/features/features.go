// Package features is the FeatureServer part of the ArcGIS REST emulator:
// service and layer metadata, query (with the where-clause dialect of
// internal/whereclause), applyEdits, attachments, uploads, sync replicas
// (createReplica, synchronizeReplica, unregister) and schema changes, over
// deterministic generated data (datagen.go) with an in-memory edit overlay.
// Package emulator composes it with the portal and the tile services.
package features

import (
	"github.com/gorilla/mux"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// Config is what the feature services need from the emulator that hosts them.
type Config struct {
	// Router receives the FeatureServer routes.
	Router *mux.Router
	// Authorize checks each request's token (nil: anonymous).
	Authorize rest.AuthFunc
	// JobsFail reports whether async jobs must fail (the FailJobs fault).
	JobsFail func() bool
	// Seed makes generated data deterministic.
	Seed int64
	// Services configures the feature services; nil means DemoFeatureServices().
	Services []FeatureServiceOptions
}

// FeatureServer serves the feature services. Create it with New.
type FeatureServer struct {
	router    *mux.Router
	authorize rest.AuthFunc
	jobsFail  func() bool
	opts      struct {
		Seed            int64
		FeatureServices []FeatureServiceOptions
	}
	features *featureState
}

// New builds the feature services and registers their routes on c.Router.
func New(c Config) *FeatureServer {
	s := &FeatureServer{router: c.Router}
	s.authorize, s.jobsFail = rest.ServiceDefaults(c.Authorize, c.JobsFail)
	s.opts.Seed, s.opts.FeatureServices = c.Seed, c.Services
	s.initFeatures()
	return s
}

// ServiceNames lists the feature services in the order they were configured.
func (s *FeatureServer) ServiceNames() []string { return append([]string(nil), s.features.order...) }
