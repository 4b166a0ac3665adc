package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// GP job statuses (esriJob*).
const (
	JobNew        = "esriJobNew"
	JobSubmitted  = "esriJobSubmitted"
	JobWaiting    = "esriJobWaiting"
	JobExecuting  = "esriJobExecuting"
	JobSucceeded  = "esriJobSucceeded"
	JobFailed     = "esriJobFailed"
	JobTimedOut   = "esriJobTimedOut"
	JobCancelling = "esriJobCancelling"
	JobCancelled  = "esriJobCancelled"
)

// Job message types.
const (
	JobMessageInformative = "esriJobMessageTypeInformative"
	JobMessageWarning     = "esriJobMessageTypeWarning"
	JobMessageError       = "esriJobMessageTypeError"
)

// JobMessage is one entry of a job's messages.
type JobMessage struct {
	Type        string `json:"type,omitempty"`
	Description string `json:"description"`
}

// JobParamRef points at a job result or input: {"paramUrl":"results/x"}.
type JobParamRef struct {
	ParamURL string `json:"paramUrl"`
}

// JobOutput is the ArcGIS Online export job output.
type JobOutput struct {
	OutputURL []string `json:"outputUrl"`
	ItemID    string   `json:"itemId,omitempty"`
}

// JobStatus is a GP-style job resource (exportTiles,
// estimateExportTilesSize, VectorTileServer exports), both the Enterprise
// shape (results/inputs/messages) and the Online shape (output, levelStats).
type JobStatus struct {
	JobID     string                 `json:"jobId"`
	JobStatus string                 `json:"jobStatus"`
	Results   map[string]JobParamRef `json:"results,omitempty"`
	Inputs    map[string]JobParamRef `json:"inputs,omitempty"`
	Messages  []JobMessage           `json:"messages,omitempty"`
	// Message is the Online "message" (string or null) or the legacy
	// "message" array some failures carry.
	Message            json.RawMessage `json:"message,omitempty"`
	StatusCode         int             `json:"statusCode,omitempty"`
	Type               string          `json:"type,omitempty"`
	Output             *JobOutput      `json:"output,omitempty"`
	EstimatedNumTiles  int64           `json:"estimatedNumTiles,omitempty"`
	NumTiles           int64           `json:"numTiles,omitempty"`
	EstimatedTilesSize int64           `json:"estimatedTilesSize,omitempty"`
	TilesSize          int64           `json:"tilesSize,omitempty"`
	Extent             *Geometry       `json:"extent,omitempty"`
	StartTime          int64           `json:"startTime,omitempty"`
	LastTime           int64           `json:"lastTime,omitempty"`
	Progress           json.RawMessage `json:"progress,omitempty"`
	LevelStats         json.RawMessage `json:"levelStats,omitempty"`
}

// Done reports whether the job reached a terminal status.
func (s *JobStatus) Done() bool {
	switch s.JobStatus {
	case JobSucceeded, JobFailed, JobTimedOut, JobCancelled:
		return true
	}
	return s.JobStatus != "" && !strings.HasPrefix(s.JobStatus, "esriJob") // e.g. "error"
}

// ErrorMessages returns the descriptions of error messages (and of the
// legacy message array).
func (s *JobStatus) ErrorMessages() []string {
	var out []string
	for _, m := range s.Messages {
		if m.Type == JobMessageError || (m.Type == "" && s.JobStatus != JobSucceeded) {
			out = append(out, m.Description)
		}
	}
	var legacy []JobMessage
	if json.Unmarshal(s.Message, &legacy) == nil {
		for _, m := range legacy {
			out = append(out, m.Description)
		}
	} else if m := jsonString(s.Message); m != "" && s.JobStatus != JobSucceeded {
		out = append(out, m)
	}
	return out
}

// JobError is a GP job that ended in anything but esriJobSucceeded.
type JobError struct {
	JobURL string
	Status *JobStatus
}

// Error names the status and the job's error messages.
func (e *JobError) Error() string {
	s := fmt.Sprintf("job %s ended %s", stripQuery(e.JobURL), e.Status.JobStatus)
	if msgs := e.Status.ErrorMessages(); len(msgs) > 0 {
		s += ": " + strings.Join(msgs, "; ")
	}
	return s
}

// JobSubmission is a submitted job: its id, first status and status URL.
type JobSubmission struct {
	JobID     string
	JobStatus string
	// JobURL is where the status is polled.
	JobURL string
	// Raw is the submit response.
	Raw json.RawMessage
}

// JobStatusOf polls a job resource once (idempotent, retried).
func (c *Client) JobStatusOf(ctx context.Context, jobURL string) (*JobStatus, error) {
	return getStatus[JobStatus](ctx, c, "job status", jobURL, "jobStatus")
}

// getStatus GETs a job status resource once (idempotent, retried) as a T;
// the answer must have the member key. what names the call in errors.
func getStatus[T any](ctx context.Context, c *Client, what, statusURL, key string) (*T, error) {
	var st T
	req := &request{op: what, method: http.MethodGet, url: statusURL, form: withF(nil), idempotent: true, statusKey: key}
	if err := c.doJSON(ctx, req, &st, requireKeys(what+" ("+key+")", key)); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &st, nil
}

