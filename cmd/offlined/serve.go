package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/atomicfile"
	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/dirlock"
	"github.com/offlined/offlined/internal/redact"
	"github.com/offlined/offlined/localapi"
	editsync "github.com/offlined/offlined/sync"
)

// AddrFile is written into the data root by serve: the API's base URL (and,
// with TLS, the certificate file on a second line), so the CLI finds a
// daemon listening on any port and trusts its certificate.
const AddrFile = "api-addr"

// maxUnauthConns caps the connections open without an authenticated request
// (clients without the token); more wait in the listen queue.
const maxUnauthConns = 64

// LockFile, in the data root, is locked by the running daemon and holds
// its process id.
const LockFile = "serve.lock"

// version is reported by the status route.
const version = "0.1.0"

// runServe runs the daemon until ctx is canceled.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := config.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := f.Load(os.Getenv)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stderr, nil)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lv}
	// Every line, whatever package logs it, has its secrets masked.
	if cfg.LogFormat == "json" {
		return slog.New(redact.Handler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(redact.Handler(slog.NewTextHandler(w, opts)))
}

// portalClient builds the ArcGIS client from the stored credentials of
// cfg.Portal; nil when no portal is configured.
func portalClient(cfg config.Config, log *slog.Logger) (*arcgis.Client, error) {
	if cfg.Portal == "" {
		return nil, nil
	}
	c, err := config.FindCredential(cfg.DataRoot, cfg.Portal)
	if err != nil {
		return nil, &config.FieldError{Field: "-portal", Reason: err.Error()}
	}
	var cred arcgis.Credential
	switch c.Kind {
	case config.KindToken:
		if !c.Expires.IsZero() && time.Now().After(c.Expires) {
			log.Warn("the stored portal token has expired; run offlined login again (edits are kept)", "portal", c.Portal)
		}
		cred = arcgis.StaticToken(c.Token)
	case config.KindAPIKey:
		cred = arcgis.APIKey(c.APIKey)
	case config.KindOAuthRefresh:
		cred = &arcgis.OAuthRefreshCredential{ClientID: c.ClientID, RefreshToken: c.RefreshToken}
	case config.KindOAuthClient:
		cred = &arcgis.OAuthClientCredential{ClientID: c.ClientID, ClientSecret: c.ClientSecret}
	default:
		return nil, fmt.Errorf("credentials for %s: unknown kind %q", c.Portal, c.Kind)
	}
	opts := []arcgis.Option{arcgis.WithPortal(c.Portal), arcgis.WithCredential(cred), arcgis.WithLogger(log)}
	if c.Kind == config.KindToken {
		opts = append(opts, arcgis.WithReferer(tokenReferer))
	}
	if cfg.PollInterval > 0 {
		opts = append(opts, arcgis.WithPollInterval(time.Duration(cfg.PollInterval)))
	}
	return arcgis.New(opts...)
}

// serve runs the daemon with cfg. ready, when set, receives the API's base
// URL once it listens.
func serve(ctx context.Context, cfg config.Config, logw io.Writer, ready func(string)) error {
	log := newLogger(cfg, logw)
	if err := os.MkdirAll(cfg.DataRoot, 0o700); err != nil {
		return &config.FieldError{Field: "-data", Reason: err.Error()}
	}
	// One daemon per data root: a second one would share the registry and
	// remove the first one's api-addr file on exit.
	rootLock, err := dirlock.File(filepath.Join(cfg.DataRoot, LockFile))
	if err != nil {
		return fmt.Errorf("-data %s: another offlined serve is running on this data root: %w", cfg.DataRoot, err)
	}
	defer rootLock.Unlock()
	token, err := config.APIToken(cfg.DataRoot)
	if err != nil {
		return fmt.Errorf("API token: %w", err)
	}
	client, err := portalClient(cfg, log)
	if err != nil {
		return err
	}
	var unreg editsync.Unregisterer
	if client != nil {
		unreg = client
	}
	queue := editsync.OpenUnregisterQueue(filepath.Join(cfg.DataRoot, localapi.UnregisterFile), unreg)
	ropts := localapi.RegistryOptions{Logger: log, Unregister: queue, GeoDB: geodb.Options{MaxAttachmentSize: cfg.MaxAttachmentBytes}}
	reg, err := localapi.OpenRegistry(cfg.DataRoot, ropts)
	if err != nil {
		return err
	}
	defer reg.Close()
	hub := localapi.NewHub(0)

	// Work (jobs, syncs) runs under workCtx; HTTP handlers under httpCtx.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	opts := localapi.Options{Token: token, Registry: reg, Hub: hub, AllowedHosts: cfg.AllowedHost, CORSOrigins: cfg.CORSOrigins,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxAttachmentBytes: cfg.MaxAttachmentBytes, Logger: log, Version: version}
	var jobs *localapi.JobManager
	var syncer *localapi.EngineSyncer
	if client != nil {
		opts.Portal = client
		opts.Planner = &localapi.TaskPlanner{Portal: client, Services: client}
		jobs, err = localapi.NewJobManager(cfg.DataRoot, reg, hub, localapi.OfflineRunner(client, queue, log), log)
		if err != nil {
			return err
		}
		opts.Jobs = jobs
		syncer = localapi.NewEngineSyncer(workCtx, reg, client, hub, log)
		syncer.SetDefaultPolicy(editsync.Policy(cfg.ConflictPolicy))
		reg.SetBeforeDelete(syncer.StopMap)
		opts.Sync = syncer
	} else {
		log.Info("no portal configured: jobs, portal search and sync are off (offlined login, then -portal)")
	}
	api, err := localapi.New(opts)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return &config.FieldError{Field: "-listen", Reason: err.Error()}
	}
	limiter := localapi.NewConnLimiter(maxUnauthConns)
	ln = limiter.Listener(ln) // inside TLS: the server still sees *tls.Conn
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return &config.FieldError{Field: "-tls-cert", Reason: err.Error()}
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	addrFile := filepath.Join(cfg.DataRoot, AddrFile)
	addr := base + "\n"
	if cfg.TLSCert != "" {
		// The CLI trusts the daemon's own certificate (second line).
		abs, _ := filepath.Abs(cfg.TLSCert)
		addr += abs + "\n"
	}
	// Written atomically, so the CLI (and tests) never read a half-written file.
	if err := atomicfile.WriteFile(addrFile, []byte(addr), 0o600); err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(addrFile)

	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	// Timeouts: headers within 10 s; bodies under localapi's per-request
	// deadlines (Options.BodyTimeout: the whole body, or for attachment
	// uploads the longest gap without data). Server.ReadTimeout stays unset
	// on purpose: it would also end event streams and long downloads (Go
	// cancels a request's context when the connection's read deadline
	// passes). Connections without an authenticated request are capped, so
	// slow clients without the token cannot use up file descriptors.
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ConnContext: limiter.ConnContext,
		BaseContext: func(net.Listener) context.Context { return httpCtx }, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if jobs != nil {
		jobs.Start(workCtx) // resumes interrupted jobs
	}
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		background(workCtx, reg, syncer, schedulerOptions(client, time.Duration(cfg.SyncInterval), log), log)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("offlined listening", "url", base, "data", cfg.DataRoot, "portal", cfg.Portal)
	if ready != nil {
		ready(base)
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("shutting down")
	stopHTTP() // ends SSE streams so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	// Jobs checkpoint (they stay queued for the next start); syncs in flight
	// end at their next step, their journal making the next sync exact.
	stopWork()
	if jobs != nil {
		jobs.Shutdown()
	}
	<-bgDone
	if syncer != nil {
		syncer.Wait()
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", base, serveErr)
	}
	log.Info("stopped")
	return nil
}

// background retries queued replica unregistrations and, when an interval
// is set, runs a sync scheduler per feature store (sync on local change, on
// the interval and when connectivity returns) until ctx ends.
func background(ctx context.Context, reg *localapi.Registry, syncer *localapi.EngineSyncer, sopts editsync.SchedulerOptions, log *slog.Logger) {
	every := sopts.Interval
	reg.RetryUnregister(ctx)
	if syncer == nil || every <= 0 {
		<-ctx.Done()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		syncer.RunSchedulers(ctx, sopts, 10*time.Second)
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
			reg.RetryUnregister(ctx)
		}
	}
}

// schedulerOptions configures the sync schedulers: every interval, and
// while offline a cheap GET of the portal (not a full sync) on a backoff.
func schedulerOptions(client *arcgis.Client, every time.Duration, log *slog.Logger) editsync.SchedulerOptions {
	opts := editsync.SchedulerOptions{Interval: every, Logger: log}
	if client != nil {
		hc := &http.Client{Transport: client.HTTPClient().Transport, Timeout: 15 * time.Second}
		opts.Probe = editsync.HTTPProber(hc, client.PortalURL())
	}
	return opts
}
