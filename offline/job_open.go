package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/atomicfile"
	"github.com/offlined/offlined/internal/dirlock"
)

// lockDir takes the package directory's exclusive lock (creating the
// directory when absent) so no second job, here or in another process,
// writes into it while this one runs. A refusal wraps dirlock.ErrLocked.
// The returned function releases the lock and removes a directory this
// call created if it is still empty.
func (j *Job) lockDir() (func(), error) {
	created := false
	if _, err := os.Stat(j.dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(j.dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", j.dir, err)
		}
		created = true
	}
	l, err := dirlock.Dir(j.dir)
	if err != nil {
		if created {
			os.Remove(j.dir)
		}
		return nil, fmt.Errorf("offline map job: target directory: %w", err)
	}
	return func() {
		if created {
			os.Remove(j.dir) // only succeeds when empty (validation refused)
		}
		l.Unlock()
	}, nil
}

// open validates the job (a fresh directory), reloads its journal (a
// directory holding this job's partial content) or finds the job done (a
// directory holding its finished package).
func (j *Job) open(ctx context.Context) error {
	fp, err := fingerprint(j.task.Source, j.p, j.o)
	if err != nil {
		return err
	}
	jr, err := loadJournal(j.dir)
	if err != nil {
		return err
	}
	if jr != nil {
		if err := j.adoptJournal(jr, fp); err != nil {
			return err
		}
		j.jr = jr
		j.initSteps()
		j.mu.Lock()
		j.resumed = true
		j.mu.Unlock()
		j.log.Info("offline map job resumed from its journal", "dir", j.dir, "job", jr.ID)
		j.emit()
		return nil
	}
	if j.finishedPackage() {
		j.jr = &journal{State: JobSucceeded} // Run returns the package
		return nil
	}
	// A kill during the very first journal write leaves only its temporary
	// file: the directory is still this job's, and empty otherwise.
	if names, err := os.ReadDir(j.dir); err == nil && len(names) == 1 && atomicfile.IsTemp(names[0].Name(), JournalFile) {
		if err := os.Remove(filepath.Join(j.dir, names[0].Name())); err != nil {
			return err
		}
	}
	checks := j.opt.Checks
	if checks == nil {
		checks = []Check{TileChecks(j.opt.Client)}
	}
	if err := j.task.Validate(ctx, j.p, j.o, j.dir, checks...); err != nil {
		return err
	}
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", j.dir, err)
	}
	// A package is private: a new job's directory is made owner-only
	// even when the caller created it empty with a wider mode.
	if err := os.Chmod(j.dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", j.dir, err)
	}
	src := j.task.Source
	wm, resolved, err := j.task.recordMap()
	if err != nil {
		return err
	}
	j.jr = &journal{path: filepath.Join(j.dir, JournalFile), Version: journalVersion, ID: newID(), Fingerprint: fp,
		Source: &src, Parameters: j.p, Overrides: j.o, WebMap: wm, Resolved: resolved, Created: time.Now().UTC().Truncate(time.Second), State: JobRunning, Steps: map[string]*stepInfo{}}
	j.initSteps()
	return j.jr.save()
}

// adoptJournal decides whether the journal found in the directory is this
// job's and, when it is, makes the job run with the inputs it recorded. A
// journal is this job's when it records the same source and area of
// interest: the web map and services may have changed since the job started
// (so recomputed parameters and overrides differ), but the resume finishes
// what was started. A version 1 journal (inputs not recorded) must match
// the fingerprint.
func (j *Job) adoptJournal(jr *journal, fp string) error {
	another := &ValidationError{Code: ErrTargetNotEmpty, Message: fmt.Sprintf(
		"target directory %s holds the partial content of another offline map job (different source or area of interest); abandon it or choose another directory", j.dir)}
	if jr.Parameters == nil || jr.Overrides == nil || jr.Source == nil {
		if jr.Fingerprint != fp {
			return another
		}
		return nil
	}
	if !jr.Source.Equal(j.task.Source) || !sameGeometry(jr.Parameters.AreaOfInterest, j.p.AreaOfInterest) {
		return another
	}
	if jr.Fingerprint != fp {
		const msg = "resumed with the parameters and overrides recorded when the job started (the web map, its services or the request changed since)"
		j.log.Info("offline map job "+msg, "dir", j.dir, "job", jr.ID)
		j.mu.Lock()
		j.message = msg
		j.mu.Unlock()
	}
	j.p, j.o = jr.Parameters, jr.Overrides
	if len(jr.WebMap) > 0 {
		t, err := j.task.withRecordedMap(jr.WebMap, jr.Resolved)
		if err != nil {
			return fmt.Errorf("job journal in %s: %w", j.dir, err)
		}
		j.task = t
	}
	return nil
}

// sameGeometry compares two areas of interest by their JSON form.
func sameGeometry(a, b *arcgis.Geometry) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// finishedPackage reports whether the job's directory already holds this
// job's finished package (same source and area of interest): what a kill
// after the job wrote its manifest and removed its journal leaves. Running
// the job again then has nothing left to do.
func (j *Job) finishedPackage() bool {
	m, err := ReadManifest(j.dir)
	if err != nil || m.Parameters == nil {
		return false
	}
	return m.Source.Equal(j.task.Source) && sameGeometry(m.Parameters.AreaOfInterest, j.p.AreaOfInterest)
}
