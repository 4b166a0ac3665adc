package offline

import "github.com/offlined/offlined/internal/arcgis"

// portalView is implemented by clients that can address another portal
// (*arcgis.Client).
type portalView interface {
	ForPortal(portalURL string) (*arcgis.Client, error)
}

// SourcePortal returns the portal to load src's item from: the portal the
// source names (asked anonymously for its public items unless a credential
// is registered for it), else def.
func SourcePortal(def Portal, src Source) Portal {
	if src.ItemID == "" || src.PortalURL == "" {
		return def
	}
	pv, ok := def.(portalView)
	if !ok {
		return def
	}
	c, err := pv.ForPortal(src.PortalURL)
	if err != nil {
		return def
	}
	return c
}
