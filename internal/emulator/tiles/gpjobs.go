package tiles

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// gpResult is one output parameter. Value is computed per request so that
// URLs use the request's host.
type gpResult struct {
	dataType string
	value    func(r *http.Request) any
}

// gpFile is one file in a job's output folder.
type gpFile struct {
	name string
	path string
	size int64
}

// gpJob is one asynchronous geoprocessing-style job.
type gpJob struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	status   string
	messages []arcgis.JobMessage
	results  map[string]gpResult
	inputs   map[string]any
	files    []gpFile
	resOrder []string
}

// gpRunFunc does a job's work. It reports progress with j.info, publishes
// outputs with j.setResult/j.addFile and returns an error to fail the job;
// it must return promptly when ctx is cancelled.
type gpRunFunc func(ctx context.Context, j *gpJob) error

// gpJobs runs GP jobs: each job moves esriJobSubmitted → esriJobExecuting →
// esriJobSucceeded | esriJobFailed | esriJobCancelled. Reusable by any
// service that needs GP-style jobs.
type gpJobs struct {
	step time.Duration
	seed int64
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu   sync.Mutex
	seq  uint64
	jobs map[string]*gpJob
}

func newGPJobs(seed int64, step time.Duration) *gpJobs {
	if step <= 0 {
		step = 20 * time.Millisecond
	}
	ctx, stop := context.WithCancel(context.Background())
	return &gpJobs{step: step, seed: seed, ctx: ctx, stop: stop, jobs: map[string]*gpJob{}}
}

// close cancels every running job and waits for them to end.
func (g *gpJobs) close() {
	g.stop()
	g.wg.Wait()
}

// submit starts a job; suffix is appended to the job id (e.g. "_et").
func (g *gpJobs) submit(suffix string, inputs map[string]any, run gpRunFunc) *gpJob {
	g.mu.Lock()
	g.seq++
	id := fmt.Sprintf("j%016x%016x%s", tileHash(g.seed, tileKey{0, int(g.seq >> 32), int(g.seq)}), g.seq, suffix)
	ctx, cancel := context.WithCancel(g.ctx)
	j := &gpJob{id: id, cancel: cancel, done: make(chan struct{}), status: arcgis.JobSubmitted,
		results: map[string]gpResult{}, inputs: inputs,
		messages: []arcgis.JobMessage{{Type: arcgis.JobMessageInformative, Description: "Submitted."}}}
	g.jobs[id] = j
	g.mu.Unlock()

	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(j.done)
		defer cancel()
		g.execute(ctx, j, run)
	}()
	return j
}

func (g *gpJobs) execute(ctx context.Context, j *gpJob, run gpRunFunc) {
	if !sleepCtx(ctx, g.step) {
		j.finishCancelled()
		return
	}
	j.mu.Lock()
	j.status = arcgis.JobExecuting
	j.messages = append(j.messages, arcgis.JobMessage{Type: arcgis.JobMessageInformative, Description: "Executing..."}, arcgis.JobMessage{Type: arcgis.JobMessageInformative, Description: "Start Time: " + time.Now().UTC().Format(time.RFC1123)})
	j.mu.Unlock()
	start := time.Now()
	if !sleepCtx(ctx, g.step) {
		j.finishCancelled()
		return
	}
	err := run(ctx, j)
	switch {
	case ctx.Err() != nil:
		j.finishCancelled()
	case err != nil:
		j.mu.Lock()
		j.status = arcgis.JobFailed
		j.messages = append(j.messages, arcgis.JobMessage{Type: arcgis.JobMessageError, Description: err.Error()}, arcgis.JobMessage{Type: arcgis.JobMessageError, Description: "Failed to execute."})
		j.removeFilesLocked()
		j.mu.Unlock()
	default:
		j.mu.Lock()
		j.status = arcgis.JobSucceeded
		j.messages = append(j.messages, arcgis.JobMessage{Type: arcgis.JobMessageInformative, Description: fmt.Sprintf("Succeeded at %s (Elapsed Time: %.2f seconds)",
			time.Now().UTC().Format(time.RFC1123), time.Since(start).Seconds())})
		j.mu.Unlock()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (j *gpJob) finishCancelled() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.status = arcgis.JobCancelled
	j.messages = append(j.messages, arcgis.JobMessage{Type: arcgis.JobMessageInformative, Description: "Cancel complete."})
	j.removeFilesLocked()
}

func (j *gpJob) removeFilesLocked() {
	for _, f := range j.files {
		_ = os.Remove(f.path)
	}
	j.files = nil
}

// info appends an informative message.
func (j *gpJob) info(format string, args ...any) {
	j.mu.Lock()
	j.messages = append(j.messages, arcgis.JobMessage{Type: arcgis.JobMessageInformative, Description: fmt.Sprintf(format, args...)})
	j.mu.Unlock()
}

// setResult publishes output parameter name.
func (j *gpJob) setResult(name, dataType string, value func(r *http.Request) any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.results[name]; !ok {
		j.resOrder = append(j.resOrder, name)
	}
	j.results[name] = gpResult{dataType, value}
}

// addFile adds a file to the job's output folder.
func (j *gpJob) addFile(name, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("job %s output %s: %w", j.id, name, err)
	}
	j.mu.Lock()
	j.files = append(j.files, gpFile{name: name, path: path, size: fi.Size()})
	j.mu.Unlock()
	return nil
}

// terminal reports whether status is final.
func terminal(status string) bool {
	return status == arcgis.JobSucceeded || status == arcgis.JobFailed || status == arcgis.JobCancelled
}

