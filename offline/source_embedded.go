package offline

import "context"

// embeddedSource takes feature layers whose features are inline in the web
// map (featureCollection): they travel in map.json as they are
// (MethodEmbedded).
type embeddedSource struct{ noSteps }

func (embeddedSource) name() string { return "embedded" }

func (embeddedSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	for _, e := range a.unclaimed() {
		if isFeatureType(e.LayerType) && len(e.Layer.FeatureCollection) > 0 {
			c := a.caps[e]
			c.SupportsOffline, c.Method = true, MethodEmbedded
		}
	}
	return nil
}
