package portal

import (
	"net/http"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// handleServerInfo serves GET /arcgis/rest/info: a server federated with the
// emulator's own portal (owningSystemUrl), whose token service is the
// portal's generateToken.
func (s *Portal) handleServerInfo(w http.ResponseWriter, r *http.Request) {
	base := rest.BaseURL(r)
	s.respond(w, r, map[string]any{
		"currentVersion":  11.1,
		"fullVersion":     "11.1.0",
		"owningSystemUrl": base,
		"authInfo": map[string]any{
			"isTokenBasedSecurity":    true,
			"tokenServicesUrl":        base + "/sharing/rest/generateToken",
			"shortLivedTokenValidity": s.maxTokenMinutes(),
		},
	})
}
