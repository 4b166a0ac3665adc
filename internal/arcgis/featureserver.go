package arcgis

import (
	"context"
	"strconv"
)

// FeatureService fetches the FeatureServer root JSON (svcURL ends in
// /FeatureServer). An answer without capabilities or layers is an
// *UnexpectedResponseError.
func (c *Client) FeatureService(ctx context.Context, svcURL string) (*FeatureService, error) {
	return getResource[FeatureService](ctx, c, "feature service", svcURL, requireKeys("feature service JSON (layers, capabilities)", "layers", "tables", "capabilities"))
}

// Layer fetches a layer or table resource (layerURL ends in
// /FeatureServer/{id}).
func (c *Client) Layer(ctx context.Context, layerURL string) (*Layer, error) {
	return getResource[Layer](ctx, c, "layer", layerURL, requireKeys("layer JSON (fields, type)", "fields", "type", "geometryType"))
}

// LayerURL returns svcURL/{id}.
func LayerURL(svcURL string, id int) string { return joinURL(svcURL, strconv.Itoa(id)) }

// Layers fetches every layer and table of a service, in the order of the
// service's layers then tables arrays.
func (c *Client) Layers(ctx context.Context, svcURL string, svc *FeatureService) ([]*Layer, error) {
	var out []*Layer
	for _, refs := range [][]LayerRef{svc.Layers, svc.Tables} {
		for _, ref := range refs {
			l, err := c.Layer(ctx, LayerURL(svcURL, ref.ID))
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	}
	return out, nil
}
