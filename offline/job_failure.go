package offline

import (
	"errors"
	"os"
	"strings"
	"syscall"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// isAuthFailure reports an authentication error that survived the
// client's token renewal.
func isAuthFailure(err error) bool {
	var ae *authError
	if arcgis.IsAuth(err) || errors.As(err, &ae) {
		return true
	}
	var fe *tiles.FatalError
	if !errors.As(err, &fe) {
		return false
	}
	if arcgis.IsAuth(fe.Err) || arcgis.IsForbidden(fe.Err) {
		return true
	}
	var se *tiles.StatusError
	if errors.As(fe.Err, &se) {
		switch se.Code {
		case 401, 403, 498, 499:
			return true
		}
	}
	return false
}

// isDiskFull reports an out-of-space failure (ENOSPC, SQLite's "database or
// disk is full"): not a layer's fault, so the job stops resumable instead of
// finishing a package with the layer missing.
func isDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "disk is full") || strings.Contains(msg, "no space left on device") || strings.Contains(msg, "SQLITE_FULL")
}

// fail records a step's failure in the journal and the progress.
func (j *Job) fail(id string, err error) {
	rec := j.jr.step(id)
	le := &LayerError{Key: rec.Key, Call: "job", Message: err.Error()}
	var se *StepError
	if errors.As(err, &se) {
		le.Service, le.Call = se.Service, se.Call
		le.Message, le.Code = serverMessage(se.Err)
	}
	le.Layer = j.prog[id].Title
	if e := j.task.Entry(rec.Key); e != nil && e.Title != "" {
		le.Layer = e.Title
	}
	j.log.Warn("offline layer failed", "key", rec.Key, "call", le.Call, "err", err)
	// A failed layer leaves no partial files behind.
	path := j.storePath(rec.Store)
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.RemoveAll(path + suffix)
	}
	if src, err := sourceOfStep(id); err == nil {
		for _, p := range src.partial(path) {
			os.RemoveAll(p)
		}
	}
	j.jr.updateStep(id, func(s *stepInfo) {
		s.Status = stepFailed
		s.Error = le
	})
	j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = stepFailed; lp.Error = le.Message })
}

// collectErrors spreads each failed step's error over the layers and
// tables it covers, keyed like the parameters.
func (j *Job) collectErrors(layers, tables map[Key]*LayerError) {
	if j.jr == nil {
		return
	}
	j.leftOutErrors(layers, tables)
	j.jr.mu.Lock()
	defer j.jr.mu.Unlock()
	for id, s := range j.jr.Steps {
		if s.Error == nil {
			continue
		}
		src, err := sourceOfStep(id)
		if err != nil {
			continue
		}
		for _, k := range src.errorKeys(j, *s) {
			le := *s.Error
			le.Key = k
			if e := j.task.Entry(k); e != nil {
				le.Layer = e.Title
				if e.IsTable() {
					tables[k] = &le
					continue
				}
			}
			layers[k] = &le
		}
	}
}

// leftOutErrors adds an error for every entry the overrides say could
// neither go offline nor stay online (LeftOut with Error): such a layer
// counts in hasErrors, unlike ArcGIS, whose result reports only the layers
// that failed during the job.
func (j *Job) leftOutErrors(layers, tables map[Key]*LayerError) {
	if j.o == nil {
		return
	}
	for _, k := range sortedKeys(j.o.LeftOut) {
		lo := j.o.LeftOut[k]
		if lo == nil || !lo.Error {
			continue
		}
		le := &LayerError{Key: k, Call: "capabilities", Reason: lo.Reason, Message: lo.Message}
		if le.Message == "" {
			le.Message = string(lo.Reason)
		}
		if e := j.task.Entry(k); e != nil {
			le.Layer = e.Title
			if e.Layer != nil {
				le.Service = e.Layer.URL
			}
			if e.IsTable() {
				tables[k] = le
				continue
			}
		}
		layers[k] = le
	}
}
