package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	editsync "github.com/offlined/offlined/sync"
)

// unregisterService tries the unregister queue at start and then every
// interval (when one is set) until ctx ends.
type unregisterService struct {
	reg   *Registry
	every time.Duration
}

// Serve implements Service.
func (u *unregisterService) Serve(ctx context.Context) error {
	u.reg.RetryUnregister(ctx)
	if u.every <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(u.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			u.reg.RetryUnregister(ctx)
		}
	}
}

// jobService stops the job manager (started by Run, which resumes
// interrupted jobs) when ctx ends: running jobs checkpoint and stay pending
// for the next start.
type jobService struct {
	jobs *JobManager
	stop context.CancelFunc // ends the context the manager was started with
}

// Serve implements Service.
func (j *jobService) Serve(ctx context.Context) error {
	<-ctx.Done()
	j.stop()
	j.jobs.Shutdown()
	return nil
}

// schedulerService keeps a sync scheduler running for every feature store
// (when an interval is set) and, at the end, stops background syncs
// started over the API (stopWork) and waits for them.
type schedulerService struct {
	syncer   *EngineSyncer
	opts     editsync.SchedulerOptions
	stopWork context.CancelFunc
}

// Serve implements Service.
func (s *schedulerService) Serve(ctx context.Context) error {
	if s.opts.Interval > 0 {
		s.syncer.RunSchedulers(ctx, s.opts, 10*time.Second)
	} else {
		<-ctx.Done()
	}
	// Syncs in flight end at their next step, their journal making the
	// next sync exact.
	s.stopWork()
	s.syncer.Wait()
	return nil
}

// SchedulerOptions configures the sync schedulers: every interval, and
// while offline a cheap GET of the portal (not a full sync) on a backoff.
func SchedulerOptions(client *arcgis.Client, every time.Duration, log *slog.Logger) editsync.SchedulerOptions {
	opts := editsync.SchedulerOptions{Interval: every, Logger: log}
	if client != nil && client.PortalURL() != "" {
		hc := &http.Client{Transport: client.HTTPClient().Transport, Timeout: 15 * time.Second}
		opts.Probe = editsync.HTTPProber(hc, client.PortalURL())
	}
	return opts
}
