package localapi

import (
	"net/http"
)

// routesPackages registers the routes that adopt package directories and
// list and clean up replicas.
func (s *Server) routesPackages() {
	s.handle("POST", "/api/v1/maps", s.addMap)
	s.handle("GET", "/api/v1/replicas", s.listReplicas)
	s.handle("POST", "/api/v1/replicas/cleanup", s.cleanupReplicas)
}

func (s *Server) packages() (Packages, error) {
	if s.opts.Packages == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: "package adoption is not available"}
	}
	return s.opts.Packages, nil
}

// addMapRequest registers an existing package directory.
type addMapRequest struct {
	// Dir is the package directory (absolute, or relative to the
	// daemon's working directory).
	Dir string `json:"dir"`
	// ID is the map id (default: the directory's name).
	ID string `json:"id,omitempty"`
}

func (s *Server) addMap(w http.ResponseWriter, r *http.Request) error {
	p, err := s.packages()
	if err != nil {
		return err
	}
	var req addMapRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Dir == "" {
		return badRequest("dir", "dir (the package directory) is required")
	}
	if req.ID != "" && !validID.MatchString(req.ID) {
		return badRequest("id", "id must be 1-128 letters, digits, '.', '_' or '-'")
	}
	mi, err := p.Add(r.Context(), req.Dir, req.ID)
	return respond(w, http.StatusCreated, mi, err)
}

func (s *Server) listReplicas(w http.ResponseWriter, r *http.Request) error {
	p, err := s.packages()
	if err != nil {
		return err
	}
	l, err := p.Replicas(r.Context())
	return respond(w, http.StatusOK, map[string]any{"replicas": l}, err)
}

func (s *Server) cleanupReplicas(w http.ResponseWriter, r *http.Request) error {
	p, err := s.packages()
	if err != nil {
		return err
	}
	res, err := p.CleanupOrphans(r.Context())
	return respond(w, http.StatusOK, res, err)
}
