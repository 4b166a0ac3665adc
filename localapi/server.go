// Package localapi is offlined's HTTP API for field apps on the device:
// JSON routes under /api/v1 (maps, features as GeoJSON, attachments, tiles,
// jobs and sync with Server-Sent Events), an ArcGIS FeatureServer-compatible
// subset under /arcgis/rest/services for existing GIS clients, and the
// middleware that keeps it safe on a shared device (Bearer token, loopback
// Host check, closed CORS, body limits). It also serves the daemon's page
// at /ui/ (package web), signed in by a one-time link and a session cookie
// with a CSRF header (page.go), and lets the page sign the daemon in to
// its portal (PortalSignIn).
//
// localapi holds no daemon state: the offline maps, package adoption and
// replicas, jobs, sync, planning and portal search are reached through
// small interfaces with typed results that it declares (Maps, Packages,
// Jobs, Syncer, Planner, Portal, PortalSignIn) and internal/daemon implements and runs;
// all but Maps are optional, and a route without one answers 501. Jobs
// report offline's job states (offline.JobState, needsAuth included). The
// FeatureServer-compatible routes live in localapi/featureserver, which
// registers them on a Server (Handle, behind the same middleware).
package localapi

import (
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/gorilla/mux"
)

// Options configure a Server.
type Options struct {
	// Token is the API token every request must carry (required).
	Token string
	// Maps are the offline maps (required).
	Maps Maps
	// Hub carries job and sync events (nil: a new hub).
	Hub *Hub
	// Jobs, Sync, Planner and Portal back their routes; nil answers 501.
	Jobs    Jobs
	Sync    Syncer
	Planner Planner
	Portal  Portal
	// Packages backs adopting package directories and the replica routes;
	// nil answers 501.
	Packages Packages
	// SignIn lets the page sign the daemon in to its portal (nil: 501).
	SignIn PortalSignIn
	// AllowedHosts are extra Host names accepted besides loopback names
	// (only for a TLS listener on another address).
	AllowedHosts []string
	// CORSOrigins are the origins allowed to call the API from a browser.
	CORSOrigins []string
	// MaxBodyBytes limits request bodies (default 1 MiB);
	// MaxAttachmentBytes limits attachment uploads (default 256 MiB).
	MaxBodyBytes       int64
	MaxAttachmentBytes int64
	// BodyTimeout bounds reading a request body (default 30 s): the whole
	// body of ordinary routes, and for attachment uploads the longest
	// gap without data. It also bounds reading an ArcGIS form body before
	// authentication.
	BodyTimeout time.Duration
	// BasemapDirs are the directories a reference basemap named over the
	// API may be in (default: <data root>/basemaps).
	BasemapDirs []string
	// MaxPageSize caps features per page (default 10000).
	MaxPageSize int
	// KeepAlive is the SSE comment interval (default 15 s).
	KeepAlive time.Duration
	// TileConcurrency caps the tile requests that read at once; the others
	// wait their turn (0: GOMAXPROCS, negative: no cap). Each feature query
	// in flight takes one of these slots from the tiles, down to one.
	TileConcurrency int
	Logger          *slog.Logger
	Version         string
}

// Server is the local API handler.
type Server struct {
	opts      Options
	log       *slog.Logger
	reg       Maps
	hub       *Hub
	router    *mux.Router
	handler   http.Handler
	tileRoute bool       // the tile route is registered (tileFastPath serves it too)
	tileGate  *admission // TileConcurrency
	routes    []Route
	started   time.Time
	tileBufs  bufPool       // buffers a tile is read into (tiles.go)
	heldBufs  bufPool       // buffers of held answers (admission_body.go)
	page      *pageSessions // page.go: one-time links and page sessions
}

// Route is one registered method and path template.
type Route struct {
	Method string
	Path   string
}

// routeError answers e, ArcGIS-shaped on the FeatureServer routes.
func routeError(e *Error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isArcGISRoute(r) {
			fsError(w, e)
			return
		}
		writeError(w, e)
	})
}

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.Token == "" {
		return nil, errors.New("localapi: a token is required")
	}
	if o.Maps == nil {
		return nil, errors.New("localapi: the maps are required")
	}
	if o.Hub == nil {
		o.Hub = NewHub(0)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxAttachmentBytes <= 0 {
		o.MaxAttachmentBytes = 256 << 20
	}
	if len(o.BasemapDirs) == 0 {
		o.BasemapDirs = []string{filepath.Join(o.Maps.Root(), "basemaps")}
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	if o.MaxPageSize <= 0 {
		o.MaxPageSize = 10000
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, log: o.Logger, reg: o.Maps, hub: o.Hub, router: mux.NewRouter(), started: time.Now(), page: newPageSessions(),
		tileGate: newAdmission(o.TileConcurrency)}
	s.router.NotFoundHandler = routeError(&Error{Status: http.StatusNotFound, Code: "notFound", Field: "path", Message: "no such route"})
	s.router.MethodNotAllowedHandler = routeError(&Error{Status: http.StatusMethodNotAllowed, Code: "methodNotAllowed", Field: "method", Message: "method not allowed on this route"})
	s.routesAPI()
	s.routesPackages()
	s.handler = s.guard(s.tileFastPath(s.router))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes returns every registered route.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Hub returns the event hub.
func (s *Server) Hub() *Hub { return s.hub }

// handle registers h for method and path and records the route.
func (s *Server) handle(method, path string, h func(http.ResponseWriter, *http.Request) error) {
	s.handleRoute(method, path, false, h)
}

// HandleQuery registers a feature query route: while one runs, tile reads
// get fewer slots (Options.TileConcurrency), so the query is not queued
// behind them.
func (s *Server) HandleQuery(method, path string, h HandlerFunc) {
	s.handle(method, path, s.interactive(h))
}

// handleUpload registers an attachment upload route: the only routes with
// the MaxAttachmentBytes body limit.
func (s *Server) handleUpload(method, path string, h func(http.ResponseWriter, *http.Request) error) {
	s.handleRoute(method, path, true, h)
}

func (s *Server) handleRoute(method, path string, upload bool, h func(http.ResponseWriter, *http.Request) error) {
	s.routes = append(s.routes, Route{Method: method, Path: path})
	s.router.Handle(path, s.routeHandler(upload, h)).Methods(method)
}

// routeHandler wraps h with the body limit and the error answer.
func (s *Server) routeHandler(upload bool, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := s.limitBody(w, r, upload)
		if err == nil {
			err = h(w, r)
		}
		s.answerError(w, r, err)
	})
}

