// Package config loads offlined's daemon configuration from a JSON file,
// the environment and command-line flags (in that order of precedence,
// flags last), and keeps the credentials file.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	editsync "github.com/offlined/offlined/sync"
)

// Config is the daemon configuration.
type Config struct {
	// DataRoot holds the registry, packages/, jobs/, the API token and
	// the credentials file.
	DataRoot string `json:"dataRoot"`
	// Listen is the API address (default 127.0.0.1:7878).
	Listen string `json:"listen"`
	// AllowRemote permits a non-loopback Listen address; TLSCert and TLSKey
	// are then required.
	AllowRemote bool `json:"allowRemote"`
	// AllowLinkLocal lets the daemon connect to link-local and cloud
	// metadata addresses, refused by default (a web map naming
	// 169.254.169.254 must not reach a cloud's instance credentials).
	AllowLinkLocal bool     `json:"allowLinkLocal"`
	TLSCert        string   `json:"tlsCert"`
	TLSKey         string   `json:"tlsKey"`
	AllowedHost    []string `json:"allowedHosts"`
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string `json:"corsOrigins"`
	// Portal is the portal URL whose stored credentials the daemon uses.
	Portal string `json:"portal"`
	// ClientID is the OAuth app the page signs in to the portal with
	// (empty: the app of the stored browser sign-in, if any).
	ClientID string `json:"clientId"`
	// SyncInterval between background syncs (0 disables them).
	SyncInterval Duration `json:"syncInterval"`
	// ConflictPolicy is the conflict policy of maps that have none set:
	// lastSyncWins (default), serverWins, deviceWins or fieldMerge.
	ConflictPolicy string `json:"conflictPolicy"`
	// SyncDirection is the sync direction of maps that have none set:
	// bidirectional, uploadOnly or downloadOnly (empty: each replica's).
	SyncDirection string `json:"syncDirection"`
	// RollbackOnFailure of maps that have none set (default true): false
	// lets a sync's good edits land when the server rejects others.
	RollbackOnFailure *bool `json:"rollbackOnFailure"`
	// SyncStepTimeout bounds how long one step of a sync (a request, or a
	// download without progress) may wait for the server (default 2m).
	SyncStepTimeout Duration `json:"syncStepTimeout"`
	// PollInterval is how often server jobs (createReplica, exportTiles)
	// are polled (0: the client's default).
	PollInterval Duration `json:"pollInterval"`
	// MaxBodyBytes and MaxAttachmentBytes limit request bodies.
	MaxBodyBytes       int64 `json:"maxBodyBytes"`
	MaxAttachmentBytes int64 `json:"maxAttachmentBytes"`
	// LogFormat is text or json; LogLevel debug, info, warn or error.
	LogFormat string `json:"logFormat"`
	LogLevel  string `json:"logLevel"`
}

// Duration is a time.Duration written as "15m" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "15m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration must be a string like \"15m\" or seconds")
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// FieldError names the setting (flag, environment variable or file key)
// that is wrong.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// DefaultDataRoot is $XDG_DATA_HOME/offlined or ~/.local/share/offlined.
func DefaultDataRoot(getenv func(string) string) string {
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "offlined")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "offlined")
	}
	return "offlined-data"
}

// Default returns the built-in defaults.
func Default(getenv func(string) string) Config {
	return Config{DataRoot: DefaultDataRoot(getenv), Listen: "127.0.0.1:7878", SyncInterval: Duration(15 * time.Minute),
		ConflictPolicy: string(editsync.LastSyncWins),
		MaxBodyBytes:   1 << 20, MaxAttachmentBytes: 256 << 20, LogFormat: "text", LogLevel: "info"}
}

// Env lists the environment variables Load reads.
var Env = envNames()

func envNames() []string {
	out := []string{"OFFLINED_CONFIG"}
	for _, s := range settings(&Config{}) {
		out = append(out, s.env)
	}
	return out
}

