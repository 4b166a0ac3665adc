package daemon

import (
	"testing"

	"github.com/offlined/offlined/internal/config"
)

// Without a portal the daemon's client is anonymous; a stored server
// sign-in and a host API key are sent only to URLs under their own server
// or host, and removing one (offlined logout) makes its URLs anonymous
// again at the next reload.
func TestServiceCredentialsOnlyForTheirHosts(t *testing.T) {
	root := t.TempDir()
	const server = "https://gis.county.example/arcgis"
	const keyed = "https://tiles.example.net"
	saveCredentials(t, root,
		config.Credential{Portal: server, Kind: config.KindToken, Token: "server-token"},
		config.Credential{Portal: keyed, Kind: config.KindAPIKey, APIKey: "host-key"})
	c := openCredentials(t, config.Config{DataRoot: root})
	if c.Client() == nil || c.Client().PortalURL() != "" {
		t.Fatal("no anonymous client without a portal")
	}
	tokenFor := func(u string) string {
		tok, err := c.Client().TokenFor(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for u, want := range map[string]string{
		server + "/rest/services/Parcels/FeatureServer/0":                  "server-token",
		"https://gis.county.example/other/rest/services/X/MapServer":       "",
		keyed + "/styles/v1/basemap":                                       "host-key",
		"https://open.example.org/arcgis/rest/services/Open/FeatureServer": "",
	} {
		if got := tokenFor(u); got != want {
			t.Errorf("token for %s: %q, want %q", u, got, want)
		}
	}
	if _, err := config.RemoveCredential(root, server); err != nil {
		t.Fatal(err)
	}
	if err := c.reload(); err != nil {
		t.Fatal(err)
	}
	if got := tokenFor(server + "/rest/services/Parcels/FeatureServer/0"); got != "" {
		t.Errorf("token after logout: %q", got)
	}
	if got := tokenFor(keyed + "/x"); got != "host-key" {
		t.Errorf("the other credential after a reload: %q", got)
	}
}
