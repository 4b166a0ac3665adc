package localapi

import (
	"fmt"
	"net/http"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
)

// sourceNeedsAuth is the answer when loading src failed because its portal
// or server wants a sign-in (499/498, HTTP 401/403): 403 needsAuth naming
// the command; nil for other failures.
func sourceNeedsAuth(src offline.Source, err error) *Error {
	if !arcgis.IsAuth(err) && !arcgis.IsForbidden(err) {
		return nil
	}
	cmd := "offlined login -server <server URL> -user <name>"
	switch {
	case src.ItemID != "" && src.PortalURL != "":
		cmd = "offlined login -portal " + src.PortalURL + " -user <name>, then offlined serve -portal " + src.PortalURL
	case src.WebMapURL != "":
		cmd = LoginCommand(src.WebMapURL)
	}
	return &Error{Status: http.StatusForbidden, Code: "needsAuth", Field: "source",
		Message: fmt.Sprintf("%v; the source is not public: sign in with %s", err, cmd)}
}
