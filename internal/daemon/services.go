package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
	editsync "github.com/offlined/offlined/sync"
)

// unregisterService tries the unregister queue at start and then every
// interval (when one is set) while replicas are left in it; with the queue
// empty it arms no timer until a replica is queued.
type unregisterService struct {
	reg   *Registry
	every time.Duration
	clk   clock.Clock // nil: the real clock
	// retried, when set (tests), is called after each try of the queue
	// once the timer is armed or not.
	retried func()
}

// Serve implements Service.
func (u *unregisterService) Serve(ctx context.Context) error {
	q := u.reg.unreg
	armed := u.reg.RetryUnregister(ctx)
	if u.every <= 0 {
		<-ctx.Done()
		return nil
	}
	clk := u.clk
	if clk == nil {
		clk = clock.Real()
	}
	t := clk.NewTimer(u.every)
	defer t.Stop()
	if !armed {
		t.Stop()
	}
	if u.retried != nil {
		u.retried()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-q.Added():
			if !armed {
				t.Reset(u.every)
				armed = true
			}
		case <-t.C():
			if armed = u.reg.RetryUnregister(ctx); armed {
				t.Reset(u.every)
			}
			if u.retried != nil {
				u.retried()
			}
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
