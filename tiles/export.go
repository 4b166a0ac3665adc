package tiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/atomicfile"
)

// ExportRequest is what a server-side tile export (exportTiles) is asked for.
type ExportRequest struct {
	Levels []int
	AOI    AOI
	// Vector selects the VectorTileServer flavour (no tilePackage/storageFormatType).
	Vector bool
}

// JobStatus is a GP job's state.
type JobStatus struct {
	Status   string // esriJobSucceeded, esriJobFailed, …
	Messages []string
}

// JobClient drives ArcGIS exportTiles jobs; internal/arcgis can satisfy it
// through an adapter, HTTPJobClient does it directly on net/http.
type JobClient interface {
	// SubmitExportTiles starts an export and returns the job URL.
	SubmitExportTiles(ctx context.Context, serviceURL string, req ExportRequest) (jobURL string, err error)
	// JobStatus polls a job.
	JobStatus(ctx context.Context, jobURL string) (JobStatus, error)
	// JobResultFiles returns the download URLs of a succeeded job's output files.
	JobResultFiles(ctx context.Context, jobURL string) ([]string, error)
	// CancelJob asks the server to stop a job.
	CancelJob(ctx context.Context, jobURL string) error
}

// JobError is a job that ended without success.
type JobError struct {
	JobURL   string
	Status   string
	Messages []string
}

func (e *JobError) Error() string {
	return fmt.Sprintf("export job %s ended %s: %s", e.JobURL, e.Status, strings.Join(e.Messages, "; "))
}

// ServiceError is an ArcGIS JSON error body.
type ServiceError struct {
	URL     string
	Code    int
	Message string
	Details []string
}

func (e *ServiceError) Error() string {
	msg := fmt.Sprintf("%s: error %d: %s", e.URL, e.Code, e.Message)
	if len(e.Details) > 0 {
		msg += " (" + strings.Join(e.Details, "; ") + ")"
	}
	return msg
}

