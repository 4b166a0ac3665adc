package features

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// FeatureServiceOptions configures one emulated feature service. Build it
// from DemoFeatureService / ReferenceDataService or from scratch; zero
// booleans mean "off".
type FeatureServiceOptions struct {
	// Name is the service name in /arcgis/rest/services/{Name}/FeatureServer.
	Name        string
	Description string
	// Layers lists the layers and tables. Nil means the Field_Survey demo
	// layers (points, lines, polygons and a related table).
	Layers []LayerOptions

	// Capabilities. Query is always on; Uploads is advertised when set or
	// when any of Create/Update/Delete is.
	Create, Update, Delete bool
	Uploads                bool
	Sync                   bool

	// Sync capabilities (only meaningful with Sync).
	SyncAsync         bool // supportsAsync
	SyncPerLayer      bool // supportsPerLayerSync
	SyncPerReplica    bool // supportsPerReplicaSync
	SyncModelNone     bool // supportsSyncModelNone
	RollbackOnFailure bool // supportsRollbackOnFailure

	// MaxRecordCount caps query pages. Zero means 2000.
	MaxRecordCount int
	// NoPagination turns advancedQueryCapabilities.supportsPagination off:
	// resultOffset/resultRecordCount are then ignored.
	NoPagination bool
	// Seed for the generated data; zero means Options.Seed.
	Seed int64
	// Attachments enables attachments on layers with HasAttachments.
	Attachments bool
	// EditorTracking adds CreationDate/Creator/EditDate/Editor fields.
	EditorTracking bool
	// JobPolls is how many status polls an async job answers with a
	// non-terminal status before it ends. Zero means 2.
	JobPolls int
	// MaxUploadBytes bounds the bytes held by uploads. Zero means 256 MiB.
	MaxUploadBytes int64
}

// LayerOptions configures one layer or table of an emulated feature service.
type LayerOptions struct {
	ID   int
	Name string
	// GeometryType is arcgis.GeometryPoint, GeometryPolyline or
	// GeometryPolygon; empty makes a non-spatial table.
	GeometryType string
	// Count is the number of generated features.
	Count int
	// HasAttachments gives generated attachments to every fourth feature
	// (only with FeatureServiceOptions.Attachments).
	HasAttachments bool
}

// DemoFeatureService returns the options of the demo Field_Survey service:
// Sync (async, perLayer and perReplica, syncModel none, rollback), editing,
// attachments, editor tracking, 200 points, 60 lines, 40 polygons and a
// related table of 100 rows.
func DemoFeatureService() FeatureServiceOptions {
	return FeatureServiceOptions{
		Name:        "Field_Survey",
		Description: "Field survey demo service (generated data)",
		Layers: []LayerOptions{
			{ID: 0, Name: "Inspections", GeometryType: arcgis.GeometryPoint, Count: 200, HasAttachments: true},
			{ID: 1, Name: "Pipes", GeometryType: arcgis.GeometryPolyline, Count: 60},
			{ID: 2, Name: "Parcels", GeometryType: arcgis.GeometryPolygon, Count: 40},
			{ID: 3, Name: "InspectionNotes", Count: 100},
		},
		Create: true, Update: true, Delete: true, Uploads: true, Sync: true,
		SyncAsync: true, SyncPerLayer: true, SyncPerReplica: true, SyncModelNone: true, RollbackOnFailure: true,
		MaxRecordCount: 2000, Attachments: true, EditorTracking: true,
	}
}

// ReferenceDataService returns the options of the demo Reference_Data
// service: query only, no Sync, one polygon layer "Zones".
func ReferenceDataService() FeatureServiceOptions {
	return FeatureServiceOptions{
		Name:        "Reference_Data",
		Description: "Read-only reference data (generated)",
		Layers: []LayerOptions{
			{ID: 0, Name: "Zones", GeometryType: arcgis.GeometryPolygon, Count: 12},
		},
		MaxRecordCount: 1000,
	}
}

// DemoFeatureServices returns the feature services used when
// Options.FeatureServices is nil.
func DemoFeatureServices() []FeatureServiceOptions {
	return []FeatureServiceOptions{DemoFeatureService(), ReferenceDataService()}
}

// featureState holds every emulated feature service.
type featureState struct {
	order    []string
	services map[string]*fsService
}

// fsService is one feature service: definitions, data overlay, change log,
// replicas, jobs and uploads. mu guards everything mutable in it.
type fsService struct {
	opts   FeatureServiceOptions
	seed   int64
	layers []*layerStore // in id order
	byID   map[int]*layerStore

	mu       sync.Mutex
	gen      int64 // last server generation (ms-epoch style, monotonic)
	log      []change
	replicas map[string]*replica
	jobs     map[string]*job
	files    map[string]*replicaFile
	uploads  *uploadStore
	idSeq    uint64
}