// setting is one daemon setting besides the file: its flag, environment
// variable and help, and how a value applies to a Config (name is the
// flag or variable the value came from, for errors).
type setting struct {
	flag, env, help string
	boolean         bool // a flag without a value (-allow-remote)
	apply           func(v, name string) error
}

// settings are the daemon settings, applied to c.
func settings(c *Config) []setting {
	str := func(dst *string) func(string, string) error {
		return func(v, _ string) error { *dst = v; return nil }
	}
	list := func(dst *[]string) func(string, string) error {
		return func(v, _ string) error {
			*dst = nil
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					*dst = append(*dst, p)
				}
			}
			return nil
		}
	}
	i64 := func(dst *int64) func(string, string) error {
		return func(v, name string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return &FieldError{name, "must be a positive number of bytes"}
			}
			*dst = n
			return nil
		}
	}
	dur := func(dst *Duration, example string) func(string, string) error {
		return func(v, name string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return &FieldError{name, "must be a duration like " + example}
			}
			*dst = Duration(d)
			return nil
		}
	}
	boolean := func(dst *bool) func(string, string) error {
		return func(v, name string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return &FieldError{name, "must be true or false"}
			}
			*dst = b
			return nil
		}
	}
	return []setting{
		{"data", "OFFLINED_DATA_ROOT", "data root directory", false, str(&c.DataRoot)},
		{"listen", "OFFLINED_LISTEN", "API listen address, default 127.0.0.1:7878", false, str(&c.Listen)},
		{"portal", "OFFLINED_PORTAL", "portal URL whose stored credentials to use", false, str(&c.Portal)},
		{"client-id", "OFFLINED_CLIENT_ID", "OAuth app client id for signing in to the portal from the page", false, str(&c.ClientID)},
		{"log-format", "OFFLINED_LOG_FORMAT", "log format: text or json", false, str(&c.LogFormat)},
		{"log-level", "OFFLINED_LOG_LEVEL", "log level: debug, info, warn, error", false, str(&c.LogLevel)},
		{"tls-cert", "OFFLINED_TLS_CERT", "TLS certificate file", false, str(&c.TLSCert)},
		{"tls-key", "OFFLINED_TLS_KEY", "TLS key file", false, str(&c.TLSKey)},
		{"cors-origins", "OFFLINED_CORS_ORIGINS", "comma-separated browser origins allowed", false, list(&c.CORSOrigins)},
		{"conflict-policy", "OFFLINED_CONFLICT_POLICY", "conflict policy of maps without one: lastSyncWins, serverWins, deviceWins, fieldMerge", false, func(v, name string) error {
			if _, err := editsync.ParsePolicy(v); err != nil {
				return &FieldError{name, err.Error()}
			}
			c.ConflictPolicy = v
			return nil
		}},
		{"sync-interval", "OFFLINED_SYNC_INTERVAL", "background sync interval, 0 to disable", false, dur(&c.SyncInterval, "15m (0 disables)")},
		{"poll-interval", "OFFLINED_POLL_INTERVAL", "poll interval of server jobs, e.g. 2s", false, dur(&c.PollInterval, "2s")},
		{"allow-remote", "OFFLINED_ALLOW_REMOTE", "allow a non-loopback listen address, TLS required", true, boolean(&c.AllowRemote)},
		{"allow-link-local", "OFFLINED_ALLOW_LINK_LOCAL", "allow connections to link-local and cloud metadata addresses, refused by default", true, boolean(&c.AllowLinkLocal)},
		{"max-body-bytes", "OFFLINED_MAX_BODY_BYTES", "request body limit", false, i64(&c.MaxBodyBytes)},
		{"max-attachment-bytes", "OFFLINED_MAX_ATTACHMENT_BYTES", "attachment upload limit", false, i64(&c.MaxAttachmentBytes)},
	}
}

// Flags are the flag values a FlagSet collects; Register binds them.
type Flags struct {
	fs     *flag.FlagSet
	config string
	values map[string]*string // by flag name
	bools  map[string]*bool
}

