package arcgis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
)

// tokenServer issues tok1, tok2, … from generateToken and the OAuth2
// endpoint, and accepts only the tokens in valid on /svc paths.
type tokenServer struct {
	*fakeServer
	mu       sync.Mutex
	issued   int
	valid    map[string]bool
	lifetime time.Duration
	asHTTP   int // answer bad tokens with this HTTP status instead of 200+498
	forms    []map[string]string
	now      func() time.Time // the clock of generateToken's expires
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{fakeServer: newFakeServer(t), valid: map[string]bool{}, lifetime: time.Hour, now: time.Now}
	issue := func() (string, time.Duration) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.issued++
		tok := "tok" + strconv.Itoa(ts.issued)
		ts.valid[tok] = true
		return tok, ts.lifetime
	}
	ts.handle("/sharing/rest/generateToken", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ts.mu.Lock()
		ts.forms = append(ts.forms, map[string]string{"client": r.PostForm.Get("client"), "referer": r.PostForm.Get("referer"), "expiration": r.PostForm.Get("expiration"), "method": r.Method})
		ts.mu.Unlock()
		if r.PostForm.Get("username") != "demo" || r.PostForm.Get("password") != "pw" {
			writeJSONBody(w, 200, map[string]any{"error": map[string]any{"code": 400, "message": "Unable to generate token.", "details": []string{"Invalid username or password."}}})
			return
		}
		tok, life := issue()
		writeJSONBody(w, 200, map[string]any{"token": tok, "expires": ts.now().Add(life).UnixMilli(), "ssl": false})
	})
	ts.handle("/sharing/rest/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.PostForm.Get("grant_type") {
		case "refresh_token":
			if r.PostForm.Get("refresh_token") != "rt" || r.PostForm.Get("client_id") != "app" {
				writeJSONBody(w, 200, map[string]any{"error": map[string]any{"code": 498, "error": "invalid_request", "error_description": "refresh_token expired", "message": "refresh_token expired"}})
				return
			}
		case "client_credentials":
			if r.PostForm.Get("client_secret") != "secret" {
				writeJSONBody(w, 400, map[string]any{"error": "invalid_client", "error_description": "Invalid client_secret"})
				return
			}
		default:
			writeJSONBody(w, 400, map[string]any{"error": "unsupported_grant_type"})
			return
		}
		tok, life := issue()
		writeJSONBody(w, 200, map[string]any{"access_token": tok, "expires_in": int(life.Seconds()), "username": "demo"})
	})
	return ts
}

// check validates the request token; it reports false after writing the error.
func (ts *tokenServer) check(w http.ResponseWriter, r *http.Request) bool {
	tok := r.FormValue("token")
	ts.mu.Lock()
	ok := ts.valid[tok]
	ts.mu.Unlock()
	if ok {
		return true
	}
	code, msg := 498, "Invalid token."
	if tok == "" {
		code, msg = 499, "Token Required"
	}
	if ts.asHTTP != 0 {
		writeJSONBody(w, ts.asHTTP, arcErr(code, msg))
	} else {
		writeJSONBody(w, 200, arcErr(code, msg))
	}
	return false
}

func (ts *tokenServer) expire(tok string) {
	ts.mu.Lock()
	delete(ts.valid, tok)
	ts.mu.Unlock()
}

func (ts *tokenServer) issuedCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued
}

