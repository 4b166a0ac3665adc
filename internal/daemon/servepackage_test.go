package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline/offlinetest"
)

// TestPackageServer: a package served alone (offlined demo --serve) is
// listed under its id to the random token and refused without it; the
// page link signs a browser in; when ctx ends Serve returns nil, closes
// the listener and removes its temporary data root.
func TestPackageServer(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	dir := filepath.Join(t.TempDir(), "pkg")
	offlinetest.BuildPackage(t, em, offlinetest.Options{Dir: dir, Client: offlinetest.Client(t, em), Timeout: buildTimeout})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan ServedPackage, 1)
	done := make(chan error, 1)
	ps := &PackageServer{ID: "demo", Dir: dir, Ready: func(s ServedPackage) { ready <- s }}
	go func() { done <- ps.Serve(ctx, ln) }()
	var s ServedPackage
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatalf("Serve ended before serving: %v", err)
	}
	if s.BaseURL != "http://"+ln.Addr().String() || len(s.Token) != 32 || !strings.HasPrefix(s.PageLink, "/") {
		t.Errorf("served %+v", s)
	}
	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest("GET", s.BaseURL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get("/api/v1/maps", s.Token)
	var maps struct {
		Maps []struct {
			ID string `json:"id"`
		} `json:"maps"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&maps); resp.StatusCode != 200 || err != nil || len(maps.Maps) != 1 || maps.Maps[0].ID != "demo" {
		t.Errorf("GET /api/v1/maps: %d %+v %v, want the one map demo", resp.StatusCode, maps, err)
	}
	if resp := get("/api/v1/maps", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
	if _, err := os.Stat(s.DataRoot); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data root %s left behind: %v", s.DataRoot, err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("listener still open after Serve returned")
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Errorf("the served package itself was touched: %v", err)
	}
}

// TestPackageServerBadDir: a package directory that is missing fails
// before serving, naming it, and the listener is closed.
func TestPackageServerBadDir(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "missing")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ps := &PackageServer{ID: "demo", Dir: dir, Ready: func(ServedPackage) {
		t.Error("Ready called for a missing package directory")
		cancel()
	}}
	if err := ps.Serve(ctx, ln); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Serve: %v, want an error naming %s", err, dir)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("listener still open after Serve failed")
	}
}
