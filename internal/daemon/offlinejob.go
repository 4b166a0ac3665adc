package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	stdsync "sync"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/offline"
	editsync "github.com/offlined/offlined/sync"
)

// OfflineRunner returns the RunFunc that runs offline.Job for a job request:
// default parameters and overrides are built when the request has none.
// Pause and resume call Job.Pause and Job.Resume (the job keeps its
// progress); a job waiting for sign-in reports offline.JobNeedsAuth.
// Stopping the daemon ends Run's context (the job's journal makes the next
// run resume); canceling calls Job.Cancel, which unregisters its
// replicas (queueing in unreg, when set, those it cannot unregister now)
// and removes partial files.
func OfflineRunner(client *arcgis.Client, unreg *editsync.UnregisterQueue, log *slog.Logger) RunFunc {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, info localapi.JobInfo, dir string, rep JobReporter) error {
		req := info.Request
		task, err := offline.NewTask(ctx, req.Source, offline.SourcePortal(client, req.Source), client)
		if err != nil {
			return fmt.Errorf("load web map: %w", err)
		}
		params := req.Parameters
		if params == nil {
			if params, err = task.CreateDefaultParameters(ctx, req.AreaOfInterest.Esri(), req.MinScale, req.MaxScale); err != nil {
				return fmt.Errorf("default parameters: %w", err)
			}
		}
		if req.Title != "" {
			// Work on copies: the request's parameters are shared with the
			// job manager, which encodes them for API responses.
			p := *params
			item := offline.ItemInfo{}
			if p.ItemInfo != nil {
				item = *p.ItemInfo
			}
			item.Title = req.Title
			p.ItemInfo = &item
			params = &p
		}
		ov := req.Overrides
		if ov == nil {
			if ov, err = task.CreateOverrides(ctx, params); err != nil {
				return fmt.Errorf("overrides: %w", err)
			}
		}
		var lastMu stdsync.Mutex
		var last localapi.JobProgress // for the warnings at the end
		job := task.NewJob(params, ov, dir, offline.JobOptions{Client: client, Logger: log, Unregister: unreg, Progress: func(p offline.Progress) {
			jp := localapi.JobProgress{State: p.State, Phase: string(p.State), Percent: p.Percent, Message: p.Message, Layers: p.Layers}
			lastMu.Lock()
			last = jp
			lastMu.Unlock()
			rep.Progress(jp)
		}})
		// Pause and resume act on the job in place (it keeps its progress);
		// a job waiting for sign-in goes on at Resume.
		rep.Attach(job)
		inner, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-ctx.Done():
				if errors.Is(context.Cause(ctx), errCanceled) {
					job.Cancel()
				} else {
					stop() // pause or shutdown: resumable
				}
			case <-done:
			}
		}()
		res, err := job.Run(inner)
		if err != nil {
			return err
		}
		if res.Canceled {
			return errCanceled
		}
		if len(res.Warnings) > 0 {
			lastMu.Lock()
			jp := last
			lastMu.Unlock()
			jp.State, jp.Warnings = "", res.Warnings
			jp.Message = fmt.Sprintf("finished with %d warning(s)", len(res.Warnings))
			rep.Progress(jp)
		}
		return nil
	}
}