func TestTokenRenewedOn498(t *testing.T) {
	for _, asHTTP := range []int{0, 401, 403} {
		t.Run(fmt.Sprintf("http%d", asHTTP), func(t *testing.T) {
			ts := newTokenServer(t)
			ts.asHTTP = asHTTP
			ts.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
				if ts.check(w, r) {
					layerJSON(w)
				}
			})
			c := newTestClient(t, ts.URL, WithCredential(&UserCredential{Username: "demo", Password: "pw"}), WithReferer("https://app.example"))
			ctx := context.Background()
			if _, err := c.Layer(ctx, ts.URL+"/svc/FeatureServer/0"); err != nil {
				t.Fatal(err)
			}
			ts.expire("tok1")
			l, err := c.Layer(ctx, ts.URL+"/svc/FeatureServer/0")
			if err != nil {
				t.Fatalf("after server-side expiry: %v", err)
			}
			if l.Name != "Inspections" || ts.issuedCount() != 2 {
				t.Errorf("issued %d tokens, want 2 (renewed once)", ts.issuedCount())
			}
			if got := ts.count("/svc/FeatureServer/0"); got != 3 {
				t.Errorf("service saw %d requests, want 3", got)
			}
			if f := ts.forms[0]; f["client"] != "referer" || f["referer"] != "https://app.example" || f["method"] != "POST" || f["expiration"] != "60" {
				t.Errorf("generateToken form = %v", f)
			}
		})
	}
}

func TestTokenRenewedOnlyOnce(t *testing.T) {
	ts := newTokenServer(t)
	ts.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, arcErr(498, "Invalid token."))
	})
	c := newTestClient(t, ts.URL, WithCredential(&UserCredential{Username: "demo", Password: "pw"}))
	_, err := c.Layer(context.Background(), ts.URL+"/svc/FeatureServer/0")
	if !IsAuth(err) {
		t.Fatalf("err = %v, want auth error", err)
	}
	if ts.issuedCount() != 2 || ts.count("/svc/FeatureServer/0") != 2 {
		t.Errorf("issued=%d hits=%d, want 2 and 2", ts.issuedCount(), ts.count("/svc/FeatureServer/0"))
	}
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	ts := newTokenServer(t)
	ts.lifetime = 300 * time.Millisecond
	ts.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		if ts.check(w, r) {
			layerJSON(w)
		}
	})
	clk := clock.NewFake(time.Now())
	ts.now = clk.Now // expiry on the client's clock, however long the machine takes
	c := newTestClient(t, ts.URL, WithCredential(&UserCredential{Username: "demo", Password: "pw"}), WithClock(clk.Now))
	ctx := context.Background()
	for range 2 {
		if _, err := c.Layer(ctx, ts.URL+"/svc/FeatureServer/0"); err != nil {
			t.Fatal(err)
		}
	}
	if ts.issuedCount() != 1 {
		t.Fatalf("issued %d tokens for two quick calls, want 1", ts.issuedCount())
	}
	clk.Advance(260 * time.Millisecond) // within the renewal margin (life/5)
	if _, err := c.Layer(ctx, ts.URL+"/svc/FeatureServer/0"); err != nil {
		t.Fatal(err)
	}
	if ts.issuedCount() != 2 || ts.count("/svc/FeatureServer/0") != 3 {
		t.Errorf("issued=%d hits=%d, want a proactive renewal (2) with no rejected request (3)", ts.issuedCount(), ts.count("/svc/FeatureServer/0"))
	}
}

func TestGenerateTokenFailure(t *testing.T) {
	ts := newTokenServer(t)
	c := newTestClient(t, ts.URL, WithCredential(&UserCredential{Username: "demo", Password: "wrong"}))
	_, err := c.Item(context.Background(), "abc")
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != 400 || len(ae.Details) != 1 || ae.Details[0] != "Invalid username or password." {
		t.Fatalf("err = %v, want the generateToken error with its details", err)
	}
}

