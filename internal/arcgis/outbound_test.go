package arcgis

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/outbound"
)

const secretTok = "tok.s3cr3t-value"

// tokenSeen records the requests that carried secretTok anywhere.
type tokenSeen struct {
	mu    sync.Mutex
	with  int
	total int
}

func (s *tokenSeen) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	if strings.Contains(r.URL.RawQuery, secretTok) || strings.Contains(string(body), secretTok) ||
		strings.Contains(r.Header.Get("Authorization"), secretTok) {
		s.with++
	}
}

func (s *tokenSeen) get() (with, total int) { s.mu.Lock(); defer s.mu.Unlock(); return s.with, s.total }

// TestRedirectToOtherHostDropsToken: a GET redirected by the portal to an
// untrusted host (with the token echoed into Location) arrives without it,
// and a form POST answered with 307 to such a host is refused before its
// body (which carries the token) is resent.
func TestRedirectToOtherHostDropsToken(t *testing.T) {
	var seen tokenSeen
	other := newFakeServer(t)
	other.handle("/", func(w http.ResponseWriter, r *http.Request) {
		seen.record(r)
		writeJSONBody(w, 200, map[string]any{"ok": true})
	})
	portal := newFakeServer(t)
	portal.handle("/sharing/rest/get", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != secretTok {
			t.Errorf("portal GET without the token: %s", r.URL.RawQuery)
		}
		http.Redirect(w, r, other.URL+"/landing?"+r.URL.RawQuery, http.StatusFound)
	})
	portal.handle("/sharing/rest/post", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/landing", http.StatusTemporaryRedirect)
	})
	portal.handle("/sharing/rest/same", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sharing/rest/same" && r.URL.Query().Get("hop") == "" {
			http.Redirect(w, r, "/sharing/rest/same?hop=1&"+r.URL.RawQuery, http.StatusFound)
			return
		}
		if r.URL.Query().Get("token") != secretTok {
			t.Errorf("redirect within the portal host lost the token: %s", r.URL.RawQuery)
		}
		writeJSONBody(w, 200, map[string]any{"ok": true})
	})
	c := newTestClient(t, portal.URL, WithCredential(StaticToken(secretTok)))
	ctx := context.Background()
	var v map[string]any
	if err := c.GetJSON(ctx, portal.URL+"/sharing/rest/get", nil, &v); err != nil {
		t.Fatal(err)
	}
	if err := c.GetJSON(ctx, portal.URL+"/sharing/rest/same", nil, &v); err != nil {
		t.Fatal(err)
	}
	err := c.postJSON(ctx, "post", portal.URL+"/sharing/rest/post", url.Values{"a": {"b"}}, false, &v, nil)
	var re *outbound.RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("POST redirected to another host: err = %v, want *outbound.RedirectError", err)
	}
	if strings.Contains(err.Error(), secretTok) {
		t.Fatalf("error carries the token: %v", err)
	}
	with, total := seen.get()
	if total != 1 || with != 0 {
		t.Fatalf("other host: %d requests, %d with the token; want 1 and 0", total, with)
	}
}

// TestEndlessAnswerIsCapped: a server streaming an endless JSON body makes
// the request fail with *ResponseTooLargeError after the cap, not grow the
// process; the error names the URL without the token.
func TestEndlessAnswerIsCapped(t *testing.T) {
	srv := newFakeServer(t)
	srv.handle("/endless", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"a":"`))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 1<<14; i++ { // up to 1 GiB, stops when the client hangs up
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c := newTestClient(t, srv.URL, WithCredential(StaticToken(secretTok)), WithMaxResponseBytes(1<<20))
	var v map[string]any
	err := c.GetJSON(context.Background(), srv.URL+"/endless", nil, &v)
	var tl *ResponseTooLargeError
	if !errors.As(err, &tl) || tl.Limit != 1<<20 {
		t.Fatalf("err = %v, want *ResponseTooLargeError with limit 1 MiB", err)
	}
	if strings.Contains(err.Error(), secretTok) || !strings.Contains(err.Error(), "/endless") {
		t.Fatalf("error text %q: want the URL, without the token", err)
	}
	if n := srv.count("/endless"); n != 1 {
		t.Fatalf("%d requests: an over-large answer must not be retried", n)
	}
}

// TestTransportErrorAndLogsCarryNoToken: a failing GET (connection
// refused) wraps net/http's *url.Error, whose text holds the whole URL;
// neither the error nor any DEBUG line may contain the token.
func TestTransportErrorAndLogsCarryNoToken(t *testing.T) {
	srv := newFakeServer(t)
	dead := srv.URL
	srv.Close()
	var logs bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, dead, WithCredential(StaticToken(secretTok)), WithLogger(lg))
	var v map[string]any
	err := c.GetJSON(context.Background(), dead+"/sharing/rest/x", url.Values{"where": {"1=1"}}, &v)
	if err == nil {
		t.Fatal("request to a closed server succeeded")
	}
	if strings.Contains(err.Error(), secretTok) {
		t.Fatalf("error carries the token: %v", err)
	}
	if logs.Len() == 0 {
		t.Fatal("no debug lines logged: the test does not exercise logging")
	}
	if strings.Contains(logs.String(), secretTok) {
		t.Fatalf("log carries the token:\n%s", logs.String())
	}
}

// TestDefaultTransportRefusesMetadataAddress: the client's own transport
// refuses the cloud metadata address at dial time with a typed error;
// WithOutboundPolicy can allow it.
func TestDefaultTransportRefusesMetadataAddress(t *testing.T) {
	c := newTestClient(t, "")
	var v map[string]any
	err := c.GetJSON(context.Background(), "http://169.254.169.254/latest/meta-data", nil, &v)
	var be *outbound.BlockedAddressError
	var re *RetryError
	if !errors.As(err, &be) || errors.As(err, &re) {
		t.Fatalf("err = %v, want *outbound.BlockedAddressError, not retried", err)
	}
	// Loopback stays allowed.
	srv := newFakeServer(t)
	srv.handle("/ok", func(w http.ResponseWriter, r *http.Request) { writeJSONBody(w, 200, map[string]any{"ok": true}) })
	if err := c.GetJSON(context.Background(), srv.URL+"/ok", nil, &v); err != nil {
		t.Fatalf("loopback: %v", err)
	}
}

// TestTrustedHostsWithoutPortal: a client without a portal but with
// trusted hosts (the CLI's --webmap URL host) gives the token only to them.
func TestTrustedHostsWithoutPortal(t *testing.T) {
	c := newTestClient(t, "", WithCredential(StaticToken(secretTok)), WithTrustedHosts("maps.example.com:8443"))
	ctx := context.Background()
	for u, want := range map[string]string{
		"https://maps.example.com:8443/arcgis/rest/services/x/VectorTileServer": secretTok,
		"https://cdn.example.net/fonts/Arial/0-255.pbf":                         "",
		"https://maps.example.com.evil.net:8443/style.json":                     "",
	} {
		if got, err := c.TokenFor(ctx, u); err != nil || got != want {
			t.Errorf("TokenFor(%s) = %q, %v; want %q", u, got, err, want)
		}
	}
}
