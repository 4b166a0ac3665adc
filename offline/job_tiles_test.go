package offline

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/offlined/offlined/tiles"
)

// Failures of the tiles package are classified by their type, not by
// their text: an error that only says "HTTP 503" or "Invalid token" in
// words is neither transient nor a rejected token.
func TestTileErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		err              error
		transient, token bool
	}{
		{fmt.Errorf("style: %w", &tiles.StatusError{URL: "u", Code: 503}), true, false},
		{fmt.Errorf("sprite: %w", &tiles.StatusError{URL: "u", Code: 429}), true, false},
		{fmt.Errorf("glyphs: %w", &tiles.ServiceError{URL: "u", Code: 500, Message: "boom"}), true, false},
		{fmt.Errorf("style: %w", &tiles.ServiceError{URL: "u", Code: 498, Message: "Invalid token"}), false, true},
		{fmt.Errorf("style: %w", &tiles.ServiceError{URL: "u", Code: 499, Message: "Token Required"}), false, true},
		{fmt.Errorf("GET u: %w", io.ErrUnexpectedEOF), true, false},
		{fmt.Errorf("GET u: %w", syscall.ECONNRESET), true, false},
		{fmt.Errorf("style: %w", &tiles.StatusError{URL: "u", Code: 404}), false, false},
		{errors.New("GET u: HTTP 503"), false, false},
		{errors.New("error 498: Invalid token"), false, false},
	} {
		if got := isTransient(tc.err); got != tc.transient {
			t.Errorf("isTransient(%v) = %v", tc.err, got)
		}
		if got := tokenRejected(tc.err); got != tc.token {
			t.Errorf("tokenRejected(%v) = %v", tc.err, got)
		}
	}
}
