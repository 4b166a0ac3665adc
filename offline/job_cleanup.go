package offline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	editsync "github.com/offlined/offlined/sync"
)

// abort ends a failed or canceled job: replicas registered by the job are
// unregistered and the partial content is removed.
func (j *Job) abort(state JobState, cause error) (*Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := j.partialResult(state)
	j.cleanup(ctx)
	j.setState(state, "")
	r.State = state
	if state == JobCanceled {
		r.Canceled = true
		return r, context.Canceled
	}
	return r, fmt.Errorf("offline map job stopped at the first failure (continueOnErrors is false): %w", cause)
}

// cleanup unregisters the job's replicas and removes what it wrote.
func (j *Job) cleanup(ctx context.Context) {
	c := j.opt.Client
	done := map[string]bool{}
	unregister := func(svcURL, id string) {
		if id == "" || done[id] {
			return
		}
		done[id] = true
		err := c.UnregisterReplica(ctx, svcURL, id)
		if err == nil || editsync.Gone(err) {
			return
		}
		if q := j.opt.Unregister; q != nil {
			if qerr := q.Add(svcURL, id); qerr == nil {
				j.log.Info("unregister replica failed; queued", "service", svcURL, "replica", id, "err", err)
				return
			}
		}
		j.log.Warn("unregister replica", "service", svcURL, "replica", id, "err", err)
	}
	for _, r := range j.jr.Replicas {
		unregister(r.ServiceURL, r.ID)
	}
	// Replicas asked for but not known yet: wait for a submitted job to
	// name its replica, and look a requested one up by its unique name.
	for _, id := range j.order {
		s := j.jr.step(id)
		if s.Kind != KindReplica || (s.ReplicaPhase != replicaRequested && s.ReplicaPhase != replicaSubmitted) {
			continue
		}
		svcURL := j.o.GenerateGeodatabase[s.Key].ServiceURL
		if s.StatusURL != "" {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if st, err := c.WaitReplicaJob(wctx, s.StatusURL, j.opt.PollInterval, nil); err == nil {
				unregister(svcURL, st.ReplicaID)
			}
			cancel()
		}
		for attempt := 0; attempt < 3; attempt++ {
			refs, err := c.Replicas(ctx, svcURL)
			found := false
			for _, r := range refs {
				if r.ReplicaName == s.ReplicaName {
					unregister(svcURL, r.ReplicaID)
					found = true
				}
			}
			if err != nil || found || s.StatusURL != "" {
				break
			}
			// createReplica may still be running on the server after the
			// client gave up on it.
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, name := range []string{DataDir, TilesDir, MapFile, ItemInfoFile, ManifestFile, JournalFile} {
		os.RemoveAll(filepath.Join(j.dir, name))
	}
	if m, _ := filepath.Glob(filepath.Join(j.dir, "thumbnail.*")); len(m) > 0 {
		for _, f := range m {
			os.Remove(f)
		}
	}
}

// AbandonJob gives up an interrupted job in dir: the replicas it registered
// (or was creating) are unregistered and its partial content removed, so
// the directory is empty again. A directory holding a complete package or
// no job journal is left alone.
func AbandonJob(ctx context.Context, dir string, c *arcgis.Client) error {
	jr, err := loadJournal(dir)
	if err != nil {
		return err
	}
	if jr == nil {
		return fmt.Errorf("%s holds no interrupted offline map job", dir)
	}
	if _, err := ReadManifest(dir); err == nil {
		return fmt.Errorf("%s holds a complete package: delete it with Package.Delete", dir)
	}
	j := &Job{dir: dir, jr: jr, opt: JobOptions{Client: c}, log: slog.New(slog.DiscardHandler),
		o: &Overrides{GenerateGeodatabase: map[Key]*GenerateGeodatabaseParameters{}}}
	// The steps' service URLs: the journal keys are service keys, and the
	// replicas list carries the URLs used.
	for id, s := range jr.Steps {
		j.order = append(j.order, id)
		if s.Kind == KindReplica {
			j.o.GenerateGeodatabase[s.Key] = &GenerateGeodatabaseParameters{ServiceURL: s.ServiceURL}
		}
	}
	sort.Strings(j.order)
	j.cleanup(ctx)
	return nil
}
