package arcgis

import (
	"context"
	"fmt"
	"strconv"
)

// FeatureService fetches the FeatureServer root JSON (svcURL ends in
// /FeatureServer). An answer without capabilities or layers is an
// *UnexpectedResponseError.
func (c *Client) FeatureService(ctx context.Context, svcURL string) (*FeatureService, error) {
	var out FeatureService
	err := c.getJSON(ctx, "feature service", svcURL, nil, &out, requireKeys("feature service JSON (layers, capabilities)", "layers", "tables", "capabilities"))
	if err != nil {
		return nil, fmt.Errorf("feature service %s: %w", svcURL, err)
	}
	return &out, nil
}

// Layer fetches a layer or table resource (layerURL ends in
// /FeatureServer/{id}).
func (c *Client) Layer(ctx context.Context, layerURL string) (*Layer, error) {
	var out Layer
	err := c.getJSON(ctx, "layer", layerURL, nil, &out, requireKeys("layer JSON (fields, type)", "fields", "type", "geometryType"))
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", layerURL, err)
	}
	return &out, nil
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