// TestClientGenerateToken: the one generateToken call (offlined login and
// UserCredential both use it) binds the token to the client's referer,
// asks for the given lifetime at the given URL or the portal's, returns
// the server's expiry, and a refusal is the server's *Error.
func TestClientGenerateToken(t *testing.T) {
	ts := newTokenServer(t)
	clk := clock.NewFake(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	ts.now = clk.Now
	ctx := context.Background()
	c := newTestClient(t, "", WithReferer("offlined"))
	tok, exp, err := c.GenerateToken(ctx, ts.URL+"/sharing/rest/generateToken", "demo", "pw", 20160)
	if err != nil || tok != "tok1" || !exp.Equal(clk.Now().Add(time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("GenerateToken = %q %v %v, want tok1 expiring in an hour", tok, exp, err)
	}
	if f := ts.forms[0]; f["client"] != "referer" || f["referer"] != "offlined" || f["expiration"] != "20160" || f["method"] != "POST" {
		t.Errorf("generateToken form = %v, want a POST bound to referer offlined for 20160 minutes", f)
	}
	if _, _, err := c.GenerateToken(ctx, "", "demo", "pw", 0); err == nil {
		t.Error("no token URL and no portal: no error")
	}
	pc := newTestClient(t, ts.URL)
	if tok, _, err := pc.GenerateToken(ctx, "", "demo", "pw", 0); err != nil || tok != "tok2" {
		t.Fatalf("the portal's generateToken: %q %v", tok, err)
	}
	if f := ts.forms[1]; f["client"] != "requestip" || f["expiration"] != "60" {
		t.Errorf("without a referer: form = %v, want client=requestip and the 60-minute default", f)
	}
	_, _, err = c.GenerateToken(ctx, ts.URL+"/sharing/rest/generateToken", "demo", "wrong", 60)
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != 400 || !strings.Contains(err.Error(), "demo") {
		t.Fatalf("refused sign-in: %v, want the server's *Error naming the user", err)
	}
}

func TestOAuthGrants(t *testing.T) {
	ts := newTokenServer(t)
	var seen atomic.Value
	ts.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.FormValue("token"))
		if ts.check(w, r) {
			layerJSON(w)
		}
	})
	ctx := context.Background()
	c := newTestClient(t, ts.URL, WithCredential(&OAuthRefreshCredential{ClientID: "app", RefreshToken: "rt"}))
	if _, err := c.Layer(ctx, ts.URL+"/svc/FeatureServer/0"); err != nil {
		t.Fatalf("refresh_token grant: %v", err)
	}
	if seen.Load() != "tok1" {
		t.Errorf("token sent = %v, want tok1", seen.Load())
	}
	ts.expire("tok1")
	if _, err := c.Layer(ctx, ts.URL+"/svc/FeatureServer/0"); err != nil || seen.Load() != "tok2" {
		t.Fatalf("renewal via refresh token: err=%v token=%v", err, seen.Load())
	}
	cc := newTestClient(t, ts.URL, WithCredential(&OAuthClientCredential{ClientID: "app", ClientSecret: "secret", ExpirationMinutes: 120}))
	if _, err := cc.Layer(ctx, ts.URL+"/svc/FeatureServer/0"); err != nil || seen.Load() != "tok3" {
		t.Fatalf("client_credentials grant: err=%v token=%v", err, seen.Load())
	}
	bad := newTestClient(t, ts.URL, WithCredential(&OAuthRefreshCredential{ClientID: "app", RefreshToken: "expired"}))
	_, err := bad.Layer(ctx, ts.URL+"/svc/FeatureServer/0")
	var ae *Error
	if !errors.As(err, &ae) || ae.Message != "refresh_token expired" || ae.MessageCode != "invalid_request" {
		t.Errorf("expired refresh token: err = %v", err)
	}
	badSecret := newTestClient(t, ts.URL, WithCredential(&OAuthClientCredential{ClientID: "app", ClientSecret: "nope"}))
	_, err = badSecret.Layer(ctx, ts.URL+"/svc/FeatureServer/0")
	if !errors.As(err, &ae) || ae.Message != "Invalid client_secret" || ae.HTTPStatus != 400 {
		t.Errorf("bad client secret: err = %v", err)
	}
}

