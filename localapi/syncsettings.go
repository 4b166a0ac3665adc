package localapi

import (
	"errors"
	"net/http"

	editsync "github.com/offlined/offlined/sync"
)

// syncSettingsBody is the body of PATCH /maps/{map}/sync/settings and the
// optional body of POST /maps/{map}/sync: every field is optional and what
// is given is kept for later syncs. Layer keys are the API's layer ids
// ("<service>.<layerId>"); "default" removes a layer's override.
type syncSettingsBody struct {
	ConflictPolicy    *string           `json:"conflictPolicy"`
	SyncDirection     *string           `json:"syncDirection"`
	LayerDirections   map[string]string `json:"layerDirections"`
	RollbackOnFailure *bool             `json:"rollbackOnFailure"`
}

func (b *syncSettingsBody) update() editsync.SettingsUpdate {
	return editsync.SettingsUpdate{ConflictPolicy: b.ConflictPolicy, SyncDirection: b.SyncDirection, RollbackOnFailure: b.RollbackOnFailure}
}

// applySyncSettings validates and stores b for the map (all services
// checked before any is changed) and returns the settings per service.
func applySyncSettings(r *http.Request, sy Syncer, id string, b *syncSettingsBody) (map[string]editsync.Settings, error) {
	out, err := sy.SyncSettings(r.Context(), id, b.update(), b.LayerDirections)
	var se *editsync.SettingsError
	if errors.As(err, &se) {
		return nil, badRequest(se.Field, "%s", se.Reason)
	}
	return out, err
}

func (s *Server) getSyncSettings(w http.ResponseWriter, r *http.Request) error {
	return s.serveSyncServices(w, r, func(sy Syncer, id string) (any, error) {
		return applySyncSettings(r, sy, id, &syncSettingsBody{})
	})
}

func (s *Server) patchSyncSettings(w http.ResponseWriter, r *http.Request) error {
	var body syncSettingsBody
	return s.serveSyncServices(w, r, func(sy Syncer, id string) (any, error) {
		if err := decodeBody(r, &body); err != nil {
			return nil, err
		}
		return applySyncSettings(r, sy, id, &body)
	})
}

// getSyncPending lists what the next sync will send, per service.
func (s *Server) getSyncPending(w http.ResponseWriter, r *http.Request) error {
	return s.serveSyncServices(w, r, func(sy Syncer, id string) (any, error) { return sy.Pending(r.Context(), id) })
}

// SyncProgress is a "progress" event of a map's sync stream.
type SyncProgress struct {
	Service string `json:"service"`
	editsync.Progress
}

// cancelSync ends the map's running syncs; their edits are kept.
func (s *Server) cancelSync(w http.ResponseWriter, r *http.Request) error {
	sy, id, err := s.syncer(r)
	if err != nil {
		return err
	}
	ok, err := sy.CancelSync(r.Context(), id)
	return respond(w, 200, map[string]any{"map": id, "cancelled": ok}, err)
}
