package offline

import (
	"context"
	"fmt"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// WarnOutsideExtent is the code of a layer whose extent the area of
// interest does not reach: it would come out empty.
const WarnOutsideExtent = "areaOutsideExtent"

// AreaWarnings lists the layers that would go offline although the area of
// interest of p lies outside their extent (the service's layer extent or
// tile service full extent): such a layer would come out empty. Layers
// whose extent is unknown or in a reference that does not convert to
// WGS84 get no warning. The error return is only for ctx and an area that
// does not prepare.
func (t *Task) AreaWarnings(ctx context.Context, p *Parameters) ([]LayerWarning, error) {
	a, err := t.analyze(ctx, p)
	if err != nil {
		return nil, err
	}
	return t.areaWarnings(a)
}

func (t *Task) areaWarnings(a *analysis) ([]LayerWarning, error) {
	if a.params == nil || a.params.AreaOfInterest == nil {
		return nil, nil
	}
	aoi, err := PrepareAOI(a.params.AreaOfInterest, a.mapSR)
	if err != nil {
		return nil, err
	}
	mp, err := aoi.WGS84()
	if err != nil {
		return nil, nil // an area in the map's own reference: nothing to compare with
	}
	area := mp.Bound()
	var ws []LayerWarning
	for _, e := range a.order {
		c := a.caps[e]
		if c == nil || !c.SupportsOffline || c.RemainsOnline || c.Error {
			continue
		}
		ext := t.cachedExtent(e)
		if ext == nil {
			continue
		}
		b, ok := envelopeLonLat(ext)
		if !ok || b.Intersects(area) {
			continue
		}
		ws = append(ws, LayerWarning{Key: e.Key, Layer: e.Title, Code: WarnOutsideExtent,
			Message: fmt.Sprintf("the area of interest (%.4f,%.4f,%.4f,%.4f) lies outside the extent of layer %s (%.4f,%.4f,%.4f,%.4f): it would come out empty",
				area.Min[0], area.Min[1], area.Max[0], area.Max[1], describe(e), b.Min[0], b.Min[1], b.Max[0], b.Max[1])})
	}
	return ws, nil
}

// cachedExtent returns the extent the task fetched for an entry's layer
// or tile service, or nil.
func (t *Task) cachedExtent(e *Entry) *arcgis.Envelope {
	if !e.HasService {
		return nil
	}
	k := ServiceKey(e.Service.URL)
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Service.HasLayer {
		if si := t.features[k]; si != nil {
			if l := si.layers[e.Service.LayerID]; l != nil {
				return l.Extent
			}
		}
		return nil
	}
	if ti := t.tilesvcs[k]; ti != nil && ti.svc != nil {
		return ti.svc.fullExtent
	}
	return nil
}

// envelopeLonLat converts a WGS84 or Web Mercator envelope to lon/lat.
func envelopeLonLat(e *arcgis.Envelope) (orb.Bound, bool) {
	if e.XMin > e.XMax || e.YMin > e.YMax {
		return orb.Bound{}, false
	}
	sr := e.SpatialReference
	switch {
	case sr == nil:
		return orb.Bound{}, false // an extent without a reference: unknown
	case sr.IsWGS84():
		return orb.Bound{Min: orb.Point{e.XMin, e.YMin}, Max: orb.Point{e.XMax, e.YMax}}, true
	case sr.IsWebMercator():
		clamp := func(v float64) float64 { return max(-tiles.MercatorHalfWorld, min(tiles.MercatorHalfWorld, v)) }
		return orb.Bound{Min: MercatorToLonLat(clamp(e.XMin), clamp(e.YMin)), Max: MercatorToLonLat(clamp(e.XMax), clamp(e.YMax))}, true
	}
	return orb.Bound{}, false
}
