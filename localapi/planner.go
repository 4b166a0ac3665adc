package localapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
)

// Portal searches a portal. *arcgis.Client implements it.
type Portal interface {
	SearchPage(ctx context.Context, sp arcgis.SearchParams) (*arcgis.SearchResult, error)
}

// Planner examines web maps before a job: capabilities, default parameters
// and overrides. TaskPlanner implements it with the offline package.
type Planner interface {
	Capabilities(ctx context.Context, src offline.Source, p *offline.Parameters) (*offline.Capabilities, error)
	DefaultParameters(ctx context.Context, src offline.Source, aoi *arcgis.Geometry, minScale, maxScale float64) (*offline.Parameters, error)
	Overrides(ctx context.Context, src offline.Source, p *offline.Parameters) (*offline.Overrides, error)
}

// TaskPlanner implements Planner with offline.NewTask.
type TaskPlanner struct {
	Portal   offline.Portal
	Services offline.Services
}

func (tp *TaskPlanner) task(ctx context.Context, src offline.Source) (*offline.Task, error) {
	t, err := offline.NewTask(ctx, src, offline.SourcePortal(tp.Portal, src), tp.Services)
	if err != nil {
		if ne := sourceNeedsAuth(src, err); ne != nil {
			return nil, ne
		}
		return nil, &Error{Status: http.StatusUnprocessableEntity, Code: "invalidSource", Field: "source", Message: err.Error()}
	}
	return t, nil
}

// Capabilities implements Planner.
func (tp *TaskPlanner) Capabilities(ctx context.Context, src offline.Source, p *offline.Parameters) (*offline.Capabilities, error) {
	t, err := tp.task(ctx, src)
	if err != nil {
		return nil, err
	}
	return t.Capabilities(ctx, p)
}

// DefaultParameters implements Planner.
func (tp *TaskPlanner) DefaultParameters(ctx context.Context, src offline.Source, aoi *arcgis.Geometry, minScale, maxScale float64) (*offline.Parameters, error) {
	t, err := tp.task(ctx, src)
	if err != nil {
		return nil, err
	}
	p, err := t.CreateDefaultParameters(ctx, aoi, minScale, maxScale)
	if err != nil {
		return nil, asValidation(err, "areaOfInterest")
	}
	return p, nil
}

// Overrides implements Planner.
func (tp *TaskPlanner) Overrides(ctx context.Context, src offline.Source, p *offline.Parameters) (*offline.Overrides, error) {
	t, err := tp.task(ctx, src)
	if err != nil {
		return nil, err
	}
	o, err := t.CreateOverrides(ctx, p)
	if err != nil {
		return nil, asValidation(err, "parameters")
	}
	return o, nil
}

// asValidation turns an offline.ValidationError into a 422 naming field.
func asValidation(err error, field string) error {
	if ve, ok := err.(*offline.ValidationError); ok {
		return &Error{Status: http.StatusUnprocessableEntity, Code: string(ve.Code), Field: field, Message: ve.Message}
	}
	return err
}

func (s *Server) planner() (Planner, error) {
	if s.opts.Planner == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: "no portal configured (offlined login)"}
	}
	return s.opts.Planner, nil
}

type planRequest struct {
	Source         offline.Source      `json:"source"`
	Parameters     *offline.Parameters `json:"parameters,omitempty"`
	AreaOfInterest *Area               `json:"areaOfInterest,omitempty"`
	MinScale       float64             `json:"minScale,omitempty"`
	MaxScale       float64             `json:"maxScale,omitempty"`
}

func (s *Server) readPlan(r *http.Request) (Planner, planRequest, error) {
	var req planRequest
	p, err := s.planner()
	if err != nil {
		return nil, req, err
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, req, err
	}
	if err := req.Source.Check(); err != nil {
		return nil, req, badRequest("source", "%v", err)
	}
	if req.Source.File != "" {
		return nil, req, badRequest("source.file", "file sources are not accepted over the API")
	}
	if err := s.checkBasemaps(req.Parameters, "parameters", nil, ""); err != nil {
		return nil, req, err
	}
	return p, req, nil
}