func (s *FeatureServer) initFeatures() {
	svcs := s.opts.FeatureServices
	if svcs == nil {
		svcs = DemoFeatureServices()
	}
	st := &featureState{services: map[string]*fsService{}}
	for _, o := range svcs {
		fs := newFSService(o, s.opts.Seed)
		st.services[strings.ToLower(o.Name)] = fs
		st.order = append(st.order, o.Name)
	}
	s.features = st
	s.routeFeatures()
}

func newFSService(o FeatureServiceOptions, defaultSeed int64) *fsService {
	if o.Layers == nil {
		o.Layers = DemoFeatureService().Layers
	}
	if o.MaxRecordCount <= 0 {
		o.MaxRecordCount = 2000
	}
	if o.JobPolls <= 0 {
		o.JobPolls = 2
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 256 << 20
	}
	seed := o.Seed
	if seed == 0 {
		seed = defaultSeed
	}
	fs := &fsService{
		opts: o, seed: seed, byID: map[int]*layerStore{},
		replicas: map[string]*replica{}, jobs: map[string]*job{}, files: map[string]*replicaFile{},
		uploads: newUploadStore(o.MaxUploadBytes),
		gen:     nowMillis(),
	}
	defs := buildLayerDefs(o)
	for _, d := range defs {
		ls := newLayerStore(d, seed)
		fs.layers = append(fs.layers, ls)
		fs.byID[d.ID] = ls
	}
	return fs
}

// service finds a feature service by name (case-insensitive).
func (s *FeatureServer) service(name string) (*fsService, bool) {
	fs, ok := s.features.services[strings.ToLower(name)]
	return fs, ok
}

// nextGenLocked advances the server generation; fs.mu must be held.
func (fs *fsService) nextGenLocked() int64 {
	g := nowMillis()
	if g <= fs.gen {
		g = fs.gen + 1
	}
	fs.gen = g
	return g
}

// newIDLocked returns a fresh upper-case GUID (no braces) that is
// deterministic for the service seed and call order; fs.mu must be held.
func (fs *fsService) newIDLocked() string {
	fs.idSeq++
	h1 := mix64(uint64(fs.seed), 0xabc, fs.idSeq)
	h2 := mix64(h1, 0xdef, fs.idSeq)
	return fmt.Sprintf("%08X-%04X-4%03X-%04X-%012X", uint32(h1>>32), uint16(h1>>16), uint16(h1)&0xfff,
		0x8000|uint16(h2>>48)&0x3fff, h2&0xffffffffffff)
}

// capabilities returns the service's capabilities string.
func (fs *fsService) capabilities() string {
	o := fs.opts
	caps := []string{"Query"}
	if o.Create {
		caps = append(caps, "Create")
	}
	if o.Update {
		caps = append(caps, "Update")
	}
	if o.Delete {
		caps = append(caps, "Delete")
	}
	if o.Uploads || o.Create || o.Update || o.Delete {
		caps = append(caps, "Uploads")
	}
	if o.Create && o.Update && o.Delete {
		caps = append(caps, "Editing")
	}
	if o.Sync {
		caps = append(caps, "Sync")
	}
	return strings.Join(caps, ",")
}

func (fs *fsService) canEdit() bool { return fs.opts.Create || fs.opts.Update || fs.opts.Delete }

// baseURL is the service URL as seen by the client of r.
func (fs *fsService) baseURL(r *http.Request) string {
	return "http://" + r.Host + "/arcgis/rest/services/" + fs.opts.Name + "/FeatureServer"
}

// fsHandler resolves the service (and checks the token) before calling h.
type fsHandler func(w http.ResponseWriter, r *http.Request, fs *fsService, user string)

func (s *FeatureServer) fsRoute(h fsHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, ok := s.authorize(w, r)
		if !ok {
			return
		}
		fs, found := s.service(mux.Vars(r)["svc"])
		if !found {
			rest.WriteError(w, http.StatusOK, 404, "Service not found", fmt.Sprintf("Service %s/FeatureServer not found", mux.Vars(r)["svc"]))
			return
		}
		h(w, r, fs, user)
	}
}

// layerRoute additionally resolves {layer}.
type layerHandler func(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, user string)

func (s *FeatureServer) layerRoute(h layerHandler) http.HandlerFunc {
	return s.fsRoute(func(w http.ResponseWriter, r *http.Request, fs *fsService, user string) {
		id, err := strconv.Atoi(mux.Vars(r)["layer"])
		ls := fs.byID[id]
		if err != nil || ls == nil {
			rest.WriteError(w, http.StatusOK, 400, "Invalid or missing input parameters.", "Layer not found")
			return
		}
		h(w, r, fs, ls, user)
	})
}

