package daemon

import (
	"errors"
	"testing"

	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/outbound"
)

// TestDaemonRefusesMetadataAddresses: the daemon's client refuses a
// cloud metadata address by default (before any packet is sent), and
// -allow-link-local turns the rule off.
func TestDaemonRefusesMetadataAddresses(t *testing.T) {
	root := t.TempDir()
	const portal = "https://portal.example.com/portal/sharing/rest"
	saveCredentials(t, root, config.Credential{Portal: portal, Kind: config.KindToken, Token: "t"})
	c := openCredentials(t, config.Config{DataRoot: root, Portal: portal})
	_, err := c.Client().HTTPClient().Get("http://169.254.169.254/latest/meta-data/")
	var be *outbound.BlockedAddressError
	if !errors.As(err, &be) {
		t.Fatalf("metadata address: %v, want a BlockedAddressError", err)
	}
	if p := outboundPolicy(config.Config{AllowLinkLocal: true}); !p.AllowLinkLocal {
		t.Errorf("-allow-link-local not applied: %+v", p)
	}
	if p := outboundPolicy(config.Config{}); p.AllowLinkLocal {
		t.Errorf("link-local allowed by default")
	}
}
