package arcgis

import "fmt"

// ForPortal returns a client for the portal at portalURL that shares c's
// transport, retry policy and per-service credentials. c's own portal
// credential is sent only to the hosts c trusts, so a different portal is
// asked anonymously (its public items), unless a credential is registered
// for it. ForPortal of c's own portal is c.
func (c *Client) ForPortal(portalURL string) (*Client, error) {
	p, err := normalizePortalURL(portalURL)
	if err != nil {
		return nil, fmt.Errorf("arcgis client: %w", err)
	}
	if p == c.portalURL {
		return c, nil
	}
	// Without a portal of its own, c's fallback is anonymous: nothing is
	// sent that was not registered for the URL.
	v := *c
	v.portalURL = p
	return &v, nil
}
