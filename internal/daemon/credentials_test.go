package daemon

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/testutil"
)

// The daemon reloads the portal credentials when credentials.json changes
// (issue 11 live bug 3: they were read once at start, so "log in again"
// needed a daemon restart), and then resumes jobs waiting for sign-in.
func TestCredentialsReloadedOnChange(t *testing.T) {
	root := t.TempDir()
	const portal = "https://portal.example.com/portal/sharing/rest"
	save := func(tok string) {
		saveCredentials(t, root, config.Credential{Portal: portal, Kind: config.KindToken, Token: tok})
	}
	save("old-token")
	c := openCredentials(t, config.Config{DataRoot: root, Portal: portal})
	var reloads atomic.Int32
	c.onReload = func() { reloads.Add(1) }
	token := func() string {
		tok, err := c.cred.Token(t.Context(), c.Client())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if got := token(); got != "old-token" {
		t.Fatalf("token at start %q", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	// Saved on each poll: the first save may come before the watch starts.
	testutil.Eventually(t, "the new token to be used", func() bool {
		save("new-token")
		return token() == "new-token"
	})
	if reloads.Load() == 0 {
		t.Error("no reload callback (jobs waiting for sign-in would not resume)")
	}
	// Logged out: the current credential is kept (no crash, no anonymous
	// requests mid-job).
	if _, err := config.RemoveCredential(root, portal); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watcher: %v", err)
	}
	if got := token(); got != "new-token" {
		t.Fatalf("token after logout %q", got)
	}
}

// saveCredentials stores creds under the data root.
func saveCredentials(t *testing.T, root string, creds ...config.Credential) {
	t.Helper()
	for _, c := range creds {
		if err := config.SaveCredential(root, c); err != nil {
			t.Fatal(err)
		}
	}
}

// openCredentials opens the daemon's credentials for cfg.
func openCredentials(t *testing.T, cfg config.Config) *credentials {
	t.Helper()
	c, err := newCredentials(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
