package features

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// Replica response and status values.
const (
	transportURL      = "esriTransportTypeUrl"
	transportEmbedded = "esriTransportTypeEmbedded"
	responseData      = "esriReplicaResponseTypeData"
	responseEdits     = "esriReplicaResponseTypeEdits"
	responseNoEdits   = "esriReplicaResponseTypeNoEdits"
)

// replica is a registered replica and the parameters it was created with.
type replica struct {
	Name, ID, Owner          string
	SyncModel                string // perReplica | perLayer | none
	SyncDirection            string
	AttachmentsSyncDirection string
	ReturnAttachments        bool
	TargetType               string
	SyncDataOptions          int
	Layers                   []int
	Queries                  map[int]arcgis.ReplicaLayerQuery // defaults resolved
	Geometry                 *arcgis.Geometry                 // as given, with its SR
	filter                   *spatialFilter                   // Web Mercator
	SR                       int                              // replicaSR (EPSG)
	ServerGen                int64
	LayerGens                map[int]int64
	Created, LastSync        int64
}

// gensJSON adds replicaServerGen or layerServerGens to m.
func (rp *replica) gensJSON(m map[string]any) {
	switch rp.SyncModel {
	case "perLayer":
		gens := []arcgis.ServerGen{}
		for _, id := range rp.Layers {
			gens = append(gens, arcgis.ServerGen{ID: id, ServerGen: rp.LayerGens[id]})
		}
		m["layerServerGens"] = gens
	case "perReplica":
		m["replicaServerGen"] = rp.ServerGen
	}
}

// info is the replica resource (fixture replica-info shape).
func (rp *replica) info() map[string]any {
	layers := []map[string]any{}
	for _, id := range rp.Layers {
		q := rp.Queries[id]
		layers = append(layers, map[string]any{"id": id, "queryOption": q.QueryOption, "useGeometry": *q.UseGeometry,
			"includeRelated": *q.IncludeRelated, "where": q.Where})
	}
	m := map[string]any{
		"replicaName": rp.Name, "replicaID": rp.ID, "replicaOwner": rp.Owner, "spatialReference": srJSON(rp.SR),
		"creationDate": rp.Created, "lastSyncDate": rp.LastSync, "syncModel": rp.SyncModel, "targetType": rp.TargetType,
		"syncDirection": rp.SyncDirection, "syncDataOptions": rp.SyncDataOptions, "returnsAttachments": rp.ReturnAttachments,
		"returnAttachments": rp.ReturnAttachments, "attachmentsSyncDirection": rp.AttachmentsSyncDirection,
		"spatialRel": "esriSpatialRelIntersects", "layers": layers, "supportsReplicaTracking": true,
	}
	if rp.Geometry != nil {
		m["geometry"] = rp.Geometry
	}
	rp.gensJSON(m)
	return m
}

// toArcGIS converts to the shared wire type (for the Go API).
func (rp *replica) toArcGIS() arcgis.Replica {
	out := arcgis.Replica{ReplicaName: rp.Name, ReplicaID: rp.ID, ReplicaOwner: rp.Owner, SyncModel: rp.SyncModel,
		SyncDirection: rp.SyncDirection, TargetType: rp.TargetType, SyncDataOptions: rp.SyncDataOptions,
		ReturnAttachments: rp.ReturnAttachments, AttachmentsSyncDirection: rp.AttachmentsSyncDirection,
		SpatialRel: "esriSpatialRelIntersects", Geometry: rp.Geometry, SpatialReference: srJSON(rp.SR),
		CreationDate: rp.Created, LastSyncDate: rp.LastSync, SupportsReplicaTracking: true}
	m := map[string]any{}
	rp.gensJSON(m)
	if g, ok := m["replicaServerGen"].(int64); ok {
		out.ReplicaServerGen = g
	}
	if g, ok := m["layerServerGens"].([]arcgis.ServerGen); ok {
		out.LayerServerGens = g
	}
	layers, _ := json.Marshal(rp.info()["layers"])
	out.Layers = layers
	return out
}

