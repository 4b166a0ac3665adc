package emulator

import (
	"net/http"
	"strings"
	"sync"
)

// publicState is the set of feature services open to anonymous requests.
type publicState struct {
	mu    sync.Mutex
	names map[string]bool
}

func (s *Server) initPublic() {
	s.public.names = map[string]bool{}
	for _, n := range s.opts.PublicServices {
		s.public.names[n] = true
	}
}

// SetServicePublic opens (public=true) or closes the feature service name
// to requests without a token. Closing it makes the service answer 499
// Token Required to anonymous requests from then on, as a service whose
// owner turned sharing off does.
func (s *Server) SetServicePublic(name string, public bool) {
	s.public.mu.Lock()
	defer s.public.mu.Unlock()
	if public {
		s.public.names[name] = true
	} else {
		delete(s.public.names, name)
	}
}

// ServicePublic reports whether the feature service name is open to
// anonymous requests.
func (s *Server) ServicePublic(name string) bool {
	s.public.mu.Lock()
	defer s.public.mu.Unlock()
	return s.public.names[name]
}

// isPublicRequest reports whether r is for a public feature service
// (/arcgis/rest/services/{name}/FeatureServer...).
func (s *Server) isPublicRequest(r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/arcgis/rest/services/")
	if !ok {
		return false
	}
	name, tail, _ := strings.Cut(rest, "/")
	if !strings.HasPrefix(tail, "FeatureServer") {
		return false
	}
	return s.ServicePublic(name)
}