// WaitJob polls jobURL every interval (0: the client's poll interval)
// until the job ends. It returns the final status, with a *JobError unless
// it succeeded; ctx cancels the wait (not the server job; see CancelJob).
func (c *Client) WaitJob(ctx context.Context, jobURL string, interval time.Duration, progress func(*JobStatus)) (*JobStatus, error) {
	st, err := poll(ctx, c.pollEvery(interval), "wait for job "+stripQuery(jobURL), func(ctx context.Context) (*JobStatus, error) {
		return c.JobStatusOf(ctx, jobURL)
	}, progress)
	if err != nil || st.JobStatus == JobSucceeded {
		return st, err
	}
	return st, &JobError{JobURL: jobURL, Status: st}
}

// pollEvery is interval, or the client's poll interval when it is not
// positive.
func (c *Client) pollEvery(interval time.Duration) time.Duration {
	if interval <= 0 {
		return c.pollInterval
	}
	return interval
}

// poll calls status every interval, showing each answer to progress (if not
// nil), until the status is done. A status error is returned as is (with a
// zero status); a cancelled wait returns the last status and ctx's error
// prefixed with what.
func poll[S interface{ Done() bool }](ctx context.Context, interval time.Duration, what string, status func(context.Context) (S, error), progress func(S)) (S, error) {
	for {
		st, err := status(ctx)
		if err != nil {
			var none S
			return none, err
		}
		if progress != nil {
			progress(st)
		}
		if st.Done() {
			return st, nil
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return st, fmt.Errorf("%s: %w", what, err)
		}
	}
}

// CancelJob POSTs jobURL/cancel and returns the status it answers.
func (c *Client) CancelJob(ctx context.Context, jobURL string) (*JobStatus, error) {
	var st JobStatus
	if err := c.postJSON(ctx, "cancel job", joinURL(jobURL, "cancel"), nil, true, &st, requireKeys("job status", "jobStatus")); err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", stripQuery(jobURL), err)
	}
	return &st, nil
}

// JobResultValue is GET <job>/results/<name>.
type JobResultValue struct {
	ParamName string          `json:"paramName"`
	DataType  string          `json:"dataType,omitempty"`
	Value     json.RawMessage `json:"value"`
}

// JobResult fetches a named result of a job (the paramUrl of
// status.Results[name] when present, else results/<name>).
func (c *Client) JobResult(ctx context.Context, jobURL string, st *JobStatus, name string) (*JobResultValue, error) {
	rel := "results/" + name
	if st != nil {
		if ref, ok := st.Results[name]; ok && ref.ParamURL != "" {
			rel = ref.ParamURL
		}
	}
	u := resolveRef(jobURL, rel)
	var out JobResultValue
	if err := c.getJSON(ctx, "job result", u, nil, &out, requireKeys("job result (value)", "value")); err != nil {
		return nil, fmt.Errorf("job result %s: %w", name, err)
	}
	return &out, nil
}

// resolveRef resolves rel against base as a child path, or returns rel if
// it is absolute.
func resolveRef(base, rel string) string {
	if u, err := url.Parse(rel); err == nil && u.IsAbs() {
		return rel
	}
	return joinURL(stripQuery(base), rel)
}

// OutputFile is a file of an export job's output folder.
type OutputFile struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Size int64  `json:"size,omitempty"`
}

// ResolveExportOutput finds the download URL of an export job's package:
// ArcGIS Online's output.outputUrl[0]; else ArcGIS Enterprise's
// results/out_service_url value (a folder URL, or an object with url),
// whose folder listing {"files":[…]} names the file with one of exts
// (e.g. ".tpkx", ".tpk", ".vtpk"; empty means any). A value that is
// already a file URL is returned as is.
func (c *Client) ResolveExportOutput(ctx context.Context, jobURL string, st *JobStatus, exts ...string) (string, error) {
	if st.Output != nil && len(st.Output.OutputURL) > 0 && st.Output.OutputURL[0] != "" {
		return st.Output.OutputURL[0], nil
	}
	res, err := c.JobResult(ctx, jobURL, st, "out_service_url")
	if err != nil {
		return "", err
	}
	folder := jsonString(res.Value)
	var obj struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(res.Value, &obj) == nil && obj.URL != "" {
		folder = obj.URL
	}
	if folder == "" {
		return "", &UnexpectedResponseError{Op: "job result", URL: jobURL, Want: "out_service_url value", Body: snippet(res.Value)}
	}
	if hasExt(folder, exts) {
		return folder, nil
	}
	var listing struct {
		Files []OutputFile `json:"files"`
	}
	if err := c.getJSON(ctx, "output folder", folder, nil, &listing, requireKeys("folder listing (files)", "files")); err != nil {
		return "", fmt.Errorf("export output folder: %w", err)
	}
	for _, f := range listing.Files {
		if hasExt(f.Name, exts) || hasExt(f.URL, exts) {
			if f.URL == "" {
				return joinURL(stripQuery(folder), f.Name), nil
			}
			return resolveRef(folder, f.URL), nil
		}
	}
	return "", fmt.Errorf("export output folder %s: no file with extension %v among %d files", stripQuery(folder), exts, len(listing.Files))
}

func hasExt(u string, exts []string) bool {
	p := strings.ToLower(path.Ext(stripQuery(u)))
	if len(exts) == 0 {
		return p != ""
	}
	for _, e := range exts {
		if p == strings.ToLower(e) {
			return true
		}
	}
	return false
}