// createParams are the parsed createReplica parameters.
type createParams struct {
	rp        *replica
	transport string
	async     bool
	attByURL  bool
}

// parseLayerList reads "0,1,2" or "[0,1,2]".
func parseLayerList(v string) ([]int, error) {
	ids, err := parseIDList(v)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out, nil
}

func (s *FeatureServer) parseCreateReplica(r *http.Request, fs *fsService, user string) (*createParams, error) {
	o := fs.opts
	if f := strings.ToLower(rest.FormValue(r, "dataFormat")); f != "" && f != "json" {
		return nil, fmt.Errorf("dataFormat %q is not supported by the emulator (only json)", f)
	}
	layers, err := parseLayerList(rest.FormValue(r, "layers"))
	if err != nil || len(layers) == 0 {
		return nil, fmt.Errorf("'layers' parameter is invalid")
	}
	slices.Sort(layers)
	layers = slices.Compact(layers)
	for _, id := range layers {
		if fs.byID[id] == nil {
			return nil, fmt.Errorf("layer %d does not exist", id)
		}
	}
	rp := &replica{Owner: user, Layers: layers, Queries: map[int]arcgis.ReplicaLayerQuery{}, TargetType: "client"}
	if tt := rest.FormValue(r, "targetType"); tt != "" && tt != "client" {
		return nil, fmt.Errorf("targetType %q is not supported by the emulator (only client)", tt)
	}
	if raw := strings.TrimSpace(rest.FormValue(r, "layerQueries")); raw != "" {
		var lq map[string]arcgis.ReplicaLayerQuery
		if err := json.Unmarshal([]byte(raw), &lq); err != nil {
			return nil, fmt.Errorf("'layerQueries' parameter is invalid: %v", err)
		}
		for k, q := range lq {
			id, err := strconv.Atoi(k)
			if err != nil || !slices.Contains(layers, id) {
				return nil, fmt.Errorf("'layerQueries' names layer %q that is not in 'layers'", k)
			}
			rp.Queries[id] = q
		}
	}
	views := map[int]*layerView{}
	for _, id := range layers {
		views[id] = fs.viewOf(fs.byID[id])
	}
	for _, id := range layers {
		q := rp.Queries[id]
		if !enumParam(&q.QueryOption, "useFilter", "all", "none", "useFilter") {
			return nil, fmt.Errorf("layerQueries: queryOption %q is invalid", q.QueryOption)
		}
		if q.UseGeometry == nil {
			q.UseGeometry = bptr(true)
		}
		if q.IncludeRelated == nil {
			q.IncludeRelated = bptr(true)
		}
		if _, err := views[id].bindWhere(q.Where); err != nil {
			return nil, fmt.Errorf("layerQueries: where of layer %d: %w", id, err)
		}
		q.ID = nil
		rp.Queries[id] = q
	}
	inSR, err := srParam(rest.FormValue(r, "inSR"), 3857)
	if err != nil {
		return nil, fmt.Errorf("'inSR': %v", err)
	}
	if g := rest.FormValue(r, "geometry"); g != "" {
		rp.filter, err = parseGeometryParam(g, rest.FormValue(r, "geometryType"), inSR)
		if err != nil {
			return nil, fmt.Errorf("'geometry' parameter is invalid: %v", err)
		}
		var eg arcgis.Geometry
		if strings.HasPrefix(strings.TrimSpace(g), "{") {
			_ = json.Unmarshal([]byte(g), &eg)
		} else {
			b := rp.filter.bound
			x0, y0, x1, y1 := b.Min[0], b.Min[1], b.Max[0], b.Max[1]
			if inSR == 4326 {
				x0, y0 = mercToWGS(x0, y0)
				x1, y1 = mercToWGS(x1, y1)
			}
			eg = arcgis.Geometry{XMin: &x0, YMin: &y0, XMax: &x1, YMax: &y1}
		}
		if eg.SpatialReference == nil {
			eg.SpatialReference = srJSON(inSR)
		}
		rp.Geometry = &eg
	}
	if rp.SR, err = srParam(rest.FormValue(r, "replicaSR"), 3857); err != nil {
		return nil, fmt.Errorf("'replicaSR': %v", err)
	}
	p := &createParams{rp: rp, transport: transportURL, attByURL: rest.BoolParam(r, "returnAttachmentsDataByUrl", true)}
	switch tt := rest.FormValue(r, "transportType"); tt {
	case "", transportURL, "esriTransportTypeURL":
	case transportEmbedded:
		p.transport = transportEmbedded
	default:
		return nil, fmt.Errorf("transportType %q is invalid", tt)
	}
	p.async = rest.BoolParam(r, "async", false)
	if p.async {
		if !o.SyncAsync {
			return nil, fmt.Errorf("async is not supported by this service")
		}
		p.transport = transportURL
	}
	rp.SyncModel = rest.FormValue(r, "syncModel")
	switch rp.SyncModel {
	case "":
		rp.SyncModel = "perReplica"
		if !o.SyncPerReplica && o.SyncPerLayer {
			rp.SyncModel = "perLayer"
		}
	case "perReplica":
		if !o.SyncPerReplica {
			return nil, fmt.Errorf("syncModel perReplica is not supported by this service")
		}
	case "perLayer":
		if !o.SyncPerLayer {
			return nil, fmt.Errorf("syncModel perLayer is not supported by this service")
		}
	case "none":
		if !o.SyncModelNone {
			return nil, fmt.Errorf("syncModel none is not supported by this service")
		}
	default:
		return nil, fmt.Errorf("syncModel %q is invalid", rp.SyncModel)
	}
	if rp.filter == nil && rp.SyncModel != "none" {
		return nil, fmt.Errorf("'geometry' is required unless syncModel is none")
	}
	rp.SyncDirection = rest.FormValue(r, "syncDirection")
	if !enumParam(&rp.SyncDirection, "bidirectional", "bidirectional", "download", "upload") {
		return nil, fmt.Errorf("syncDirection %q is invalid", rp.SyncDirection)
	}
	if !fs.canEdit() && rp.SyncDirection != "download" {
		rp.SyncDirection = "download" // Query+Sync services give download-only replicas
	}
	rp.ReturnAttachments = rest.BoolParam(r, "returnAttachments", false)
	rp.AttachmentsSyncDirection = rest.FormValue(r, "attachmentsSyncDirection")
	if rp.ReturnAttachments {
		if !enumParam(&rp.AttachmentsSyncDirection, "bidirectional", "bidirectional", "upload") {
			return nil, fmt.Errorf("attachmentsSyncDirection %q is invalid with returnAttachments=true (bidirectional or upload)", rp.AttachmentsSyncDirection)
		}
	} else {
		if !enumParam(&rp.AttachmentsSyncDirection, "none", "none", "upload") {
			return nil, fmt.Errorf("attachmentsSyncDirection %q is invalid with returnAttachments=false (upload or none)", rp.AttachmentsSyncDirection)
		}
	}
	if raw := strings.TrimSpace(rest.FormValue(r, "replicaOptions")); raw != "" {
		var ro map[string]any
		if err := json.Unmarshal([]byte(raw), &ro); err != nil {
			return nil, fmt.Errorf("'replicaOptions' parameter is invalid: %v", err)
		}
		if _, ok := ro["refReplicaId"]; ok {
			return nil, fmt.Errorf("registering existing data is not supported by this service")
		}
		if n, ok := toNum(ro["syncDataOptions"]); ok {
			rp.SyncDataOptions = int(n)
		}
	}
	if n, err := strconv.Atoi(rest.FormValue(r, "syncDataOptions")); err == nil {
		rp.SyncDataOptions = n
	}
	rp.Name = rest.FormValue(r, "replicaName")
	return p, nil
}