// routeFeatures registers the FeatureServer endpoints, all behind
// s.authorize, under /arcgis/rest/services/{svc}/FeatureServer:
//
//	""  /layers  /{layer}  /{layer}/{oid}           service, layers, layer, feature JSON
//	/{layer}/query                                   where subset, objectIds, envelope/polygon
//	                                                 intersects (4326/3857), outFields, outSR,
//	                                                 orderByFields, paging, ids/count only, json|geojson
//	/createReplica                                   json only; sync (embedded or responseUrl) or async
//	/synchronizeReplica                              edits up by GlobalID, changes down since gens
//	/jobs/{id}  /replicafiles/{id}.json              async status, streamed results
//	/replicas  /replicas/{id}  /unRegisterReplica    replica bookkeeping
//	/applyEdits  /{layer}/applyEdits                 useGlobalIds, rollbackOnFailure, attachments
//	/uploads/upload|register|info|{item}[/uploadPart|/commit|/delete]
//	/{layer}/queryAttachments  /{layer}/{oid}/attachments[/{id}]
//	/{layer}/{oid}/addAttachment|updateAttachment|deleteAttachments
func (s *FeatureServer) routeFeatures() {
	p := s.router.PathPrefix("/arcgis/rest/services/{svc}/FeatureServer").Subrouter()
	p.HandleFunc("", s.fsRoute(s.handleServiceJSON))
	p.HandleFunc("/", s.fsRoute(s.handleServiceJSON))
	p.HandleFunc("/layers", s.fsRoute(s.handleLayersJSON))
	p.HandleFunc("/applyEdits", s.fsRoute(s.handleServiceApplyEdits)).Methods(http.MethodPost)
	p.HandleFunc("/createReplica", s.fsRoute(s.handleCreateReplica)).Methods(http.MethodPost, http.MethodGet)
	p.HandleFunc("/synchronizeReplica", s.fsRoute(s.handleSynchronizeReplica)).Methods(http.MethodPost, http.MethodGet)
	p.HandleFunc("/unRegisterReplica", s.fsRoute(s.handleUnregisterReplica)).Methods(http.MethodPost, http.MethodGet)
	p.HandleFunc("/replicas", s.fsRoute(s.handleReplicas))
	p.HandleFunc("/replicas/", s.fsRoute(s.handleReplicas))
	p.HandleFunc("/replicas/{id}", s.fsRoute(s.handleReplicaInfo))
	p.HandleFunc("/jobs/{id}", s.fsRoute(s.handleJobStatus))
	p.HandleFunc("/replicafiles/{file}", s.fsRoute(s.handleReplicaFile))
	p.HandleFunc("/uploads/upload", s.fsRoute(s.handleUpload)).Methods(http.MethodPost)
	p.HandleFunc("/uploads/register", s.fsRoute(s.handleUploadRegister)).Methods(http.MethodPost)
	p.HandleFunc("/uploads/info", s.fsRoute(s.handleUploadsInfo))
	p.HandleFunc("/uploads/{item}", s.fsRoute(s.uploadRoute(s.handleUploadItem)))
	p.HandleFunc("/uploads/{item}/uploadPart", s.fsRoute(s.uploadRoute(s.handleUploadPart))).Methods(http.MethodPost)
	p.HandleFunc("/uploads/{item}/commit", s.fsRoute(s.uploadRoute(s.handleUploadCommit))).Methods(http.MethodPost)
	p.HandleFunc("/uploads/{item}/delete", s.fsRoute(s.uploadRoute(s.handleUploadDelete))).Methods(http.MethodPost)

	l := `/{layer:[0-9]+}`
	p.HandleFunc(l, s.layerRoute(s.handleLayerJSON))
	p.HandleFunc(l+"/query", s.layerRoute(s.handleQuery))
	p.HandleFunc(l+"/applyEdits", s.layerRoute(s.handleLayerApplyEdits)).Methods(http.MethodPost)
	p.HandleFunc(l+"/queryAttachments", s.layerRoute(s.handleQueryAttachments))
	p.HandleFunc(l+"/{oid:[0-9]+}", s.layerRoute(s.handleFeatureByID))
	p.HandleFunc(l+"/{oid:[0-9]+}/attachments", s.layerRoute(s.handleAttachmentList))
	p.HandleFunc(l+"/{oid:[0-9]+}/attachments/{att:[0-9]+}", s.layerRoute(s.handleAttachmentData))
	p.HandleFunc(l+"/{oid:[0-9]+}/addAttachment", s.layerRoute(s.handleAddAttachment)).Methods(http.MethodPost)
	p.HandleFunc(l+"/{oid:[0-9]+}/updateAttachment", s.layerRoute(s.handleUpdateAttachment)).Methods(http.MethodPost)
	p.HandleFunc(l+"/{oid:[0-9]+}/deleteAttachments", s.layerRoute(s.handleDeleteAttachments)).Methods(http.MethodPost)
}
