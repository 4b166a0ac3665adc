// Package emulatortest starts the ArcGIS REST emulator for tests.
package emulatortest

import (
	"net/http/httptest"
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