// job is an async createReplica or synchronizeReplica job.
type job struct {
	ID        string
	Kind      string // "create" | "sync"
	rp        *replica
	Submitted int64
	Updated   int64
	polls     int
	ended     bool
	fail      bool
	failMsg   string
	fileID    string
	response  string
	gens      map[string]any
}

// replicaFile is a downloadable result: a replica snapshot streamed on
// demand, or a stored (small) sync result.
type replicaFile struct {
	ID       string
	rp       *replica
	gens     map[string]any
	views    map[int]*layerView
	attByURL bool
	body     []byte
}

func (s *FeatureServer) handleCreateReplica(w http.ResponseWriter, r *http.Request, fs *fsService, user string) {
	if !fs.opts.Sync {
		rest.WriteError(w, http.StatusOK, 400, "Unable to create replica. Sync is not enabled for this service.", "The service does not have the Sync capability")
		return
	}
	p, err := s.parseCreateReplica(r, fs, user)
	if err != nil {
		rest.WriteError(w, http.StatusOK, 400, "Unable to create replica.", err.Error())
		return
	}
	rp := p.rp
	fail := s.jobsFail()

	fs.mu.Lock()
	now := nowMillis()
	gen := fs.nextGenLocked()
	rp.ID = fs.newIDLocked()
	if rp.Name == "" {
		rp.Name = fmt.Sprintf("Ags_Fs_%d", now)
	}
	base, n := rp.Name, 0
	for fs.replicaNameTakenLocked(rp.Name) {
		rp.Name = fmt.Sprintf("%s_%d", base, n)
		n++
	}
	rp.Created, rp.LastSync, rp.ServerGen = now, now, gen
	rp.LayerGens = map[int]int64{}
	for _, id := range rp.Layers {
		rp.LayerGens[id] = gen
	}
	if rp.SyncModel == "none" {
		rp.ID = ""
	}
	rf := &replicaFile{ID: fs.newIDLocked(), rp: rp, views: map[int]*layerView{}, attByURL: p.attByURL, gens: map[string]any{}}
	rp.gensJSON(rf.gens)
	for _, id := range rp.Layers {
		rf.views[id] = fs.byID[id].view()
	}
	registered := rp.SyncModel != "none" && !(p.async && fail)
	if registered {
		fs.replicas[rp.ID] = rp
	}
	if !(p.async && fail) {
		fs.files[rf.ID] = rf
	}
	var jb *job
	if p.async {
		jb = &job{ID: fs.newIDLocked(), Kind: "create", rp: rp, Submitted: now, Updated: now, fail: fail,
			failMsg: "Replica creation failed (injected fault)", fileID: rf.ID, response: responseData, gens: rf.gens}
		fs.jobs[jb.ID] = jb
	}
	fs.mu.Unlock()

	switch {
	case p.async:
		rest.WriteJSON(w, http.StatusOK, map[string]any{"statusUrl": fs.baseURL(r) + "/jobs/" + jb.ID})
	case p.transport == transportEmbedded:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = s.writeReplicaData(w, r, fs, rf, transportEmbedded)
	default:
		body := map[string]any{"replicaName": rp.Name, "replicaID": rp.ID, "transportType": transportURL,
			"responseType": responseData, "responseUrl": fs.baseURL(r) + "/replicafiles/" + rf.ID + ".json"}
		for k, v := range rf.gens {
			body[k] = v
		}
		rest.WriteJSON(w, http.StatusOK, body)
	}
}

