package tiles

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/outbound"
)

const leakToken = "tok-secret-4711"

// recordingProxy forwards to target after recording whether each request
// carried a credential (query parameter or header), then stripping it.
type recordingProxy struct {
	*httptest.Server
	mu               sync.Mutex
	withTok, without []string
}

func newRecordingProxy(t *testing.T, target string, redirectTo func() string) *recordingProxy {
	tu, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(tu)
	p := &recordingProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		has := strings.Contains(r.URL.RawQuery, leakToken) || strings.Contains(r.Header.Get("Authorization"), leakToken) ||
			strings.Contains(r.Header.Get("X-Esri-Authorization"), leakToken)
		p.mu.Lock()
		if has {
			p.withTok = append(p.withTok, r.URL.Path)
		} else {
			p.without = append(p.without, r.URL.Path)
		}
		p.mu.Unlock()
		if redirectTo != nil && strings.HasPrefix(r.URL.Path, "/go/") {
			// A trusted host redirecting elsewhere, echoing the query
			// (token included) into the Location.
			http.Redirect(w, r, redirectTo()+strings.TrimPrefix(r.URL.Path, "/go")+"?"+r.URL.RawQuery, http.StatusFound)
			return
		}
		q.Del("token")
		r.URL.RawQuery = q.Encode()
		r.Header.Del("Authorization")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *recordingProxy) counts() (with, without []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.withTok...), append([]string(nil), p.without...)
}

// TestVectorLayerTokenStaysOnTrustedHost is the regression test for the
// portal token sent to third-party hosts: the style, its TileJSON/root,
// sprites and glyphs are on a second host, only the tiles on the portal's.
// The second host must never see the token; the trusted one still gets it.
func TestVectorLayerTokenStaysOnTrustedHost(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true})
	var third *recordingProxy
	trusted := newRecordingProxy(t, em.URL, func() string { return third.URL })
	third = newRecordingProxy(t, em.URL, nil)
	c, err := arcgis.New(arcgis.WithPortal(trusted.URL), arcgis.WithCredential(arcgis.StaticToken(leakToken)))
	if err != nil {
		t.Fatal(err)
	}
	const vts = "/arcgis/rest/services/Demo_Vector/VectorTileServer"
	for _, tc := range []struct{ name, style string }{
		{"styleUrl on another host", third.URL + vts + "/resources/styles/root.json"},
		{"redirect from the trusted host", trusted.URL + "/go" + vts + "/resources/styles/root.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := OpenStore(context.Background(), filepath.Join(dir, "v.mbtiles"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			res, err := DownloadVectorTileLayer(context.Background(), VectorTileLayerJob{
				StyleURL: tc.style, ServiceURL: trusted.URL + vts, AOI: demoAOI, Levels: []int{10, 11},
				Store: st, ResourceDir: filepath.Join(dir, "resources"), HTTP: c.HTTPClient(), Tokens: c,
				Download: DownloadOptions{Concurrency: 2},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Progress.Fetched == 0 {
				t.Fatalf("no tiles fetched: %+v", res)
			}
		})
	}
	leaked, clean := third.counts()
	if len(leaked) > 0 {
		t.Fatalf("third-party host received the token on %d requests: %v", len(leaked), leaked)
	}
	// style, root, sprites (4), glyphs, twice over.
	if len(clean) < 10 {
		t.Fatalf("third-party host saw only %d requests (%v): the test does not exercise it", len(clean), clean)
	}
	withTok, without := trusted.counts()
	if len(withTok) == 0 {
		t.Fatal("the trusted host never received the token")
	}
	for _, p := range without {
		t.Errorf("trusted host got a request without the token: %s", p)
	}
}

// staticSource gives one token to URLs under prefix.
type staticSource struct{ prefix, tok string }

func (s staticSource) TokenFor(_ context.Context, u string) (string, error) {
	if strings.HasPrefix(u, s.prefix) {
		return s.tok, nil
	}
	return "", nil
}

// TestPackageDownloadTokenStaysOnTrustedHost: an export job whose result
// (the .tpkx/.vtpk) lives on another host downloads it without the token,
// and a tile fetcher whose template is on another host sends none either.
func TestPackageDownloadTokenStaysOnTrustedHost(t *testing.T) {
	var saw []string
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		saw = append(saw, r.URL.String())
		mu.Unlock()
		w.Write([]byte("x"))
	}))
	defer other.Close()
	ts := staticSource{prefix: "http://trusted.invalid/", tok: leakToken}
	if err := downloadFile(context.Background(), other.Client(), ts, other.URL+"/out/pkg.tpkx", filepath.Join(t.TempDir(), "p"), 0); err != nil {
		t.Fatal(err)
	}
	tm, err := ParseTemplate(other.URL+"/{z}/{x}/{y}.png", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &HTTPFetcher{Client: other.Client(), Template: tm, Tokens: ts}
	if _, _, err := f.FetchTile(context.Background(), TileKey{Level: 1, Row: 0, Col: 0}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(saw) != 2 {
		t.Fatalf("requests %v", saw)
	}
	for _, u := range saw {
		if strings.Contains(u, leakToken) {
			t.Fatalf("token sent to another host: %s", u)
		}
	}
}

// TestTileTransportRefusesMetadataAddress: the tiles package's own
// transport refuses a web map tile template pointing at the metadata
// service, with a typed error and without retrying.
func TestTileTransportRefusesMetadataAddress(t *testing.T) {
	tm, err := ParseTemplate("http://169.254.169.254/latest/{z}/{x}/{y}", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = NewHTTPFetcher(tm, nil, 1).FetchTile(context.Background(), TileKey{Level: 1})
	var be *outbound.BlockedAddressError
	if !errors.As(err, &be) || !refusedByPolicy(err) {
		t.Fatalf("err = %v, want *outbound.BlockedAddressError", err)
	}
}
