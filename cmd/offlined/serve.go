package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/offlined/offlined/internal/config"
	offlinedd "github.com/offlined/offlined/internal/daemon"
	"github.com/offlined/offlined/internal/redact"
)

// AddrFile is written into the data root by serve (offlinedd.AddrFile).
const AddrFile = offlinedd.AddrFile

// LockFile, in the data root, is locked by the running daemon
// (offlinedd.LockFile).
const LockFile = offlinedd.LockFile

// version is reported by the status route.
const version = "0.1.0"

// runServe runs the daemon until ctx is canceled.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
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

// serve runs the daemon with cfg, logging to logw. ready, when set,
// receives the API's base URL once it listens.
func serve(ctx context.Context, cfg config.Config, logw io.Writer, ready func(string)) error {
	return offlinedd.Run(ctx, offlinedd.Config{Config: cfg, Logger: newLogger(cfg, logw), Version: version, Ready: ready})
}