func (fs *fsService) replicaNameTakenLocked(name string) bool {
	for _, rp := range fs.replicas {
		if strings.EqualFold(rp.Name, name) {
			return true
		}
	}
	return false
}

func (s *FeatureServer) handleJobStatus(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	id := rest.MuxVar(r, "id")
	fs.mu.Lock()
	jb, ok := fs.jobs[id]
	if !ok {
		fs.mu.Unlock()
		rest.WriteError(w, http.StatusOK, 404, "Job not found.", "Job "+id+" does not exist")
		return
	}
	jb.polls++
	status := ""
	terminal := jb.polls > fs.opts.JobPolls
	switch {
	case terminal && jb.fail:
		status = "Failed"
	case terminal:
		status = "Completed"
	case jb.polls == 1:
		status = "Pending"
	case jb.polls == fs.opts.JobPolls && jb.Kind == "create":
		status = "ExportingData"
	case jb.polls == fs.opts.JobPolls:
		status = "ExportChanges"
	case jb.Kind == "sync":
		status = "ImportChanges"
	default:
		status = "InProgress"
	}
	if !jb.ended { // the time stops moving once the job has ended
		jb.Updated = max(nowMillis(), jb.Updated+1)
		jb.ended = terminal
	}
	body := map[string]any{"transportType": transportURL, "responseType": jb.response, "replicaName": jb.rp.Name,
		"replicaID": jb.rp.ID, "submissionTime": jb.Submitted, "lastUpdatedTime": jb.Updated, "status": status}
	for k, v := range jb.gens {
		body[k] = v
	}
	fs.mu.Unlock()
	switch status {
	case "Completed":
		body["resultUrl"] = fs.baseURL(r) + "/replicafiles/" + jb.fileID + ".json"
	case "Failed":
		body["error"] = map[string]any{"code": 500, "message": jb.failMsg, "details": []string{jb.failMsg}}
	}
	rest.WriteJSON(w, http.StatusOK, body)
}

