package localapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
)

// Estimator estimates a job before it starts. A Planner that implements
// it (TaskPlanner does) serves POST /api/v1/estimate.
type Estimator interface {
	Estimate(ctx context.Context, src offline.Source, p *offline.Parameters, o *offline.Overrides) (*offline.PackageEstimate, error)
}

// Estimate implements Estimator: overrides default to those the
// parameters make.
func (tp *TaskPlanner) Estimate(ctx context.Context, src offline.Source, p *offline.Parameters, o *offline.Overrides) (*offline.PackageEstimate, error) {
	c, ok := tp.Services.(*arcgis.Client)
	if !ok {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: "estimates need the ArcGIS REST client"}
	}
	t, err := tp.task(ctx, src)
	if err != nil {
		return nil, err
	}
	if o == nil {
		if o, err = t.CreateOverrides(ctx, p); err != nil {
			return nil, asValidation(err, "parameters")
		}
	}
	return t.Estimate(ctx, p, o, offline.EstimateOptions{Client: c})
}

type estimateRequest struct {
	Source     offline.Source      `json:"source"`
	Parameters *offline.Parameters `json:"parameters"`
	Overrides  *offline.Overrides  `json:"overrides,omitempty"`
}

// postEstimate answers the size and time of the job that parameters (and
// overrides, else their defaults) describe, per layer, before any
// download; with parameters.maxBytes over budget, a proposal that fits.
func (s *Server) postEstimate(w http.ResponseWriter, r *http.Request) error {
	pl, err := s.planner()
	if err != nil {
		return err
	}
	est, ok := pl.(Estimator)
	if !ok {
		return &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: "this planner gives no estimates"}
	}
	var req estimateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := req.Source.Check(); err != nil {
		return badRequest("source", "%v", err)
	}
	if req.Source.File != "" {
		return badRequest("source.file", "file sources are not accepted over the API")
	}
	if req.Parameters == nil {
		return badRequest("parameters", "parameters are required (POST /api/v1/parameters first)")
	}
	if req.Parameters.MaxBytes < 0 {
		return badRequest("parameters.maxBytes", "maxBytes %d is negative", req.Parameters.MaxBytes)
	}
	if err := s.checkBasemaps(req.Parameters, "parameters", req.Overrides, "overrides"); err != nil {
		return err
	}
	pe, err := est.Estimate(r.Context(), req.Source, req.Parameters, req.Overrides)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return err
		}
		return &Error{Status: http.StatusBadGateway, Code: "estimateFailed", Message: err.Error()}
	}
	writeJSON(w, 200, pe)
	return nil
}
