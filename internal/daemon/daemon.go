// Package daemon is offlined's application layer: Run opens the data root's
// state (registry of offline maps, the one replica unregister queue, jobs),
// builds the local API on it and runs every long-lived service — the HTTP
// listener, the job manager, the sync schedulers, the unregister queue and
// the credentials watcher — as a Service under one supervisor, until its
// context ends or a service fails.
//
// The daemon's state lives here and localapi reaches it through the
// interfaces it declares: the Registry of offline maps (localapi.Maps),
// where one owner per map holds the map's open stores, sync engines and
// schedulers and closes them all (Close) when the map is deleted; the
// JobManager (localapi.Jobs), running offline jobs with offline's one
// state machine (offline.JobState, needsAuth included), pausing in place;
// the EngineSyncer (localapi.Syncer). Credentials are reloaded when the
// credentials file changes, and jobs waiting for sign-in then go on;
// replicas to unregister go through the one sync.UnregisterQueue; state
// files are written through internal/atomicfile.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/atomicfile"
	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/dirlock"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/localapi/featureserver"
	editsync "github.com/offlined/offlined/sync"
)

// AddrFile is written into the data root while the daemon runs: the API's
// base URL (and, with TLS, the certificate file on a second line), so the
// CLI finds a daemon listening on any port and trusts its certificate.
const AddrFile = "api-addr"

// LockFile, in the data root, is locked by the running daemon and holds
// its process id.
const LockFile = "serve.lock"

// MaxUnauthConns caps the connections open without an authenticated
// request (clients without the token); more wait in the listen queue.
const MaxUnauthConns = 64

// Config configures Run.
type Config struct {
	// Config is the daemon configuration (flags, environment, file).
	config.Config
	// Logger receives every log line (nil: discarded). The caller masks
	// secrets (internal/redact).
	Logger *slog.Logger
	// Version is reported by the status route.
	Version string
	// Ready, when set, receives the API's base URL once it listens.
	Ready func(baseURL string)
}

// Service is a long-lived part of the daemon: Serve runs until ctx ends
// (returning nil) or the service fails (returning why).
type Service interface {
	Serve(ctx context.Context) error
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(ctx context.Context) error

// Serve implements Service.
func (f ServiceFunc) Serve(ctx context.Context) error { return f(ctx) }

// Supervise runs every service until ctx ends or one fails; then the others
// are stopped (their context ends) and waited for. It returns the first
// failure.
func Supervise(ctx context.Context, services ...Service) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range services {
		g.Go(func() error { return s.Serve(gctx) })
	}
	return g.Wait()
}