func (s *Server) postCapabilities(w http.ResponseWriter, r *http.Request) error {
	p, req, err := s.readPlan(r)
	if err != nil {
		return err
	}
	params := req.Parameters
	if params == nil && req.AreaOfInterest != nil {
		// The area alone: the web map's defaults over it, so the answer
		// warns of layers whose extent it misses.
		if err := req.AreaOfInterest.Validate(); err != nil {
			return badRequest("areaOfInterest", "%v", err)
		}
		if err := checkAreaLonLat(req.AreaOfInterest.Esri(), "areaOfInterest"); err != nil {
			return err
		}
		if params, err = p.DefaultParameters(r.Context(), req.Source, req.AreaOfInterest.Esri(), 0, 0); err != nil {
			return err
		}
	}
	c, err := p.Capabilities(r.Context(), req.Source, params)
	return respond(w, 200, c, err)
}

func (s *Server) postParameters(w http.ResponseWriter, r *http.Request) error {
	p, req, err := s.readPlan(r)
	if err != nil {
		return err
	}
	if req.AreaOfInterest != nil {
		if err := req.AreaOfInterest.Validate(); err != nil {
			return badRequest("areaOfInterest", "%v", err)
		}
		if err := checkAreaLonLat(req.AreaOfInterest.Esri(), "areaOfInterest"); err != nil {
			return err
		}
	}
	if req.MinScale < 0 || req.MaxScale < 0 {
		return badRequest("minScale", "scales must not be negative")
	}
	params, err := p.DefaultParameters(r.Context(), req.Source, req.AreaOfInterest.Esri(), req.MinScale, req.MaxScale)
	return respond(w, 200, params, err)
}

func (s *Server) postOverrides(w http.ResponseWriter, r *http.Request) error {
	p, req, err := s.readPlan(r)
	if err != nil {
		return err
	}
	if req.Parameters == nil {
		return badRequest("parameters", "parameters are required (POST /api/v1/parameters first)")
	}
	o, err := p.Overrides(r.Context(), req.Source, req.Parameters)
	return respond(w, 200, o, err)
}

// searchWebMaps pages through the portal's web maps.
func (s *Server) searchWebMaps(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Portal == nil {
		return &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: "no portal configured (offlined login)"}
	}
	q := r.URL.Query()
	sp := arcgis.SearchParams{Q: `type:"Web Map"`, Num: 10, Start: 1, SortField: q.Get("sortField"), SortOrder: q.Get("sortOrder")}
	if v := q.Get("q"); v != "" {
		if len(v) > 512 {
			return badRequest("q", "q is too long")
		}
		sp.Q = "(" + v + `) AND type:"Web Map"`
	}
	if v := q.Get("num"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return badRequest("num", "num must be 1..100")
		}
		sp.Num = n
	}
	if v := q.Get("start"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("start", "start must be >= 1")
		}
		sp.Start = n
	}
	if sp.SortOrder != "" && sp.SortOrder != "asc" && sp.SortOrder != "desc" {
		return badRequest("sortOrder", "sortOrder must be asc or desc")
	}
	res, err := s.opts.Portal.SearchPage(r.Context(), sp)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(res.Results))
	for _, it := range res.Results {
		items = append(items, map[string]any{"id": it.ID, "title": it.Title, "owner": it.Owner, "snippet": it.Snippet,
			"modified": it.Modified, "extent": it.Extent, "tags": it.Tags, "offline": it.HasTypeKeyword("Offline")})
	}
	out := map[string]any{"total": res.Total, "start": res.Start, "num": res.Num, "results": items}
	if res.NextStart > 0 {
		out["nextStart"] = res.NextStart
	}
	writeJSON(w, 200, out)
	return nil
}
