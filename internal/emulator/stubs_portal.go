package emulator

import "net/http"

// portalState is owned by portal.go/auth.go (replace this stub file).
type portalState struct{}

func (s *Server) initPortal()      { s.portal = &portalState{} }
func (s *Server) expireAllTokens() {}

// authorize checks the request's token (query/form `token`, or header
// `X-Esri-Authorization: Bearer <t>`). When it returns ok=false it has
// already written the ArcGIS 498/499 error. user is "" for anonymous access.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (user string, ok bool) {
	return "", true
}