func TestPerServiceCredentials(t *testing.T) {
	portal := newTokenServer(t)
	basemap := newFakeServer(t)
	var portalTok, basemapTok atomic.Value
	portal.handle("/arcgis/rest/services/ops/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		portalTok.Store(r.FormValue("token"))
		layerJSON(w)
	})
	basemap.handle("/arcgis/rest/services/World/MapServer/tile/1/0/0", func(w http.ResponseWriter, r *http.Request) {
		basemapTok.Store(r.URL.Query().Get("token"))
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG fake"))
	})
	c := newTestClient(t, portal.URL,
		WithCredential(&UserCredential{Username: "demo", Password: "pw"}),
		WithServiceCredential(basemap.URL+"/arcgis/rest/services/World/", APIKey("basemap-key")))
	ctx := context.Background()
	if _, err := c.Layer(ctx, portal.URL+"/arcgis/rest/services/ops/FeatureServer/0"); err != nil {
		t.Fatal(err)
	}
	tile, err := c.MapTile(ctx, basemap.URL+"/arcgis/rest/services/World/MapServer", 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if portalTok.Load() != "tok1" || basemapTok.Load() != "basemap-key" || tile.ContentType != "image/png" {
		t.Errorf("portal token %v, basemap token %v, want tok1 and basemap-key", portalTok.Load(), basemapTok.Load())
	}
	reg := c.Credentials()
	if reg.For(basemap.URL+"/arcgis/rest/services/WorldX/MapServer") == reg.For(basemap.URL+"/arcgis/rest/services/World/MapServer") {
		t.Error("prefix matched across a path-segment boundary")
	}
}

func TestAnonymousGets499(t *testing.T) {
	ts := newTokenServer(t)
	ts.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		if ts.check(w, r) {
			layerJSON(w)
		}
	})
	c := newTestClient(t, ts.URL)
	_, err := c.Layer(context.Background(), ts.URL+"/svc/FeatureServer/0")
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != 499 || !ae.IsAuth() {
		t.Fatalf("err = %v, want 499", err)
	}
	if ts.count("/svc/FeatureServer/0") != 1 {
		t.Errorf("anonymous request repeated %d times", ts.count("/svc/FeatureServer/0"))
	}
}

func TestFederatedServerToken(t *testing.T) {
	ts := newTokenServer(t)
	server := newFakeServer(t)
	var exchanges atomic.Int64
	ts.mux.HandleFunc("/sharing/rest/generateToken/exchange", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ts.mu.Lock()
		ok := ts.valid[r.PostForm.Get("token")]
		ts.mu.Unlock()
		if !ok || r.PostForm.Get("serverUrl") != server.URL+"/arcgis" {
			writeJSONBody(w, 200, arcErr(498, "Invalid token."))
			return
		}
		n := exchanges.Add(1)
		writeJSONBody(w, 200, map[string]any{"token": "server" + strconv.FormatInt(n, 10), "expires": time.Now().Add(time.Hour).UnixMilli()})
	})
	var seen atomic.Value
	server.handle("/arcgis/rest/services/x/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.FormValue("token"))
		if r.FormValue("token") == "server1" {
			writeJSONBody(w, 200, arcErr(498, "Invalid token.")) // first server token rejected
			return
		}
		layerJSON(w)
	})
	portalCred := &UserCredential{Username: "demo", Password: "pw"}
	c := newTestClient(t, ts.URL, WithCredential(portalCred),
		WithServiceCredential(server.URL+"/arcgis", &FederatedCredential{Portal: portalCred, ServerURL: server.URL + "/arcgis", TokenURL: ts.URL + "/sharing/rest/generateToken/exchange"}))
	if _, err := c.Layer(context.Background(), server.URL+"/arcgis/rest/services/x/FeatureServer/0"); err != nil {
		t.Fatal(err)
	}
	if seen.Load() != "server2" || exchanges.Load() != 2 || ts.issuedCount() != 1 {
		t.Errorf("server saw %v after %d exchanges and %d portal tokens", seen.Load(), exchanges.Load(), ts.issuedCount())
	}
}