// get returns the job with id.
func (g *gpJobs) get(id string) *gpJob {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.jobs[id]
}

// jobJSON renders the job resource.
func (j *gpJob) jobJSON() map[string]any {
	j.mu.Lock()
	defer j.mu.Unlock()
	results := map[string]any{}
	if j.status == arcgis.JobSucceeded {
		for _, n := range j.resOrder {
			results[n] = map[string]string{"paramUrl": "results/" + n}
		}
	}
	inputs := map[string]any{}
	for n := range j.inputs {
		inputs[n] = map[string]string{"paramUrl": "inputs/" + n}
	}
	return map[string]any{
		"jobId":     j.id,
		"jobStatus": j.status,
		"results":   results,
		"inputs":    inputs,
		"messages":  append([]arcgis.JobMessage(nil), j.messages...),
	}
}

// registerJobRoutes serves job status, results, inputs and cancel under each
// base path (e.g. …/MapServer/exportTiles/jobs and …/MapServer/jobs).
func (s *Tiles) registerJobRoutes(bases ...string) {
	for _, b := range bases {
		s.router.HandleFunc(b+"/{jobId}", s.authed(s.handleJob))
		s.router.HandleFunc(b+"/{jobId}/cancel", s.authed(s.handleJobCancel))
		s.router.HandleFunc(b+"/{jobId}/results/{param}", s.authed(s.handleJobParam(true)))
		s.router.HandleFunc(b+"/{jobId}/inputs/{param}", s.authed(s.handleJobParam(false)))
	}
}

func (s *Tiles) jobFromRequest(w http.ResponseWriter, r *http.Request) *gpJob {
	j := s.tiles.jobs.get(mux.Vars(r)["jobId"])
	if j == nil {
		rest.WriteError(w, http.StatusOK, 400, "Job not found", "Invalid job id "+mux.Vars(r)["jobId"])
	}
	return j
}

func (s *Tiles) handleJob(w http.ResponseWriter, r *http.Request) {
	if j := s.jobFromRequest(w, r); j != nil {
		rest.WriteJSON(w, http.StatusOK, j.jobJSON())
	}
}

func (s *Tiles) handleJobCancel(w http.ResponseWriter, r *http.Request) {
	j := s.jobFromRequest(w, r)
	if j == nil {
		return
	}
	j.mu.Lock()
	if !terminal(j.status) {
		j.status = arcgis.JobCancelling
	}
	j.mu.Unlock()
	j.cancel()
	rest.WriteJSON(w, http.StatusOK, j.jobJSON())
}

func (s *Tiles) handleJobParam(result bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j := s.jobFromRequest(w, r)
		if j == nil {
			return
		}
		name := mux.Vars(r)["param"]
		j.mu.Lock()
		res, okRes := j.results[name]
		in, okIn := j.inputs[name]
		status := j.status
		j.mu.Unlock()
		switch {
		case result && okRes && status == arcgis.JobSucceeded:
			rest.WriteJSON(w, http.StatusOK, map[string]any{"paramName": name, "dataType": res.dataType, "value": res.value(r)})
		case !result && okIn:
			rest.WriteJSON(w, http.StatusOK, map[string]any{"paramName": name, "dataType": "GPString", "value": in})
		default:
			rest.WriteError(w, http.StatusOK, 400, "Parameter not found", fmt.Sprintf("job %s has no %s parameter %q (status %s)", j.id, map[bool]string{true: "result", false: "input"}[result], name, status))
		}
	}
}

// jobOutputBase is where job output folders are served.
const jobOutputBase = "/arcgis/rest/directories/arcgisoutput"

// outputFolderURL is the absolute URL of job id's output folder.
func outputFolderURL(r *http.Request, id string) string {
	return hostURL(r) + jobOutputBase + "/" + id
}

// registerJobOutputs serves output folders ({"files":[…]}) and file
// downloads with HTTP Range support.
func (s *Tiles) registerJobOutputs() {
	s.router.HandleFunc(jobOutputBase+"/{jobId}", s.authed(func(w http.ResponseWriter, r *http.Request) {
		j := s.jobFromRequest(w, r)
		if j == nil {
			return
		}
		j.mu.Lock()
		files := make([]map[string]any, 0, len(j.files))
		for _, f := range j.files {
			files = append(files, map[string]any{"name": f.name, "url": outputFolderURL(r, j.id) + "/" + f.name, "size": f.size})
		}
		j.mu.Unlock()
		sort.Slice(files, func(a, b int) bool { return files[a]["name"].(string) < files[b]["name"].(string) })
		rest.WriteJSON(w, http.StatusOK, map[string]any{"folders": []string{}, "files": files})
	}))
	s.router.HandleFunc(jobOutputBase+"/{jobId}/{file}", s.authed(func(w http.ResponseWriter, r *http.Request) {
		j := s.jobFromRequest(w, r)
		if j == nil {
			return
		}
		name := mux.Vars(r)["file"]
		var path string
		j.mu.Lock()
		for _, f := range j.files {
			if f.name == name {
				path = f.path
			}
		}
		j.mu.Unlock()
		if path == "" {
			rest.WriteError(w, http.StatusNotFound, 404, "File not found", name)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			rest.WriteError(w, http.StatusNotFound, 404, "File not found", name)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			rest.WriteError(w, http.StatusInternalServerError, 500, "File unreadable", name)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", "attachment; filename=\""+filepath.Base(name)+"\"")
		http.ServeContent(w, r, name, fi.ModTime(), f)
	}))
}