// Run runs the daemon on cfg.DataRoot until ctx is canceled.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
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
	creds, err := newCredentials(cfg.Config, log)
	if err != nil {
		return err
	}
	client := creds.Client()
	queue := editsync.OpenUnregisterQueue(filepath.Join(cfg.DataRoot, UnregisterFile), client)
	reg, err := OpenRegistry(cfg.DataRoot, RegistryOptions{Logger: log, Unregister: queue,
		GeoDB: geodb.Options{MaxAttachmentSize: cfg.MaxAttachmentBytes}})
	if err != nil {
		return err
	}
	defer reg.Close()
	hub := localapi.NewHub(0)

	// Background syncs started over the API run under workCtx, which the
	// scheduler service ends when it stops.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	opts := localapi.Options{Token: token, Maps: reg, Hub: hub, AllowedHosts: cfg.AllowedHost, CORSOrigins: cfg.CORSOrigins,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxAttachmentBytes: cfg.MaxAttachmentBytes, Logger: log, Version: cfg.Version}
	opts.Packages = reg
	services := []Service{&unregisterService{reg: reg, every: time.Duration(cfg.SyncInterval)},
		newPackagesWatcher(reg, log)}
	if cfg.Portal == "" {
		// Public services need no sign-in: jobs and sync work anonymously
		// (and with the stored credentials of other servers and hosts).
		log.Info("no portal configured: public services only, portal search is off (offlined login, then -portal)")
	} else {
		opts.Portal = client
	}
	{ // jobs and sync, with or without a portal
		opts.Planner = &localapi.TaskPlanner{Portal: client, Services: client}
		jobs, err := NewJobManager(cfg.DataRoot, reg, hub, OfflineRunner(client, queue, log), log)
		if err != nil {
			return err
		}
		opts.Jobs = jobs
		// Started before the listener serves, so no request finds the
		// manager unstarted; the job service stops it.
		jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
		defer stopJobs()
		jobs.Start(jobCtx)
		syncer := NewEngineSyncer(workCtx, reg, client, hub, log)
		syncer.SetDefaultPolicy(editsync.Policy(cfg.ConflictPolicy))
		syncer.SetDefaults(cfg.SyncDefaults())
		syncer.SetStepTimeout(time.Duration(cfg.SyncStepTimeout))
		opts.Sync = syncer
		services = append(services, &jobService{jobs: jobs, stop: stopJobs},
			&schedulerService{syncer: syncer, opts: SchedulerOptions(client, time.Duration(cfg.SyncInterval), log), stopWork: stopWork})
		// Jobs waiting for sign-in go on once the credentials change; a
		// browser sign-in's refresh token is extended while online.
		if cfg.Portal != "" {
			keeper := newRefreshKeeper(cfg.DataRoot, cfg.Portal, client, log)
			creds.onReload = func() { jobs.ResumeNeedsAuth(); keeper.kick() }
			services = append(services, creds, keeper)
			opts.SignIn = newPageSignIn(cfg.DataRoot, cfg.Portal, cfg.ClientID, log)
		} else {
			creds.onReload = jobs.ResumeNeedsAuth
			services = append(services, creds)
		}
	}
	api, err := localapi.New(opts)
	if err != nil {
		return err
	}
	featureserver.Register(api)
	var handler http.Handler = api
	if !operatorSet() { // gcpace.go: fewer collections while the API is under load
		pacer := newGCPacer(log)
		handler = pacer.Handler(api)
		services = append(services, pacer)
	}
	hs, err := listen(cfg.Config, handler, log)
	if err != nil {
		return err
	}
	defer os.Remove(hs.addrFile)
	log.Info("offlined listening", "url", hs.base, "data", cfg.DataRoot, "portal", cfg.Portal)
	if cfg.Ready != nil {
		cfg.Ready(hs.base)
	}
	err = Supervise(ctx, append([]Service{hs}, services...)...)
	log.Info("stopped")
	return err
}

// httpService serves the local API on its listener.
type httpService struct {
	srv      *http.Server
	ln       net.Listener
	base     string
	addrFile string // "" when none is written
	log      *slog.Logger
	stop     context.CancelFunc // ends request contexts (SSE streams)
}

// listen opens the listener (TLS when configured) and writes the api-addr
// file.
func listen(cfg config.Config, api http.Handler, log *slog.Logger) (*httpService, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, &config.FieldError{Field: "-listen", Reason: err.Error()}
	}
	limiter := localapi.NewConnLimiter(MaxUnauthConns)
	ln = limiter.Listener(ln) // inside TLS: the server still sees *tls.Conn
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return nil, &config.FieldError{Field: "-tls-cert", Reason: err.Error()}
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
		return nil, err
	}
	hs := newHTTPService(api, ln, limiter, base, log)
	hs.addrFile = addrFile
	return hs, nil
}

// newHTTPService serves api on ln, whose connections limiter caps.
func newHTTPService(api http.Handler, ln net.Listener, limiter *localapi.ConnLimiter, base string, log *slog.Logger) *httpService {
	reqCtx, stop := context.WithCancel(context.Background())
	// Timeouts: headers within 10 s; bodies under localapi's per-request
	// deadlines (Options.BodyTimeout: the whole body, or for attachment
	// uploads the longest gap without data). Server.ReadTimeout stays unset
	// on purpose: it would also end event streams and long downloads (Go
	// cancels a request's context when the connection's read deadline
	// passes). Connections without an authenticated request are capped, so
	// slow clients without the token cannot use up file descriptors.
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ConnContext: limiter.ConnContext,
		BaseContext: func(net.Listener) context.Context { return reqCtx }, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return &httpService{srv: srv, ln: ln, base: base, log: log, stop: stop}
}

// Serve implements Service: it serves until ctx ends, then ends open
// streams and shuts the server down (10 s for requests in flight).
func (h *httpService) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- h.srv.Serve(h.ln) }()
	select {
	case err := <-errc:
		h.stop()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve %s: %w", h.base, err)
	case <-ctx.Done():
	}
	h.log.Info("shutting down")
	h.stop() // ends SSE streams so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(sctx); err != nil {
		h.log.Warn("http shutdown", "err", err)
	}
	<-errc
	return nil
}
