package localapi

import (
	"embed"
	"io/fs"
	"net/http"
	"path/filepath"
	"time"

	"github.com/gorilla/mux"
	"github.com/offlined/offlined/offline"
)

//go:embed openapi.json
var openapiFS embed.FS

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) error {
	b, err := openapiFS.ReadFile("openapi.json")
	return respondDocument(w, b, err)
}

// respondDocument returns err when it is set, and otherwise writes the
// JSON document b as it is.
func respondDocument(w http.ResponseWriter, b []byte, err error) error {
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}

// getStatus reports the daemon's state (never secrets).
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	maps, err := s.reg.List(r.Context())
	if err != nil {
		return err
	}
	st := map[string]any{
		"version": s.opts.Version, "started": s.started.UTC().Format(time.RFC3339),
		"uptimeSeconds": int64(time.Since(s.started).Seconds()), "maps": len(maps),
		"portal": s.opts.Portal != nil, "sync": s.opts.Sync != nil, "jobs": s.opts.Jobs != nil, "portalSignIn": s.opts.SignIn != nil,
		"pendingUnregister": len(s.reg.Pending()), "basemapDirectories": s.opts.BasemapDirs,
	}
	if s.opts.Jobs != nil {
		jobs, err := s.opts.Jobs.List(r.Context())
		if err != nil {
			return err
		}
		counts := map[offline.JobState]int{}
		for _, j := range jobs {
			counts[j.State]++
		}
		st["jobStates"] = counts
	}
	writeJSON(w, 200, st)
	return nil
}

func (s *Server) listMaps(w http.ResponseWriter, r *http.Request) error {
	maps, err := s.reg.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]mapWithSize, len(maps))
	for i, m := range maps {
		out[i] = mapWithSize{MapInfo: m, SizeBytes: dirSize(m.Dir)}
	}
	writeJSON(w, 200, map[string]any{"maps": out})
	return nil
}

// mapWithSize is a map in the list, with its size on disk.
type mapWithSize struct {
	MapInfo
	SizeBytes int64 `json:"sizeBytes"`
}

// dirSize sums the sizes of the regular files under dir (0 when unreadable).
func dirSize(dir string) int64 {
	var n int64
	if dir == "" {
		return 0
	}
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func (s *Server) getMap(w http.ResponseWriter, r *http.Request) error {
	mi, err := s.reg.Get(r.Context(), mux.Vars(r)["map"])
	return respond(w, 200, mi, err)
}

func (s *Server) getDocument(name string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.reg.Document(r.Context(), mux.Vars(r)["map"], name)
		return respondDocument(w, b, err)
	}
}

// deleteMap removes a map; its replicas are unregistered (or queued).
func (s *Server) deleteMap(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["map"]
	if err := s.reg.Delete(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"id": id, "deleted": true, "pendingUnregister": len(s.reg.Pending())})
	return nil
}
