package localapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	editsync "github.com/offlined/offlined/sync"
)

// ConflictInfo is one recorded conflict of an offline map.
type ConflictInfo struct {
	ID            string          `json:"id"` // "<service>:<n>"
	Service       string          `json:"service"`
	Table         string          `json:"table"`
	GlobalID      string          `json:"globalId"`
	LocalOp       string          `json:"localOp"`
	ServerOp      string          `json:"serverOp"`
	LocalVersion  json.RawMessage `json:"localVersion"`
	ServerVersion json.RawMessage `json:"serverVersion"`
	Resolution    string          `json:"resolution"`
	DetectedAt    string          `json:"detectedAt"`
}

// Syncer syncs offline maps with their services. EngineSyncer implements it
// with the sync package's engine.
type Syncer interface {
	// Sync syncs every feature store of the map and returns a report per
	// service.
	Sync(ctx context.Context, mapID string) ([]ServiceResult, error)
	// SyncAsync starts Sync in the background (its events go to the map's
	// sync event stream).
	SyncAsync(mapID string) error
	// Status returns the sync status per service.
	Status(ctx context.Context, mapID string) (map[string]editsync.Status, error)
	Conflicts(ctx context.Context, mapID string) ([]ConflictInfo, error)
	// Resolve settles a conflict held for review: choice "device" or "server".
	Resolve(ctx context.Context, mapID, conflictID, choice string) error
	// SetConflictPolicy sets (and persists) the map's conflict policy.
	SetConflictPolicy(ctx context.Context, mapID string, p editsync.Policy) error
	// SyncSettings applies u and the layer directions (keys
	// "<service>.<layerId>") to every service of the map, validating all
	// first (*editsync.SettingsError), and returns the settings per
	// service; with nothing to change it only reads.
	SyncSettings(ctx context.Context, mapID string, u editsync.SettingsUpdate, layerDirections map[string]string) (map[string]editsync.Settings, error)
	// Pending returns what the next sync of each service will send.
	Pending(ctx context.Context, mapID string) (map[string]*editsync.Preview, error)
	// CancelSync ends the map's running syncs (edits are kept); false when
	// none was running.
	CancelSync(ctx context.Context, mapID string) (bool, error)
}

// syncer returns the sync service and the id of the route's map, or the
// error to answer: 501 without a sync service, 404 for an unknown map.
func (s *Server) syncer(r *http.Request) (Syncer, string, error) {
	if s.opts.Sync == nil {
		return nil, "", &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: "sync is not available (this server runs without a sync service)"}
	}
	id := mux.Vars(r)["map"]
	if _, err := s.reg.Get(r.Context(), id); err != nil {
		return nil, "", err
	}
	return s.opts.Sync, id, nil
}

// postSync runs a sync. With wait=false it starts it in the background (its
// events go to sync/events) and answers 202. An optional body
// body (conflictPolicy, syncDirection, layerDirections, rollbackOnFailure,
// as PATCH sync/settings takes) sets the map's sync settings (kept for later
// syncs) first.
func (s *Server) postSync(w http.ResponseWriter, r *http.Request) error {
	sy, id, err := s.syncer(r)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		var body syncSettingsBody
		if err := decodeBody(r, &body); err != nil {
			return err
		}
		if _, err := applySyncSettings(r, sy, id, &body); err != nil {
			return err
		}
	}
	wait := true
	if v := r.URL.Query().Get("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("wait", "wait must be true or false")
		}
		wait = b
	}
	if !wait {
		if err := sy.SyncAsync(id); err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"map": id, "started": true})
		return nil
	}
	rep, err := sy.Sync(r.Context(), id)
	return respond(w, 200, map[string]any{"map": id, "services": rep}, err)
}

func (s *Server) getSync(w http.ResponseWriter, r *http.Request) error {
	return s.serveSyncServices(w, r, func(sy Syncer, id string) (any, error) { return sy.Status(r.Context(), id) })
}

// serveSyncServices answers {"map": id, "services": …} with what f returns
// for the route's map.
func (s *Server) serveSyncServices(w http.ResponseWriter, r *http.Request, f func(sy Syncer, id string) (any, error)) error {
	sy, id, err := s.syncer(r)
	if err != nil {
		return err
	}
	v, err := f(sy, id)
	return respond(w, 200, map[string]any{"map": id, "services": v}, err)
}

func (s *Server) syncEvents(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["map"]
	if _, err := s.reg.Get(r.Context(), id); err != nil {
		return err
	}
	s.hub.serveSSE(r.Context(), w, r, "sync/"+id, s.opts.KeepAlive)
	return nil
}

func (s *Server) listConflicts(w http.ResponseWriter, r *http.Request) error {
	sy, id, err := s.syncer(r)
	if err != nil {
		return err
	}
	cs, err := sy.Conflicts(r.Context(), id)
	if err != nil {
		return err
	}
	if q := r.URL.Query().Get("resolution"); q != "" {
		var keep []ConflictInfo
		for _, c := range cs {
			if c.Resolution == q {
				keep = append(keep, c)
			}
		}
		cs = keep
	}
	if cs == nil {
		cs = []ConflictInfo{}
	}
	writeJSON(w, 200, map[string]any{"conflicts": cs})
	return nil
}

func (s *Server) resolveConflict(w http.ResponseWriter, r *http.Request) error {
	sy, _, err := s.syncer(r)
	if err != nil {
		return err
	}
	v := mux.Vars(r)
	var body struct {
		Choice string `json:"choice"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Choice != "device" && body.Choice != "server" {
		return badRequest("choice", "choice must be device or server")
	}
	if svc, n, ok := strings.Cut(v["conflict"], ":"); !ok || svc == "" || n == "" {
		return notFound("conflict", "conflict ids look like <service>:<n>")
	}
	if err := sy.Resolve(r.Context(), v["map"], v["conflict"], body.Choice); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"id": v["conflict"], "resolution": body.Choice})
	return nil
}
