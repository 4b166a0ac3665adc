package arcgis

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// ServerInfo is GET <server>/rest/info: the server version and where its
// tokens come from. OwningSystemURL is set for servers federated with a
// portal (then use a FederatedCredential or the portal token).
type ServerInfo struct {
	CurrentVersion  float64 `json:"currentVersion"`
	FullVersion     string  `json:"fullVersion,omitempty"`
	OwningSystemURL string  `json:"owningSystemUrl,omitempty"`
	AuthInfo        struct {
		IsTokenBasedSecurity    bool   `json:"isTokenBasedSecurity"`
		TokenServicesURL        string `json:"tokenServicesUrl,omitempty"`
		ShortLivedTokenValidity int    `json:"shortLivedTokenValidity,omitempty"`
	} `json:"authInfo"`
}

// ServerRoot returns the server root of a service URL (the part before
// /rest/services), e.g. https://host/arcgis for
// https://host/arcgis/rest/services/X/FeatureServer/0; "" when the URL has
// no /rest/services.
func ServerRoot(serviceURL string) string {
	u := stripQuery(serviceURL)
	i := strings.Index(strings.ToLower(u), "/rest/services")
	if i < 0 {
		return ""
	}
	return u[:i]
}

// ServerInfo fetches <serverRoot>/rest/info (no token needed).
func (c *Client) ServerInfo(ctx context.Context, serverRoot string) (*ServerInfo, error) {
	var out ServerInfo
	req := &request{op: "server info", method: http.MethodGet, url: joinURL(serverRoot, "rest", "info"), form: withF(nil), idempotent: true, noAuth: true}
	if err := c.doJSON(ctx, req, &out, requireKeys("server info (currentVersion, authInfo)", "currentVersion", "authInfo")); err != nil {
		return nil, fmt.Errorf("server info %s: %w", serverRoot, err)
	}
	return &out, nil
}