// bodyError returns the ArcGIS error a JSON body b of URL u holds
// ({"error": {"code", "message", "details"}}, often with HTTP 200), or nil.
func bodyError(b []byte, u string) *ServiceError {
	var e struct {
		Error *struct {
			Code    int      `json:"code"`
			Message string   `json:"message"`
			Details []string `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil {
		return nil
	}
	return &ServiceError{URL: u, Code: e.Error.Code, Message: e.Error.Message, Details: e.Error.Details}
}

// HTTPJobClient implements JobClient and estimateExportTilesSize on net/http.
type HTTPJobClient struct {
	Client *http.Client
	// Tokens gives the token per URL (nil: anonymous).
	Tokens TokenSource
}

func (c *HTTPJobClient) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return http.DefaultClient
}

// getJSON GETs (form == nil) or POSTs u with f=json and decodes the reply,
// turning ArcGIS error bodies into *ServiceError.
func (c *HTTPJobClient) getJSON(ctx context.Context, u string, form url.Values, out any) error {
	var req *http.Request
	var err error
	if form != nil {
		form.Set("f", "json")
		tok, terr := tokenValue(ctx, c.Tokens, u)
		if terr != nil {
			return terr
		}
		if tok != "" {
			form.Set("token", tok)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		q := u
		if !strings.Contains(q, "f=json") {
			q = appendQuery(q, "f=json")
		}
		req, err = authGet(ctx, c.Tokens, q)
	}
	if err != nil {
		return err
	}
	resp, err := do(c.client(), c.Tokens, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := readCapped(resp.Body, MaxDocumentBytes, "job answer", u)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{URL: u, Code: resp.StatusCode, Message: strings.TrimSpace(string(b[:min(len(b), 300)]))}
	}
	if se := bodyError(b, u); se != nil {
		return se
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

func appendQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// PolygonJSON renders the AOI as an Esri JSON polygon in WGS84, split at the
// antimeridian (ArcGIS refuses crossing polygons).
func PolygonJSON(a AOI) (string, error) {
	mp, err := a.projectTo(4326)
	if err != nil {
		return "", err
	}
	var rings [][][2]float64
	for _, poly := range mp {
		for _, r := range poly {
			var ring [][2]float64
			for _, p := range r {
				ring = append(ring, [2]float64{p[0], p[1]})
			}
			if len(ring) > 0 && ring[0] != ring[len(ring)-1] {
				ring = append(ring, ring[0])
			}
			rings = append(rings, ring)
		}
	}
	b, err := json.Marshal(map[string]any{"rings": rings, "spatialReference": map[string]int{"wkid": 4326}})
	return string(b), err
}

// LevelList renders levels as ArcGIS wants them: "0-3,5,7-9".
func LevelList(levels []int) string {
	ls := append([]int(nil), levels...)
	sort.Ints(ls)
	var parts []string
	for i := 0; i < len(ls); {
		j := i
		for j+1 < len(ls) && ls[j+1] == ls[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ls[i], ls[j]))
		} else {
			parts = append(parts, strconv.Itoa(ls[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func exportForm(req ExportRequest) (url.Values, error) {
	poly, err := PolygonJSON(req.AOI)
	if err != nil {
		return nil, err
	}
	form := url.Values{"exportBy": {"LevelID"}, "levels": {LevelList(req.Levels)}, "polygon": {poly}}
	if !req.Vector {
		form.Set("tilePackage", "true")
		form.Set("storageFormatType", "CompactV2")
	}
	return form, nil
}

// SubmitExportTiles implements JobClient.
func (c *HTTPJobClient) SubmitExportTiles(ctx context.Context, serviceURL string, req ExportRequest) (string, error) {
	form, err := exportForm(req)
	if err != nil {
		return "", err
	}
	svc := strings.TrimRight(serviceURL, "/")
	var r struct {
		JobID string `json:"jobId"`
	}
	if err := c.getJSON(ctx, svc+"/exportTiles", form, &r); err != nil {
		return "", fmt.Errorf("exportTiles %s: %w", svc, err)
	}
	if r.JobID == "" {
		return "", fmt.Errorf("exportTiles %s: no jobId in the answer", svc)
	}
	return svc + "/exportTiles/jobs/" + url.PathEscape(r.JobID), nil
}

// JobStatus implements JobClient.
func (c *HTTPJobClient) JobStatus(ctx context.Context, jobURL string) (JobStatus, error) {
	var r struct {
		JobStatus string `json:"jobStatus"`
		Messages  []struct {
			Type        string `json:"type"`
			Description string `json:"description"`
		} `json:"messages"`
	}
	if err := c.getJSON(ctx, jobURL, nil, &r); err != nil {
		return JobStatus{}, err
	}
	st := JobStatus{Status: r.JobStatus}
	for _, m := range r.Messages {
		st.Messages = append(st.Messages, m.Description)
	}
	return st, nil
}

// CancelJob implements JobClient.
func (c *HTTPJobClient) CancelJob(ctx context.Context, jobURL string) error {
	var r map[string]any
	return c.getJSON(ctx, jobURL+"/cancel", url.Values{}, &r)
}

// JobResultFiles implements JobClient: Enterprise style (results/out_service_url
// → folder → files) or ArcGIS Online style (output.outputUrl).
func (c *HTTPJobClient) JobResultFiles(ctx context.Context, jobURL string) ([]string, error) {
	var job struct {
		Results map[string]struct {
			ParamURL string `json:"paramUrl"`
		} `json:"results"`
		Output *struct {
			OutputURL []string `json:"outputUrl"`
		} `json:"output"`
	}
	if err := c.getJSON(ctx, jobURL, nil, &job); err != nil {
		return nil, err
	}
	if job.Output != nil && len(job.Output.OutputURL) > 0 {
		return job.Output.OutputURL, nil
	}
	res, ok := job.Results["out_service_url"]
	if !ok {
		return nil, fmt.Errorf("job %s: no out_service_url result", jobURL)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := c.getJSON(ctx, jobURL+"/"+strings.TrimPrefix(res.ParamURL, "/"), nil, &v); err != nil {
		return nil, err
	}
	var folder struct {
		Files []struct {
			Name string `json:"name"`
			URL  string `json:"url"`
		} `json:"files"`
	}
	if err := c.getJSON(ctx, v.Value, nil, &folder); err != nil {
		return nil, err
	}
	var out []string
	for _, f := range folder.Files {
		u := f.URL
		if u == "" {
			u = strings.TrimRight(v.Value, "/") + "/" + url.PathEscape(f.Name)
		}
		out = append(out, u)
	}
	return out, nil
}

// ServiceEstimator asks a MapServer's estimateExportTilesSize (a GP job).
type ServiceEstimator struct {
	Jobs       *HTTPJobClient
	ServiceURL string
	Poll       time.Duration
}

// EstimateExportTilesSize implements SizeEstimator.
func (e *ServiceEstimator) EstimateExportTilesSize(ctx context.Context, levels []int, aoi AOI) (int64, int64, error) {
	form, err := exportForm(ExportRequest{Levels: levels, AOI: aoi})
	if err != nil {
		return 0, 0, err
	}
	svc := strings.TrimRight(e.ServiceURL, "/")
	var r struct {
		JobID string `json:"jobId"`
	}
	if err := e.Jobs.getJSON(ctx, svc+"/estimateExportTilesSize", form, &r); err != nil {
		return 0, 0, fmt.Errorf("estimateExportTilesSize %s: %w", svc, err)
	}
	jobURL := svc + "/estimateExportTilesSize/jobs/" + url.PathEscape(r.JobID)
	if err := waitJob(ctx, e.Jobs, jobURL, e.Poll); err != nil {
		// Some servers only expose …/jobs/{id}.
		return 0, 0, err
	}
	var v struct {
		Value struct {
			TotalSize          int64 `json:"totalSize"`
			TotalTilesToExport int64 `json:"totalTilesToExport"`
		} `json:"value"`
	}
	if err := e.Jobs.getJSON(ctx, jobURL+"/results/out_service_size", nil, &v); err != nil {
		return 0, 0, err
	}
	return v.Value.TotalSize, v.Value.TotalTilesToExport, nil
}

// waitJob polls until the job ends; it cancels the job when ctx is cancelled.
func waitJob(ctx context.Context, jc JobClient, jobURL string, poll time.Duration) error {
	if poll <= 0 {
		poll = time.Second
	}
	for {
		st, err := jc.JobStatus(ctx, jobURL)
		if err != nil {
			if ctx.Err() != nil {
				_ = jc.CancelJob(context.WithoutCancel(ctx), jobURL)
				return ctx.Err()
			}
			return fmt.Errorf("poll %s: %w", jobURL, err)
		}
		switch st.Status {
		case "esriJobSucceeded":
			return nil
		case "esriJobFailed", "esriJobTimedOut", "esriJobCancelled", "esriJobCancelling":
			return &JobError{JobURL: jobURL, Status: st.Status, Messages: st.Messages}
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = jc.CancelJob(context.WithoutCancel(ctx), jobURL)
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ExportOptions tunes ExportAndImport.
type ExportOptions struct {
	// JobURL resumes an export submitted before (the caller persisted it from OnJob).
	JobURL string
	// OnJob is called with the job URL right after submission.
	OnJob func(jobURL string)
	// Poll is the job polling interval (default 1s).
	Poll time.Duration
	// HTTP is used for the package download (default http.DefaultClient).
	HTTP *http.Client
	// Tokens gives the token per URL: the package URL may be on another
	// host (a pre-signed storage URL) that must not receive it.
	Tokens TokenSource
}

// ExportAndImport lets the server build a tile package: it submits exportTiles
// (or resumes opt.JobURL), polls the job, downloads the .tpkx/.vtpk into dir
// with resumable Range requests and imports its bundles into st. It returns
// the number of tiles imported.
func ExportAndImport(ctx context.Context, jc JobClient, serviceURL string, req ExportRequest, dir string, st *Store, opt ExportOptions) (int64, error) {
	jobURL := opt.JobURL
	if jobURL == "" {
		var err error
		if jobURL, err = jc.SubmitExportTiles(ctx, serviceURL, req); err != nil {
			return 0, err
		}
		if opt.OnJob != nil {
			opt.OnJob(jobURL)
		}
	}
	if err := waitJob(ctx, jc, jobURL, opt.Poll); err != nil {
		return 0, err
	}
	files, err := jc.JobResultFiles(ctx, jobURL)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", serviceURL, err)
	}
	var pkgURL string
	for _, f := range files {
		ext := strings.ToLower(path.Ext(strings.SplitN(f, "?", 2)[0]))
		if ext == ".tpkx" || ext == ".vtpk" {
			pkgURL = f
			break
		}
		if ext == ".tpk" {
			return 0, fmt.Errorf("export %s: the server made a .tpk (Compact Cache V1), which is not supported; ask for storageFormatType=CompactV2", serviceURL)
		}
	}
	if pkgURL == "" {
		return 0, fmt.Errorf("export %s: job %s produced no .tpkx/.vtpk (files: %v)", serviceURL, jobURL, files)
	}
	name := path.Base(strings.SplitN(pkgURL, "?", 2)[0])
	dest := filepath.Join(dir, name)
	hc := opt.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	if err := downloadFile(ctx, hc, opt.Tokens, pkgURL, dest, 0); err != nil {
		return 0, fmt.Errorf("export %s: %w", serviceURL, err)
	}
	pk, err := OpenPackage(dest)
	if err != nil {
		return 0, err
	}
	defer pk.Close()
	return ImportPackage(ctx, pk, st, nil)
}

// DownloadFile downloads u to dest through dest+".part", resuming a partial
// file with an HTTP Range request (and retrying a dropped connection from
// where it stopped). A server that ignores Range restarts the file.
func DownloadFile(ctx context.Context, hc *http.Client, u, dest string) error {
	return downloadFile(ctx, hc, nil, u, dest, 0)
}

// downloadFile is DownloadFile with the token tokens gives for u (none on
// redirects to other hosts) and, when limit > 0, a size limit.
func downloadFile(ctx context.Context, hc *http.Client, tokens TokenSource, u, dest string, limit int64) error {
	if _, err := os.Stat(dest); err == nil {
		return nil
	}
	part := dest + ".part"
	var last error
	for attempt := 0; attempt < 8; attempt++ {
		done, err := downloadOnce(ctx, hc, tokens, u, part, limit)
		if done {
			return atomicfile.Replace(part, dest)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *StatusError
		if (errors.As(err, &se) && !se.Retryable()) || refusedByPolicy(err) {
			os.Remove(part)
			return err
		}
		last = err
		t := time.NewTimer(time.Duration(100<<attempt) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Errorf("download %s: %w", u, last)
}

func downloadOnce(ctx context.Context, hc *http.Client, tokens TokenSource, u, part string, limit int64) (bool, error) {
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return false, err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	req, err := authGet(ctx, tokens, u)
	if err != nil {
		return false, err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := do(hc, tokens, req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var total int64 = -1
	switch resp.StatusCode {
	case http.StatusPartialContent:
		var a, b int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &a, &b, &total); err != nil || a != have {
			return false, fmt.Errorf("download %s: unexpected Content-Range %q for offset %d", u, resp.Header.Get("Content-Range"), have)
		}
	case http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return false, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
		have = 0
		total = resp.ContentLength
	case http.StatusRequestedRangeNotSatisfiable:
		var t int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes */%d", &t); err == nil && t == have {
			return true, nil
		}
		return false, f.Truncate(0)
	default:
		return false, &StatusError{URL: u, Code: resp.StatusCode}
	}
	body := io.Reader(resp.Body)
	if limit > 0 {
		if total > limit {
			return false, &TooLargeError{What: "download", URL: u, Limit: limit}
		}
		body = io.LimitReader(resp.Body, limit-have+1)
	}
	n, err := io.Copy(f, body)
	if err == nil && limit > 0 && have+n > limit {
		return false, &TooLargeError{What: "download", URL: u, Limit: limit}
	}
	if err != nil {
		return false, fmt.Errorf("download %s at byte %d: %w", u, have+n, err)
	}
	if err := f.Sync(); err != nil {
		return false, err
	}
	if total >= 0 && have+n != total {
		return false, fmt.Errorf("download %s: got %d of %d bytes", u, have+n, total)
	}
	return true, nil
}
