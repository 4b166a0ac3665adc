// Package emulatortest starts the ArcGIS REST emulator for tests.
package emulatortest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

// Server is a running emulator.
type Server struct {
	*emulator.Server
	// URL is the root URL, e.g. http://127.0.0.1:PORT (no trailing slash).
	URL string
	// PortalURL is URL + "/sharing/rest".
	PortalURL string
	// ServicesURL is URL + "/arcgis/rest/services".
	ServicesURL string
	HTTP        *httptest.Server
}

// Start runs an emulator on a loopback port until the test ends.
func Start(tb testing.TB, opts emulator.Options) *Server {
	tb.Helper()
	em := emulator.New(opts)
	hs := httptest.NewServer(em)
	tb.Cleanup(func() {
		hs.Close()
		em.Close()
	})
	return &Server{Server: em, URL: hs.URL, PortalURL: hs.URL + "/sharing/rest", ServicesURL: hs.URL + "/arcgis/rest/services", HTTP: hs}
}

// ItemData returns a portal item's /data (a web map's JSON) as the portal
// answers it to token; a failed request fails tb.
func (s *Server) ItemData(tb testing.TB, token, id string) []byte {
	tb.Helper()
	resp, err := http.Get(s.PortalURL + "/content/items/" + id + "/data?f=json&token=" + token)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// oobCodeRE finds the code the portal's out-of-band sign-in page shows.
var oobCodeRE = regexp.MustCompile(`<code id="code">([^<]+)</code>`)

// OOBCode returns the code the portal's out-of-band sign-in page in resp
// shows (the answer to a signed-in authorize form), closing its body; a
// page without a code fails tb.
func OOBCode(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	m := oobCodeRE.FindSubmatch(b)
	if m == nil {
		tb.Fatalf("no code on the out-of-band sign-in page: %s", b)
	}
	return string(m[1])
}