func (s *FeatureServer) handleReplicaFile(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	id := strings.TrimSuffix(rest.MuxVar(r, "file"), ".json")
	fs.mu.Lock()
	rf, ok := fs.files[id]
	fs.mu.Unlock()
	if !ok {
		rest.WriteError(w, http.StatusOK, 404, "Replica file not found.", "File "+id+" does not exist")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if rf.body != nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(rf.body)))
		_, _ = w.Write(rf.body)
		return
	}
	_ = s.writeReplicaData(w, r, fs, rf, transportURL)
}

func (s *FeatureServer) handleReplicas(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	fs.mu.Lock()
	out := []map[string]any{}
	for _, rp := range fs.sortedReplicasLocked() {
		out = append(out, map[string]any{"replicaName": rp.Name, "replicaID": rp.ID})
	}
	fs.mu.Unlock()
	rest.WriteJSON(w, http.StatusOK, out)
}

func (fs *fsService) sortedReplicasLocked() []*replica {
	var out []*replica
	for _, rp := range fs.replicas {
		out = append(out, rp)
	}
	slices.SortFunc(out, func(a, b *replica) int {
		if a.Created != b.Created {
			return int(a.Created - b.Created)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (s *FeatureServer) handleReplicaInfo(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	id := rest.MuxVar(r, "id")
	fs.mu.Lock()
	rp, ok := fs.replicaLocked(id)
	var body map[string]any
	if ok {
		body = rp.info()
	}
	fs.mu.Unlock()
	if !ok {
		rest.WriteError(w, http.StatusOK, 404, "Replica not found.", "Replica "+id+" does not exist")
		return
	}
	rest.WriteJSON(w, http.StatusOK, body)
}

// replicaLocked finds a replica by id (braces and case ignored).
func (fs *fsService) replicaLocked(id string) (*replica, bool) {
	id = strings.ToUpper(strings.Trim(strings.TrimSpace(id), "{}"))
	rp, ok := fs.replicas[id]
	return rp, ok
}

func (s *FeatureServer) handleUnregisterReplica(w http.ResponseWriter, r *http.Request, fs *fsService, _ string) {
	id := rest.FormValue(r, "replicaID")
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if id == "*" {
		fs.replicas = map[string]*replica{}
		rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
		return
	}
	rp, ok := fs.replicaLocked(id)
	if !ok {
		rest.WriteError(w, http.StatusOK, 400, "Unable to unregister replica.", "Replica "+id+" does not exist")
		return
	}
	delete(fs.replicas, rp.ID)
	rest.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
}

// enumParam sets an empty *v to def and reports whether *v is one of
// allowed.
func enumParam(v *string, def string, allowed ...string) bool {
	if *v == "" {
		*v = def
	}
	return slices.Contains(allowed, *v)
}
