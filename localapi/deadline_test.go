package localapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// deadlineRecorder is a ResponseWriter that counts the read deadlines a
// handler sets through http.ResponseController.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// A request without a body touches no read deadline on its way through
// the guard and a route (the guard sets none for it, so none is lifted);
// one with a body gets BodyTimeout.
func TestNoReadDeadlineWithoutBody(t *testing.T) {
	s := tileTestServer(t)
	for _, p := range []string{"/api/v1/maps/nope/tiles/base/1/0/0", "/api/v1/maps", "/api/v1/maps/nope/layers"} {
		w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
		r := httptest.NewRequest("GET", "http://localhost"+p, nil)
		r.Header.Set("Authorization", "Bearer "+testToken)
		s.ServeHTTP(w, r)
		if w.Code == http.StatusUnauthorized || len(w.deadlines) != 0 {
			t.Errorf("GET %s: status %d, read deadlines set %v, want none", p, w.Code, w.deadlines)
		}
	}
	w := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	r := httptest.NewRequest("POST", "http://localhost/api/v1/maps/nope/sync", strings.NewReader("{}"))
	r.Header.Set("Authorization", "Bearer "+testToken)
	s.ServeHTTP(w, r)
	if len(w.deadlines) == 0 || w.deadlines[0].IsZero() {
		t.Errorf("POST with a body: read deadlines %v, want BodyTimeout first", w.deadlines)
	}
}
