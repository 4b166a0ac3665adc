package tiles

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The fetcher makes its redirect-guarded client once and reuses it: every
// tile, not only the first, still carries the token to the trusted host and
// loses it when that host redirects elsewhere.
func TestHTTPFetcherGuardsEveryRedirect(t *testing.T) {
	var mu sync.Mutex
	var other []string
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		other = append(other, r.URL.String())
		mu.Unlock()
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("tile " + r.URL.Path))
	}))
	defer cdn.Close()
	trustedSeen := 0
	trusted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.URL.Query().Get("token") == leakToken {
			trustedSeen++
		}
		mu.Unlock()
		// Echo the query (token included) into the Location, as some
		// servers do.
		http.Redirect(w, r, cdn.URL+r.URL.Path+"?"+r.URL.RawQuery, http.StatusFound)
	}))
	defer trusted.Close()
	tm, err := ParseTemplate(trusted.URL+"/tile/{z}/{y}/{x}.png", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &HTTPFetcher{Client: trusted.Client(), Template: tm, Tokens: staticSource{prefix: trusted.URL + "/", tok: leakToken}}
	for i := 0; i < 3; i++ {
		data, absent, err := f.FetchTile(context.Background(), TileKey{Level: 3, Row: i, Col: 1})
		if err != nil || absent || !strings.HasPrefix(string(data), "tile /tile/3/") {
			t.Fatalf("tile %d: %q absent %v err %v", i, data, absent, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if trustedSeen != 3 || len(other) != 3 {
		t.Fatalf("trusted host got the token %d times, the other host %d requests; want 3 and 3", trustedSeen, len(other))
	}
	for _, u := range other {
		if strings.Contains(u, leakToken) {
			t.Fatalf("token sent to another host: %s", u)
		}
	}
}
