// Package demo runs offlined's end-to-end demonstration: the ArcGIS REST
// emulator with its demo data on loopback, the offline map task on the demo
// web map (capabilities, default parameters, the job with a progress bar),
// then a local edit synced back to the emulator. cmd/offlined's demo
// command is a thin wrapper around Run.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/offline"
)

// Area is the demo area of interest (WGS84), where the emulator generates
// its data.
func Area() *arcgis.Geometry {
	f := func(v float64) *float64 { return &v }
	return &arcgis.Geometry{XMin: f(-117.25), YMin: f(33.98), XMax: f(-117.10), YMax: f(34.10),
		SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
}

// Options configure Run.
type Options struct {
	// Dir receives the package; it must be empty or absent.
	Dir string
	// MinScale and MaxScale bound the basemap levels (defaults 150000 and
	// 10000: levels 12-15 of the demo basemap).
	MinScale, MaxScale float64
	// NoSync skips the edit-and-sync step.
	NoSync bool
	// Progress draws a progress bar on Out (carriage returns).
	Progress bool
	Out      io.Writer
	Logger   *slog.Logger
}

// Summary is what a demo run did.
type Summary struct {
	Dir          string
	ServerURL    string
	Capabilities *offline.Capabilities
	Result       *offline.Result
	// Synced is set when the edit-and-sync step ran: the edited feature's
	// GlobalID and the value the server holds after the sync.
	Synced      bool
	EditedGID   string
	ServerNotes string
	Elapsed     time.Duration
}

// Env is a running demo emulator with a signed-in client.
type Env struct {
	Emulator *emulator.Server
	URL      string
	Client   *arcgis.Client
	srv      *http.Server
	done     chan error
	workDir  string
}

// Start runs the emulator with the demo data on a loopback port and signs
// in as the demo user.
func Start(ctx context.Context, lg *slog.Logger) (*Env, error) {
	work, err := os.MkdirTemp("", "offlined-demo-emulator-")
	if err != nil {
		return nil, err
	}
	tiles := emulator.DemoTileOptions()
	tiles.WorkDir = work
	em := emulator.New(emulator.Options{Tiles: tiles})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(work)
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	e := &Env{Emulator: em, URL: "http://" + ln.Addr().String(), done: make(chan error, 1), workDir: work,
		srv: &http.Server{Handler: em, ReadHeaderTimeout: 10 * time.Second}}
	go func() { e.done <- e.srv.Serve(ln) }()
	opts := []arcgis.Option{
		arcgis.WithPortal(e.URL + "/sharing/rest"),
		arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}),
		arcgis.WithPollInterval(50 * time.Millisecond),
		arcgis.WithoutProxy(),
	}
	if lg != nil {
		opts = append(opts, arcgis.WithLogger(lg))
	}
	if e.Client, err = arcgis.New(opts...); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops the emulator and removes its files. The demo is over by
// then, so connections are closed at once: a graceful Shutdown waits 5 s
// for any connection the client opened but never used (net/http treats a
// new connection as idle only after that), which made the demo take 5 s
// longer than it reported.
func (e *Env) Close() error {
	if e.Client != nil {
		e.Client.HTTPClient().CloseIdleConnections()
	}
	err := e.srv.Close()
	<-e.done
	e.Emulator.Close()
	os.RemoveAll(e.workDir)
	return err
}

// Run performs the whole demonstration and prints it to opt.Out.
func Run(ctx context.Context, opt Options) (*Summary, error) {
	start := time.Now()
	out := opt.Out
	if out == nil {
		out = io.Discard
	}
	if opt.MinScale == 0 && opt.MaxScale == 0 {
		opt.MinScale, opt.MaxScale = 150000, 10000
	}
	env, err := Start(ctx, opt.Logger)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	s := &Summary{Dir: opt.Dir, ServerURL: env.URL}
	fmt.Fprintf(out, "1. ArcGIS REST emulator with demo data on %s\n", env.URL)

	self, err := env.Client.PortalSelf(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	user := emulator.DemoUser
	if self.User != nil && self.User.Username != "" {
		user = self.User.Username
	}
	fmt.Fprintf(out, "2. Signed in as %q\n", user)

	task, err := offline.NewTask(ctx, offline.Source{PortalURL: env.URL + "/sharing/rest", ItemID: emulator.DemoWebMapFieldSurveyID}, env.Client, env.Client)
	if err != nil {
		return nil, err
	}
	p, err := task.CreateDefaultParameters(ctx, Area(), opt.MinScale, opt.MaxScale)
	if err != nil {
		return nil, err
	}
	caps, err := task.Capabilities(ctx, p)
	if err != nil {
		return nil, err
	}
	s.Capabilities = caps
	fmt.Fprintf(out, "3. Capabilities of web map %q (hasErrors=%v):\n", task.Item.Title, caps.HasErrors)
	PrintCapabilities(out, caps)

	o, err := task.CreateOverrides(ctx, p)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "4. Default parameters for lon %.2f..%.2f lat %.2f..%.2f, scales 1:%g to 1:%g: update=%s attachments=%s/%s continueOnErrors=%v\n",
		*Area().XMin, *Area().XMax, *Area().YMin, *Area().YMax, p.MinScale, p.MaxScale, p.UpdateMode,
		p.ReturnLayerAttachmentOption, p.AttachmentSyncDirection, p.ContinueOnErrors)

	est, err := task.Estimate(ctx, p, o, offline.EstimateOptions{Client: env.Client})
	if err != nil {
		return nil, fmt.Errorf("estimate: %w", err)
	}
	fmt.Fprintf(out, "   Estimate before any download (in %s):\n", time.Duration(est.Elapsed).Round(time.Millisecond))
	offline.WriteEstimateTable(out, est, "   ")

	fmt.Fprintf(out, "5. Taking the map offline into %s\n", opt.Dir)
	bar := &progressBar{out: out, enabled: opt.Progress}
	job := task.NewJob(p, o, opt.Dir, offline.JobOptions{Client: env.Client, Progress: bar.update, Logger: opt.Logger,
		PollInterval: 20 * time.Millisecond, Estimate: est})
	res, err := job.Run(ctx)
	bar.finish(job.Progress())
	s.Result = res
	if err != nil {
		return s, err
	}
	PrintResult(out, res, opt.Dir)

	if !opt.NoSync {
		if err := syncStep(ctx, env, opt.Dir, s, out); err != nil {
			return s, fmt.Errorf("edit and sync: %w", err)
		}
	}
	s.Elapsed = time.Since(start)
	fmt.Fprintf(out, "Done in %s. The package is in %s\n", s.Elapsed.Round(time.Millisecond), opt.Dir)
	return s, nil
}

