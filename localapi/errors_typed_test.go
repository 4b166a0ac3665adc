package localapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
	editsync "github.com/offlined/offlined/sync"
)

// Conditions a user, another application or a server causes answer a typed
// 4xx/502/503/504, never 500 internal.
func TestTypedErrorsNeverInternal(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"sync needs auth", fmt.Errorf("sync x: %w", editsync.ErrNeedsAuth), 403, "needsAuth"},
		{"sync busy", fmt.Errorf("sync x: %w", editsync.ErrBusy), 409, "syncBusy"},
		{"validation", fmt.Errorf("load: %w", &offline.ValidationError{Code: offline.ErrSource, Message: "bad source"}), 422, "invalidSource"},
		{"schema too new", fmt.Errorf("open: %w", geodb.ErrSchemaTooNew), 409, "brokenPackage"},
		{"server HTML", &arcgis.UnexpectedResponseError{Op: "query", URL: "https://h/q", Want: "features"}, 502, "serverUnexpectedAnswer"},
		{"server 500", &arcgis.HTTPError{StatusCode: 500}, 502, "serverError"},
		{"answer too large", &arcgis.ResponseTooLargeError{Op: "query", URL: "https://h/q", Limit: 10}, 502, "serverAnswerTooLarge"},
		{"retries exhausted", &arcgis.RetryError{Attempts: 2, Last: dial}, 503, "serverUnreachable"},
		{"unreachable", fmt.Errorf("layer: %w", dial), 503, "serverUnreachable"},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), 504, "timeout"},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), 503, "canceled"},
		{"file removed", fmt.Errorf("open /p/x.gpkg: %w", fs.ErrNotExist), 409, "brokenPackage"},
		{"permissions", fmt.Errorf("open /p/x.gpkg: %w", fs.ErrPermission), 409, "brokenPackage"},
	}
	for _, c := range cases {
		got := toAPIError(c.err)
		if got.Status != c.status || got.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, got.Status, got.Code, c.status, c.code)
		}
		if got.Status == http.StatusInternalServerError {
			t.Errorf("%s: 500", c.name)
		}
	}
	if got := toAPIError(errors.New("a real bug")); got.Status != 500 || got.Code != "internal" {
		t.Errorf("an unknown fault: %d %s, want 500 internal", got.Status, got.Code)
	}
}
