package emulator

// portalState is owned by portal.go/auth.go (replace this stub file).
type portalState struct{}

func (s *Server) initPortal()      { s.portal = &portalState{} }
func (s *Server) expireAllTokens() {}