// Register adds the daemon flags to fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, values: map[string]*string{}, bools: map[string]*bool{}}
	fs.StringVar(&f.config, "config", "", "JSON configuration file (env OFFLINED_CONFIG)")
	for _, s := range settings(&Config{}) {
		help := s.help + " (env " + s.env + ")"
		if s.boolean {
			f.bools[s.flag] = fs.Bool(s.flag, false, help)
		} else {
			f.values[s.flag] = fs.String(s.flag, "", help)
		}
	}
	return f
}

// Load builds the configuration: defaults, then the file (-config or
// OFFLINED_CONFIG), then the environment, then flags set on the command line.
func (f *Flags) Load(getenv func(string) string) (Config, error) {
	c := Default(getenv)
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	path := getenv("OFFLINED_CONFIG")
	field := "OFFLINED_CONFIG"
	if set["config"] {
		path, field = f.config, "-config"
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, &FieldError{field, err.Error()}
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, &FieldError{field, "config file " + path + ": " + err.Error()}
		}
	}
	for _, s := range settings(&c) {
		if v := getenv(s.env); v != "" {
			if err := s.apply(v, s.env); err != nil {
				return c, err
			}
		}
		if set[s.flag] {
			fv := ""
			if s.boolean {
				fv = strconv.FormatBool(*f.bools[s.flag])
			} else {
				fv = *f.values[s.flag]
			}
			if err := s.apply(fv, "-"+s.flag); err != nil {
				return c, err
			}
		}
	}
	return c, c.Validate()
}

// Validate checks the configuration; errors name the setting.
func (c Config) Validate() error {
	if c.DataRoot == "" {
		return &FieldError{"-data", "a data root is required"}
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return &FieldError{"-listen", "must be host:port: " + err.Error()}
	}
	if !IsLoopback(host) {
		if !c.AllowRemote {
			return &FieldError{"-listen", fmt.Sprintf("%s is not a loopback address; listening on it needs -allow-remote with -tls-cert and -tls-key", host)}
		}
		if c.TLSCert == "" || c.TLSKey == "" {
			return &FieldError{"-tls-cert", "a non-loopback listen address requires TLS (-tls-cert and -tls-key)"}
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &FieldError{"-tls-key", "-tls-cert and -tls-key go together"}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return &FieldError{"-log-format", "must be text or json"}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &FieldError{"-log-level", "must be debug, info, warn or error"}
	}
	for _, o := range c.CORSOrigins {
		if o == "*" || !(strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://")) {
			return &FieldError{"-cors-origins", fmt.Sprintf("origin %q must be an http(s) origin (no wildcard)", o)}
		}
	}
	if c.Portal != "" && !(strings.HasPrefix(c.Portal, "https://") || strings.HasPrefix(c.Portal, "http://")) {
		return &FieldError{"-portal", "must be an http(s) URL"}
	}
	if _, err := editsync.ParsePolicy(c.ConflictPolicy); err != nil {
		return &FieldError{"conflictPolicy", err.Error()}
	}
	if c.SyncDirection != "" {
		if _, err := editsync.ParseDirection(c.SyncDirection); err != nil {
			return &FieldError{"syncDirection", err.Error()}
		}
	}
	if c.SyncStepTimeout < 0 {
		return &FieldError{"syncStepTimeout", "must not be negative"}
	}
	if c.MaxBodyBytes <= 0 || c.MaxAttachmentBytes <= 0 {
		return &FieldError{"-max-body-bytes", "limits must be positive"}
	}
	return nil
}

// IsLoopback reports whether host (a name or an IP) is a loopback address.
// An empty host (all interfaces) is not.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrNoCredentials is returned when no credentials are stored for a portal.
var ErrNoCredentials = errors.New("no stored credentials")

// SyncDefaults returns the sync parameters of maps that set none.
func (c *Config) SyncDefaults() editsync.Defaults {
	d := editsync.Defaults{Policy: editsync.Policy(c.ConflictPolicy), RollbackOnFailure: c.RollbackOnFailure}
	d.Direction, _ = editsync.ParseDirection(c.SyncDirection)
	return d
}
