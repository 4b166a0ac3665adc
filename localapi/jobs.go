package localapi

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/offline"
)

// JobRequest asks for a web map to be taken offline.
type JobRequest struct {
	Source offline.Source `json:"source"`
	// MapID names the package directory (packages/<mapId>); generated when
	// empty.
	MapID string `json:"mapId,omitempty"`
	Title string `json:"title,omitempty"`
	// Parameters, when nil, are the web map's defaults for AreaOfInterest
	// and the scale range.
	Parameters     *offline.Parameters `json:"parameters,omitempty"`
	Overrides      *offline.Overrides  `json:"overrides,omitempty"`
	AreaOfInterest *Area               `json:"areaOfInterest,omitempty"`
	MinScale       float64             `json:"minScale,omitempty"`
	MaxScale       float64             `json:"maxScale,omitempty"`
}

// JobProgress is a job's progress as reported by its runner.
type JobProgress struct {
	// State, when set, is the runner's job state: offline.JobNeedsAuth
	// while it waits for sign-in, offline.JobRunning once it goes on.
	State   offline.JobState `json:"-"`
	Phase   string           `json:"phase,omitempty"`
	Percent float64          `json:"percent"`
	Message string           `json:"message,omitempty"`
	// Layers holds per-layer states and errors, as the runner reports them.
	Layers []*offline.LayerProgress `json:"layers,omitempty"`
	// Warnings are the finished job's per-layer warnings (a layer that came
	// out empty): in the job, its last progress event and its final state
	// event.
	Warnings []offline.LayerWarning `json:"warnings,omitempty"`
}

// JobInfo is a job's state. State is offline's job state machine:
// pending (waiting to run, or to resume after a restart), running, paused,
// needsAuth (waiting for sign-in: log in again, then resume), succeeded,
// failed, canceled.
type JobInfo struct {
	ID       string           `json:"id"`
	MapID    string           `json:"mapId"`
	State    offline.JobState `json:"state"`
	Progress JobProgress      `json:"progress"`
	Error    *Error           `json:"error,omitempty"`
	Request  JobRequest       `json:"request"`
	Created  string           `json:"created"`
	Updated  string           `json:"updated"`
	Attempts int              `json:"attempts"`
}

// Jobs runs offline map jobs. JobManager implements it around a RunFunc (the
// offline package's job).
type Jobs interface {
	Create(ctx context.Context, req JobRequest) (JobInfo, error)
	Get(ctx context.Context, id string) (JobInfo, error)
	List(ctx context.Context) ([]JobInfo, error)
	Pause(ctx context.Context, id string) (JobInfo, error)
	Resume(ctx context.Context, id string) (JobInfo, error)
	Cancel(ctx context.Context, id string) (JobInfo, error)
}

func (s *Server) jobs() (Jobs, error) {
	if s.opts.Jobs == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: "offline jobs are not available (this server runs without a job manager)"}
	}
	return s.opts.Jobs, nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobs()
	if err != nil {
		return err
	}
	l, err := j.List(r.Context())
	if err != nil {
		return err
	}
	if l == nil {
		l = []JobInfo{}
	}
	writeJSON(w, 200, map[string]any{"jobs": l})
	return nil
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobs()
	if err != nil {
		return err
	}
	var req JobRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := req.Source.Check(); err != nil {
		return badRequest("source", "%v", err)
	}
	if req.MapID != "" && !validID.MatchString(req.MapID) {
		return badRequest("mapId", "mapId must be 1-128 letters, digits, '.', '_' or '-'")
	}
	if req.Parameters == nil && req.AreaOfInterest == nil {
		return badRequest("areaOfInterest", "areaOfInterest (or parameters) is required")
	}
	if req.AreaOfInterest != nil {
		if err := req.AreaOfInterest.Validate(); err != nil {
			return badRequest("areaOfInterest", "%v", err)
		}
		if err := checkAreaLonLat(req.AreaOfInterest.Esri(), "areaOfInterest"); err != nil {
			return err
		}
	}
	if req.MinScale < 0 || req.MaxScale < 0 || (req.MinScale > 0 && req.MaxScale > req.MinScale) {
		return badRequest("maxScale", "scales must be >= 0 and maxScale <= minScale (0 = unbounded)")
	}
	if err := s.checkBasemaps(req.Parameters, "parameters", req.Overrides, "overrides"); err != nil {
		return err
	}
	// Resolve defaults now, so bad areas or sources fail here and a resumed
	// job runs with exactly the parameters and overrides it started with.
	if p := s.opts.Planner; p != nil {
		if req.Parameters == nil {
			if req.Parameters, err = p.DefaultParameters(r.Context(), req.Source, req.AreaOfInterest.Esri(), req.MinScale, req.MaxScale); err != nil {
				return err
			}
		}
		if req.Overrides == nil {
			if req.Overrides, err = p.Overrides(r.Context(), req.Source, req.Parameters); err != nil {
				return err
			}
		}
	}
	info, err := j.Create(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/jobs/"+info.ID)
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobs()
	if err != nil {
		return err
	}
	info, err := j.Get(r.Context(), mux.Vars(r)["job"])
	return respond(w, 200, info, err)
}

func (s *Server) jobAction(action string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		j, err := s.jobs()
		if err != nil {
			return err
		}
		id := mux.Vars(r)["job"]
		var info JobInfo
		switch action {
		case "pause":
			info, err = j.Pause(r.Context(), id)
		case "resume":
			info, err = j.Resume(r.Context(), id)
		default:
			info, err = j.Cancel(r.Context(), id)
		}
		if err != nil {
			return err
		}
		writeJSON(w, 200, info)
		return nil
	}
}

// jobEvents streams the job's progress events (SSE, resumable with
// Last-Event-ID).
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobs()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["job"]
	info, err := j.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if terminal(info.State) {
		// A job that finished before the daemon restarted has no events in
		// memory: its stream gives the final state and ends, instead of
		// keep-alives forever.
		s.hub.finalize("job/"+id, "state", info)
	}
	s.hub.serveSSE(r.Context(), w, r, "job/"+id, s.opts.KeepAlive)
	return nil
}