// answerError answers a route's error, if any (logged when it is the
// server's).
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		return
	}
	ae := toAPIError(err)
	if ae.Status >= 500 {
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	if isArcGISRoute(r) {
		fsError(w, ae) // ArcGIS clients parse ArcGIS's error shape (e.g. a 413 upload)
		return
	}
	writeError(w, ae)
}

func (s *Server) routesAPI() {
	const m = "/api/v1/maps/{map}"
	const f = m + "/layers/{layer}/features"
	const t = m + "/tiles/{tileLayer}"
	s.handle("GET", "/api/v1/status", s.getStatus)
	s.handle("POST", "/api/v1/session/link", s.postSessionLink)
	s.handle("GET", "/api/v1/session", s.getSession)
	s.handle("POST", "/api/v1/portal/signin", s.postPortalSignIn)
	s.handle("GET", "/api/v1/openapi.json", s.getOpenAPI)
	s.handle("GET", "/api/v1/portal/webmaps", s.searchWebMaps)
	s.handle("POST", "/api/v1/capabilities", s.postCapabilities)
	s.handle("POST", "/api/v1/parameters", s.postParameters)
	s.handle("POST", "/api/v1/overrides", s.postOverrides)
	s.handle("POST", "/api/v1/estimate", s.postEstimate)
	s.handle("GET", "/api/v1/jobs", s.listJobs)
	s.handle("POST", "/api/v1/jobs", s.createJob)
	s.handle("GET", "/api/v1/jobs/{job}", s.getJob)
	s.handle("POST", "/api/v1/jobs/{job}/pause", s.jobAction("pause"))
	s.handle("POST", "/api/v1/jobs/{job}/resume", s.jobAction("resume"))
	s.handle("POST", "/api/v1/jobs/{job}/cancel", s.jobAction("cancel"))
	s.handle("GET", "/api/v1/jobs/{job}/events", s.jobEvents)
	s.handle("GET", "/api/v1/maps", s.listMaps)
	s.handle("GET", m, s.getMap)
	s.handle("DELETE", m, s.deleteMap)
	s.handle("GET", m+"/manifest", s.getDocument("package.json"))
	s.handle("GET", m+"/webmap", s.getDocument("map.json"))
	s.handle("GET", m+"/layers", s.listLayers)
	s.handle("GET", m+"/layers/{layer}", s.getLayer)
	s.handle("GET", f, s.interactive(s.queryFeatures))
	s.handle("POST", f, s.createFeatures)
	s.handle("GET", f+"/{feature}", s.getFeature)
	s.handle("PATCH", f+"/{feature}", s.updateFeature)
	s.handle("DELETE", f+"/{feature}", s.deleteFeature)
	s.handle("GET", f+"/{feature}/attachments", s.listAttachments)
	s.handleUpload("POST", f+"/{feature}/attachments", s.uploadAttachment)
	s.handle("GET", f+"/{feature}/attachments/{attachment}", s.downloadAttachment)
	s.handle("DELETE", f+"/{feature}/attachments/{attachment}", s.deleteAttachment)
	s.handle("GET", t+"/tilejson", s.getTileJSON)
	s.handle("GET", t+"/style", s.getStyle)
	s.handle("GET", t+"/sprites/{sprite}", s.getSprite)
	s.handle("GET", t+"/fonts/{fontstack}/{range}", s.getGlyphs)
	s.handle("GET", t+"/{z:[0-9]+}/{x:[0-9]+}/{y}", s.getTile)
	s.tileRoute = true
	s.routesStyles()
	s.handle("POST", m+"/sync", s.postSync)
	s.handle("GET", m+"/sync", s.getSync)
	s.handle("GET", m+"/sync/events", s.syncEvents)
	s.handle("GET", m+"/sync/settings", s.getSyncSettings)
	s.handle("PATCH", m+"/sync/settings", s.patchSyncSettings)
	s.handle("GET", m+"/sync/pending", s.getSyncPending)
	s.handle("POST", m+"/sync/cancel", s.cancelSync)
	s.handle("GET", m+"/conflicts", s.listConflicts)
	s.handle("POST", m+"/conflicts/{conflict}/resolve", s.resolveConflict)
}
