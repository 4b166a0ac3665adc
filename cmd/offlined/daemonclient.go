package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/offlined/offlined/internal/config"
)

// The client commands (maps, status, capabilities, sync, conflicts) talk to
// the running daemon over HTTP: the base URL comes from -addr or the
// api-addr file serve writes in the data root, the token from the data
// root's token file.

// clientFlags are the flags every client command takes.
type clientFlags struct {
	data, addr string
	json       bool
}

// newFlagSet is the flag set of a command, reporting to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// clientFlagSet is the flag set of a command with the client flags.
func clientFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *clientFlags) {
	fs := newFlagSet(name, stderr)
	return fs, registerClientFlags(fs)
}

// usageFlagSet is clientFlagSet whose usage message is the usage lines,
// then the flags.
func usageFlagSet(name string, stderr io.Writer, usage ...string) (*flag.FlagSet, *clientFlags) {
	fs, cf := clientFlagSet(name, stderr)
	fs.Usage = func() {
		for _, l := range usage {
			fmt.Fprintln(stderr, l)
		}
		fs.PrintDefaults()
	}
	return fs, cf
}

// cutSubcommand splits args[0] off args when it is one of subs (a
// subcommand such as "maps add"); else it returns "" and args.
func cutSubcommand(args []string, subs ...string) (string, []string) {
	if len(args) > 0 && slices.Contains(subs, args[0]) {
		return args[0], args[1:]
	}
	return "", args
}

// registerClientFlags registers -data, -addr and -json on fs.
func registerClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.data, "data", "", "data root of the daemon (env OFFLINED_DATA_ROOT)")
	fs.StringVar(&c.addr, "addr", "", "daemon URL (default: from the data root's api-addr file, else http://127.0.0.1:7878)")
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts")
	return c
}

func (c *clientFlags) root() string {
	if c.data != "" {
		return c.data
	}
	if v := os.Getenv("OFFLINED_DATA_ROOT"); v != "" {
		return v
	}
	return config.DefaultDataRoot(os.Getenv)
}

// daemonClient calls the daemon's API.
type daemonClient struct {
	base, token string
	hc          *http.Client
	json        bool // the command prints JSON (-json)
}

// connect parses args into fs and returns the client of the daemon.
func (c *clientFlags) connect(fs *flag.FlagSet, args []string) (*daemonClient, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c.client()
}

// client returns the client of the daemon the flags name.
func (c *clientFlags) client() (*daemonClient, error) {
	root := c.root()
	tok, err := config.ReadAPIToken(root)
	if err != nil {
		return nil, &config.FieldError{Field: "-data", Reason: err.Error()}
	}
	base, certFile := c.addr, ""
	if b, err := os.ReadFile(filepath.Join(root, AddrFile)); err == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if base == "" {
			base = strings.TrimSpace(lines[0])
		}
		if len(lines) > 1 {
			certFile = strings.TrimSpace(lines[1])
		}
	}
	if base == "" {
		base = "http://127.0.0.1:7878"
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	if certFile != "" {
		pem, err := os.ReadFile(certFile)
		if err != nil {
			return nil, &config.FieldError{Field: "-data", Reason: "daemon certificate: " + err.Error()}
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	return &daemonClient{base: strings.TrimRight(base, "/"), token: tok, hc: hc, json: c.json}, nil
}

// apiError is an error answer of the daemon.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string { return e.Message }

// call sends a request and decodes a JSON answer into out.
func (d *daemonClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the daemon at %s (is offlined serve running? -addr): %w", d.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
			return fmt.Errorf("daemon answered %s", resp.Status)
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// show is call for a command that prints the answer: with -json it
// prints out to w and shown is true (the command is done); else the
// command prints out its way. An error naming a field of fields names the
// flag instead (flagError).
func (d *daemonClient) show(ctx context.Context, w io.Writer, method, path string, body, out any, fields map[string]string) (shown bool, err error) {
	if err := d.call(ctx, method, path, body, out); err != nil {
		return false, flagError(err, fields)
	}
	if d.json {
		return true, printJSON(w, out)
	}
	return false, nil
}

// flagError names the flag behind an API error whose field maps to one.
func flagError(err error, fields map[string]string) error {
	var ae *apiError
	if errors.As(err, &ae) {
		if fl, ok := fields[ae.Field]; ok {
			return fmt.Errorf("%s: %s", fl, ae.Message)
		}
	}
	return err
}

// newTable starts a table of tab-separated cells on w with its header;
// Flush writes it aligned.
func newTable(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