// PrintCapabilities writes every layer and table of a web map with how it
// goes offline, or why it cannot (errors marked ERROR).
func PrintCapabilities(out io.Writer, caps *offline.Capabilities) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "   LAYER\tTYPE\tHOW\tNOTE")
	for _, c := range append(append([]*offline.Capability{}, caps.Layers...), caps.Tables...) {
		note := string(c.Reason)
		if c.Error {
			note = "ERROR " + note
		}
		title := c.Title
		if title == "" {
			title = c.ID
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\n", title, c.LayerType, c.Method, note)
	}
	tw.Flush()
	if caps.HasErrors {
		fmt.Fprintln(out, "   some layers can neither go offline nor stay online: they are listed in the result with their reason and count in hasErrors")
	}
	for _, w := range caps.Warnings {
		fmt.Fprintf(out, "   warning (%s): %s\n", w.Code, w.Message)
	}
}

// PrintResult writes a job result as a table: layers, kinds, stores,
// feature and tile counts, sizes and errors.
func PrintResult(out io.Writer, res *offline.Result, dir string) {
	m := res.Manifest
	fmt.Fprintf(out, "   result: state=%s hasErrors=%v canceled=%v in %s\n", res.State, res.HasErrors, res.Canceled, time.Duration(res.Elapsed).Round(time.Millisecond))
	if m == nil {
		for _, errs := range []map[offline.Key]*offline.LayerError{res.LayerErrors, res.TableErrors} {
			for _, le := range errs {
				fmt.Fprintf(out, "   error: %s\n", le.Error())
			}
		}
		return
	}
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "   LAYER\tKIND\tSTORE\tFEATURES\tTILES\tSIZE\tERROR")
	sizes := map[string]int64{}
	for _, l := range append(append([]*offline.ManifestLayer{}, m.Layers...), m.Tables...) {
		size := ""
		if l.Store != "" && !filepath.IsAbs(l.Store) {
			if _, seen := sizes[l.Store]; !seen {
				if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(l.Store))); err == nil {
					sizes[l.Store] = fi.Size()
					size = humanBytes(fi.Size())
				}
			}
		}
		errText := ""
		switch {
		case l.Reason != "":
			errText = string(l.Reason) + ": " + l.Message
		case l.Error != nil:
			errText = l.Error.Call + ": " + l.Error.Message
		}
		store := l.Store
		switch {
		case l.Kind == offline.KindNone:
			store = "(left out)"
		case store == "":
			store = "(online)"
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%d\t%d\t%s\t%s\n", l.Title, l.Kind, store, l.Features, l.Tiles, size, errText)
	}
	tw.Flush()
	var total int64
	for _, n := range sizes {
		total += n
	}
	fmt.Fprintf(out, "   package size %s\n", humanBytes(total))
	for _, w := range res.Warnings {
		fmt.Fprintf(out, "   warning: %s\n", w.Message)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// NewProgressBar returns a progress callback drawing a bar on out, and a
// function to call with the final progress.
func NewProgressBar(out io.Writer) (update func(offline.Progress), finish func(offline.Progress)) {
	b := &progressBar{out: out, enabled: true}
	return b.update, b.finish
}

// progressBar draws the job's progress on one terminal line.
type progressBar struct {
	out     io.Writer
	enabled bool
	last    time.Time
	drawn   bool
}

func (b *progressBar) update(p offline.Progress) {
	if !b.enabled || time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	b.draw(p)
}

func (b *progressBar) draw(p offline.Progress) {
	const width = 30
	n := int(p.Percent / 100 * width)
	n = max(0, min(width, n))
	phase := ""
	for _, l := range p.Layers {
		if !l.Done && l.Error == "" && l.Phase != "pending" {
			phase = l.Title + ": " + l.Phase
			break
		}
	}
	fmt.Fprintf(b.out, "\r   [%s%s] %3.0f%%  %d features  %d tiles  %s  %-40.40s", strings.Repeat("#", n), strings.Repeat(".", width-n),
		p.Percent, p.Features, p.Tiles, humanBytes(p.Bytes), phase)
	b.drawn = true
}

func (b *progressBar) finish(p offline.Progress) {
	if !b.enabled {
		return
	}
	b.draw(p)
	fmt.Fprintln(b.out)
}

var errNoFeature = errors.New("no inspection to edit")