func TestStreamsRenewTokenOnErrorBody(t *testing.T) {
	ts := newTokenServer(t)
	ts.handle("/svc/MapServer/tile/1/0/0", func(w http.ResponseWriter, r *http.Request) {
		if ts.check(w, r) { // 200 + {"error":{"code":498}} as JSON while the token is bad
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte("\x89PNG"))
		}
	})
	parts := map[string]string{}
	ts.handle("/svc/FeatureServer/uploads/upload", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			writeJSONBody(w, 200, arcErr(400, err.Error()))
			return
		}
		if !ts.check(w, r) {
			return
		}
		f, _, err := r.FormFile("file")
		if err != nil {
			writeJSONBody(w, 200, arcErr(400, err.Error()))
			return
		}
		b, _ := io.ReadAll(f)
		parts["upload"] = string(b)
		writeJSONBody(w, 200, map[string]any{"success": true, "item": map[string]any{"itemID": "u1", "committed": true}})
	})
	c := newTestClient(t, ts.URL, WithCredential(&UserCredential{Username: "demo", Password: "pw"}))
	ctx := context.Background()
	if _, err := c.MapTile(ctx, ts.URL+"/svc/MapServer", 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	ts.expire("tok1")
	tile, err := c.MapTile(ctx, ts.URL+"/svc/MapServer", 1, 0, 0)
	if err != nil || string(tile.Data) != "\x89PNG" || ts.issuedCount() != 2 {
		t.Fatalf("tile after expiry = %v, %v (tokens %d)", tile, err, ts.issuedCount())
	}
	ts.expire("tok2")
	// a seekable reader is rewound and sent again after the renewal
	item, err := c.Upload(ctx, ts.URL+"/svc/FeatureServer", "d.json", strings.NewReader("payload-bytes"), "")
	if err != nil || item.ItemID != "u1" || parts["upload"] != "payload-bytes" || ts.issuedCount() != 3 || ts.count("/svc/FeatureServer/uploads/upload") != 2 {
		t.Fatalf("upload after expiry: %+v, %v, stored %q, %d requests", item, err, parts["upload"], ts.count("/svc/FeatureServer/uploads/upload"))
	}
}

func TestPortalTokenNotSentToUntrustedHosts(t *testing.T) {
	portal := newTokenServer(t)
	other := newFakeServer(t)
	var got atomic.Value
	other.handle("/tiles/1/0/0.png", func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.Query().Get("token"))
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG"))
	})
	ctx := context.Background()
	c := newTestClient(t, portal.URL, WithCredential(&UserCredential{Username: "demo", Password: "pw"}))
	if _, err := c.fetchTile(ctx, other.URL+"/tiles/1/0/0.png"); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "" || portal.issuedCount() != 0 {
		t.Errorf("third-party host received token %q (%d issued)", got.Load(), portal.issuedCount())
	}
	trusting := newTestClient(t, portal.URL, WithCredential(&UserCredential{Username: "demo", Password: "pw"}), WithTrustedHosts(other.Listener.Addr().String()))
	if _, err := trusting.fetchTile(ctx, other.URL+"/tiles/1/0/0.png"); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "tok1" {
		t.Errorf("trusted host received token %q, want tok1", got.Load())
	}
	online, err := New(WithPortal("https://www.arcgis.com"), WithCredential(APIKey("k")))
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]bool{
		"https://services3.arcgis.com/x/arcgis/rest/services/a/FeatureServer": true,
		"https://www.arcgis.com/sharing/rest/content/items/1":                 true,
		"https://tile.openstreetmap.org/1/0/0.png":                            false,
		"https://evilarcgis.com/x":                                            false,
	} {
		tok, _ := online.Credentials().For(u).Token(ctx, online)
		if (tok == "k") != want {
			t.Errorf("%s: token %q, want sent=%v", u, tok, want)
		}
	}
}
