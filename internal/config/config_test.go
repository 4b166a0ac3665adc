package config

import (
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func load(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f := Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = map[string]string{}
	}
	if env["HOME"] == "" {
		env["HOME"] = "/home/u"
	}
	return f.Load(envMap(env))
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.json")
	os.WriteFile(file, []byte(`{"dataRoot":"/from/file","listen":"127.0.0.1:9000","syncInterval":"5m","logFormat":"json","corsOrigins":["https://a.example"]}`), 0o600)
	c, err := load(t, nil)
	if err != nil || c.DataRoot != "/home/u/.local/share/offlined" || c.Listen != "127.0.0.1:7878" || time.Duration(c.SyncInterval) != 15*time.Minute {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = load(t, nil, "-config", file)
	if err != nil || c.DataRoot != "/from/file" || c.Listen != "127.0.0.1:9000" || time.Duration(c.SyncInterval) != 5*time.Minute || c.LogFormat != "json" {
		t.Fatalf("file: %+v %v", c, err)
	}
	c, err = load(t, map[string]string{"OFFLINED_CONFIG": file, "OFFLINED_DATA_ROOT": "/from/env", "OFFLINED_SYNC_INTERVAL": "1m"}, "-listen", "localhost:1234")
	if err != nil || c.DataRoot != "/from/env" || c.Listen != "localhost:1234" || time.Duration(c.SyncInterval) != time.Minute || c.CORSOrigins[0] != "https://a.example" {
		t.Fatalf("env+flags: %+v %v", c, err)
	}
	c, err = load(t, map[string]string{"OFFLINED_DATA_ROOT": "/from/env"}, "-data", "/from/flag", "-cors-origins", "https://x.example, https://y.example")
	if err != nil || c.DataRoot != "/from/flag" || len(c.CORSOrigins) != 2 {
		t.Fatalf("flag beats env: %+v %v", c, err)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"listen":"127.0.0.1:1","nope":1}`), 0o600)
	for _, c := range []struct {
		env   map[string]string
		args  []string
		field string
	}{
		{nil, []string{"-listen", "0.0.0.0:7878"}, "-listen"},
		{nil, []string{"-listen", "192.168.1.5:7878", "-allow-remote"}, "-tls-cert"},
		{nil, []string{"-listen", "nohostport"}, "-listen"},
		{nil, []string{"-sync-interval", "often"}, "-sync-interval"},
		{map[string]string{"OFFLINED_SYNC_INTERVAL": "-1m"}, nil, "OFFLINED_SYNC_INTERVAL"},
		{nil, []string{"-log-format", "xml"}, "-log-format"},
		{nil, []string{"-poll-interval", "soon"}, "-poll-interval"},
		{nil, []string{"-log-level", "loud"}, "-log-level"},
		{nil, []string{"-cors-origins", "*"}, "-cors-origins"},
		{nil, []string{"-tls-cert", "a.pem"}, "-tls-key"},
		{nil, []string{"-max-body-bytes", "-5"}, "-max-body-bytes"},
		{map[string]string{"OFFLINED_ALLOW_REMOTE": "perhaps"}, nil, "OFFLINED_ALLOW_REMOTE"},
		{nil, []string{"-config", filepath.Join(dir, "missing.json")}, "-config"},
		{nil, []string{"-config", bad}, "-config"},
		{nil, []string{"-portal", "ftp://x"}, "-portal"},
	} {
		_, err := load(t, c.env, c.args...)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%v %v: error %v, want one naming %s", c.env, c.args, err, c.field)
		}
	}
	c, err := load(t, nil, "-listen", "192.168.1.5:7878", "-allow-remote", "-tls-cert", "c.pem", "-tls-key", "k.pem")
	if err != nil || !c.AllowRemote {
		t.Fatalf("remote with TLS: %v", err)
	}
	for _, h := range []string{"127.0.0.1", "::1", "localhost", "127.3.2.1"} {
		if !IsLoopback(h) {
			t.Errorf("%s not loopback", h)
		}
	}
	for _, h := range []string{"", "0.0.0.0", "::", "10.0.0.1", "example.com"} {
		if IsLoopback(h) {
			t.Errorf("%s loopback", h)
		}
	}
}

func TestCredentialsFile(t *testing.T) {
	root := t.TempDir()
	c := Credential{Portal: "https://example.com/portal/sharing/rest/", Kind: KindToken, Username: "u", Token: "tok-secret", Expires: time.Now().Add(time.Hour)}
	if err := SaveCredential(root, c); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, CredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials mode %v %v", fi.Mode(), err)
	}
	got, err := FindCredential(root, "https://example.com/portal/sharing/rest")
	if err != nil || got.Token != "tok-secret" || got.Username != "u" {
		t.Fatalf("find: %+v %v", got, err)
	}
	if r := got.Redacted(); strings.Contains(r.Token, "secret") {
		t.Fatal("redacted token still shown")
	}
	SaveCredential(root, Credential{Portal: "https://other.example/sharing/rest", Kind: KindAPIKey, APIKey: "k"})
	if ok, err := RemoveCredential(root, "https://example.com/portal/sharing/rest"); !ok || err != nil {
		t.Fatalf("remove: %v %v", ok, err)
	}
	if _, err := FindCredential(root, "https://example.com/portal/sharing/rest"); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("after remove: %v", err)
	}
	if _, err := FindCredential(root, "https://other.example/sharing/rest"); err != nil {
		t.Fatalf("other portal lost: %v", err)
	}
	os.Chmod(filepath.Join(root, CredentialsFile), 0o644)
	if _, err := LoadCredentials(root); err == nil {
		t.Fatal("world-readable credentials accepted")
	}
}

func TestAPIToken(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	tok, err := APIToken(root)
	if err != nil || len(tok) != 64 {
		t.Fatalf("token %q %v", tok, err)
	}
	fi, _ := os.Stat(filepath.Join(root, TokenFile))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	again, err := APIToken(root)
	if err != nil || again != tok {
		t.Fatal("token changed between starts")
	}
	if r, err := ReadAPIToken(root); err != nil || r != tok {
		t.Fatal("ReadAPIToken")
	}
	other, _ := APIToken(t.TempDir())
	if other == tok {
		t.Fatal("tokens are not random")
	}
}

func FuzzConfigFile(f *testing.F) {
	f.Add(`{"dataRoot":"/d","listen":"127.0.0.1:1","syncInterval":"5m"}`)
	f.Add(`{"listen":"0.0.0.0:1","allowRemote":true,"tlsCert":"c","tlsKey":"k"}`)
	f.Add(`{"syncInterval":90,"corsOrigins":["https://a.example"],"maxBodyBytes":10}`)
	f.Add(`{"nope":1}`)
	f.Fuzz(func(t *testing.T, doc string) {
		file := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(file, []byte(doc), 0o600)
		c, err := load(t, nil, "-config", file)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error without a setting name: %v", err)
			}
			return
		}
		host, _, _ := net.SplitHostPort(c.Listen)
		if !IsLoopback(host) && (!c.AllowRemote || c.TLSCert == "" || c.TLSKey == "") {
			t.Fatalf("accepted a non-loopback listen address without TLS: %+v", c)
		}
	})
}

func TestConflictPolicySetting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.json")
	os.WriteFile(file, []byte(`{"conflictPolicy":"serverWins"}`), 0o600)
	if c, err := load(t, nil); err != nil || c.ConflictPolicy != "lastSyncWins" {
		t.Fatalf("default: %q %v", c.ConflictPolicy, err)
	}
	if c, err := load(t, nil, "-config", file); err != nil || c.ConflictPolicy != "serverWins" {
		t.Fatalf("file: %q %v", c.ConflictPolicy, err)
	}
	if c, err := load(t, map[string]string{"OFFLINED_CONFLICT_POLICY": "deviceWins"}, "-config", file); err != nil || c.ConflictPolicy != "deviceWins" {
		t.Fatalf("env: %q %v", c.ConflictPolicy, err)
	}
	if c, err := load(t, nil, "-config", file, "-conflict-policy", "fieldMerge"); err != nil || c.ConflictPolicy != "fieldMerge" {
		t.Fatalf("flag: %q %v", c.ConflictPolicy, err)
	}
	os.WriteFile(file, []byte(`{"conflictPolicy":"newestWins"}`), 0o600)
	for _, c := range []struct {
		field string
		env   map[string]string
		args  []string
	}{
		{"-conflict-policy", nil, []string{"-conflict-policy", "mine"}},
		{"OFFLINED_CONFLICT_POLICY", map[string]string{"OFFLINED_CONFLICT_POLICY": "ServerWins"}, nil},
		{"conflictPolicy", nil, []string{"-config", file}},
	} {
		_, err := load(t, c.env, c.args...)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Reason, "serverWins") {
			t.Errorf("%v: %v, want a FieldError naming %s and listing the policies", c.args, err, c.field)
		}
	}
}

func TestAllowLinkLocalSetting(t *testing.T) {
	if c, err := load(t, nil); err != nil || c.AllowLinkLocal {
		t.Fatalf("default: %v %v", c.AllowLinkLocal, err)
	}
	if c, err := load(t, nil, "-allow-link-local"); err != nil || !c.AllowLinkLocal {
		t.Fatalf("flag: %v %v", c.AllowLinkLocal, err)
	}
	if c, err := load(t, map[string]string{"OFFLINED_ALLOW_LINK_LOCAL": "true"}); err != nil || !c.AllowLinkLocal {
		t.Fatalf("env: %v %v", c.AllowLinkLocal, err)
	}
	if _, err := load(t, map[string]string{"OFFLINED_ALLOW_LINK_LOCAL": "maybe"}); err == nil {
		t.Fatal("a non-boolean value accepted")
	}
}

func TestSyncDefaultsSetting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.json")
	os.WriteFile(file, []byte(`{"syncDirection":"uploadOnly","rollbackOnFailure":false,"syncStepTimeout":"30s"}`), 0o600)
	c, err := load(t, nil, "-config", file)
	if err != nil {
		t.Fatal(err)
	}
	d := c.SyncDefaults()
	if d.Direction != "upload" || d.RollbackOnFailure == nil || *d.RollbackOnFailure || time.Duration(c.SyncStepTimeout) != 30*time.Second {
		t.Fatalf("defaults %+v, step timeout %v", d, c.SyncStepTimeout)
	}
	os.WriteFile(file, []byte(`{"syncDirection":"sideways"}`), 0o600)
	var fe *FieldError
	if _, err := load(t, nil, "-config", file); !errors.As(err, &fe) || fe.Field != "syncDirection" {
		t.Fatalf("bad direction: %v", err)
	}
}

// TestEnvListsEverySetting: each daemon flag names its environment
// variable in its help, and Env lists exactly those variables (it once
// missed OFFLINED_ALLOW_LINK_LOCAL, which Load read).
func TestEnvListsEverySetting(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	Register(fs)
	listed := map[string]bool{}
	for _, e := range Env {
		listed[e] = true
	}
	n := 0
	fs.VisitAll(func(fl *flag.Flag) {
		n++
		i := strings.LastIndex(fl.Usage, "(env ")
		if i < 0 || !strings.HasSuffix(fl.Usage, ")") {
			t.Errorf("-%s: help %q names no environment variable", fl.Name, fl.Usage)
			return
		}
		if env := fl.Usage[i+len("(env ") : len(fl.Usage)-1]; !listed[env] {
			t.Errorf("-%s: %s is not in Env %v", fl.Name, env, Env)
		}
	})
	if n != len(Env) || len(listed) != len(Env) {
		t.Errorf("%d flags, Env has %d variables (%d distinct)", n, len(Env), len(listed))
	}
}
