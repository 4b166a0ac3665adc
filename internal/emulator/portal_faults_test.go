package emulator_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

// rawGet GETs u and returns status, Retry-After, body and the body read error.
func rawGet(t *testing.T, u string) (int, string, []byte, error) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), b, err
}

func TestFaultBurstsOnPortal(t *testing.T) {
	tests := []struct {
		name       string
		faults     emulator.Faults
		wantStatus []int    // per request, in order
		wantRetry  []string // Retry-After per request ("" none)
	}{
		{"503 burst", emulator.Faults{ErrorBurst: 2}, []int{503, 503, 200, 200}, []string{"", "", "", ""}},
		{"429 burst with Retry-After", emulator.Faults{TooManyBurst: 2, RetryAfter: 1500 * time.Millisecond}, []int{429, 429, 200}, []string{"2", "2", ""}},
		{"429 default Retry-After is 1s", emulator.Faults{TooManyBurst: 1}, []int{429, 200}, []string{"1", ""}},
		{"503 burst before 429 burst", emulator.Faults{ErrorBurst: 1, TooManyBurst: 1, RetryAfter: 3 * time.Second}, []int{503, 429, 200}, []string{"", "3", ""}},
		{"error rate 1", emulator.Faults{ErrorRate: 1}, []int{500, 500}, []string{"", ""}},
		{"429 rate 1", emulator.Faults{TooManyRate: 1}, []int{429, 429}, []string{"1", "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			em := emulatortest.Start(t, emulator.Options{})
			tok := signIn(t, em)
			em.SetFaults(tc.faults)
			for i, want := range tc.wantStatus {
				status, retry, body, err := rawGet(t, em.PortalURL+"/portals/self?f=json&token="+tok)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if status != want || retry != tc.wantRetry[i] {
					t.Errorf("request %d: HTTP %d Retry-After %q, want %d %q", i, status, retry, want, tc.wantRetry[i])
				}
				if want != 200 {
					if code := errorCode(mustObj(t, body)); code != want {
						t.Errorf("request %d: body error code %d, want %d", i, code, want)
					}
				}
			}
			entries := em.Log().Matching("/portals/self")
			if len(entries) != len(tc.wantStatus) {
				t.Fatalf("request log has %d portals/self entries, want %d", len(entries), len(tc.wantStatus))
			}
			for i, e := range entries {
				if e.Status != tc.wantStatus[i] {
					t.Errorf("log entry %d status %d, want %d", i, e.Status, tc.wantStatus[i])
				}
			}
		})
	}
}

func mustObj(t *testing.T, b []byte) obj {
	t.Helper()
	o, err := decodeObj(b)
	if err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, b)
	}
	return o
}

func TestFaultPathsFilter(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	em.SetFaults(emulator.Faults{ErrorBurst: 1, Paths: []string{"/sharing/rest/search"}})
	if status, _, _, _ := rawGet(t, em.PortalURL+"/portals/self?f=json&token="+tok); status != 200 {
		t.Errorf("path outside the filter: HTTP %d", status)
	}
	if status, _, _, _ := rawGet(t, em.PortalURL+"/search?f=json&token="+tok); status != 503 {
		t.Errorf("path in the filter: HTTP %d, want 503", status)
	}
	if status, _, _, _ := rawGet(t, em.PortalURL+"/search?f=json&token="+tok); status != 200 {
		t.Errorf("after the burst: HTTP %d", status)
	}
}

func TestFaultCutAfterBytes(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	_, _, full, err := rawGet(t, em.PortalURL+"/portals/self?f=json&token="+tok)
	if err != nil || len(full) < 500 {
		t.Fatalf("uncut portals/self: %d bytes, %v", len(full), err)
	}
	for _, tc := range []struct {
		name   string
		faults emulator.Faults
		want   int
	}{
		{"after 100 bytes", emulator.Faults{CutAfterBytes: 100}, 100},
		{"cut rate 1 cuts at 0 bytes", emulator.Faults{CutRate: 1}, 0},
		{"cut rate 1 with a byte limit", emulator.Faults{CutRate: 1, CutAfterBytes: 37}, 37},
	} {
		t.Run(tc.name, func(t *testing.T) {
			em.SetFaults(tc.faults)
			status, _, body, err := rawGet(t, em.PortalURL+"/portals/self?f=json&token="+tok)
			if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read error = %v, want unexpected EOF", err)
			}
			if status != 200 || len(body) != tc.want || string(body) != string(full[:tc.want]) {
				t.Errorf("HTTP %d, %d bytes; want the first %d bytes of the full answer", status, len(body), tc.want)
			}
		})
	}
	// A response shorter than the limit is not cut.
	em.SetFaults(emulator.Faults{CutAfterBytes: int64(len(full) + 10)})
	if _, _, body, err := rawGet(t, em.PortalURL+"/portals/self?f=json&token="+tok); err != nil || len(body) != len(full) {
		t.Errorf("short response: %d bytes, %v", len(body), err)
	}
}

func TestFaultLatency(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	em.SetFaults(emulator.Faults{Latency: 150 * time.Millisecond, Paths: []string{"/sharing/rest/info"}})
	start := time.Now()
	if status, _, _, err := rawGet(t, em.PortalURL+"/info?f=json"); status != 200 || err != nil {
		t.Fatalf("HTTP %d %v", status, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("latency %s, want at least 150ms", d)
	}
	// A path outside the filter is not delayed. The latency outlasts the
	// request's deadline, so a delayed request fails by that deadline
	// instead of by an elapsed-time bound a loaded machine can pass.
	em.SetFaults(emulator.Faults{Latency: 2 * testutil.Timeout, Paths: []string{"/sharing/rest/info"}})
	octx, ocancel := context.WithTimeout(context.Background(), testutil.Timeout)
	defer ocancel()
	oreq, _ := http.NewRequestWithContext(octx, http.MethodGet, em.URL+"/arcgis/rest/info?f=json", nil)
	if resp, err := http.DefaultClient.Do(oreq); err != nil {
		t.Errorf("path outside the filter: %v", err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	ocancel()
	// A client that gives up does not keep the handler waiting.
	em.SetFaults(emulator.Faults{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, em.PortalURL+"/info?f=json", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request with a 1-minute latency did not time out")
	}
	em.SetFaults(emulator.Faults{})
	em.HTTP.CloseClientConnections()
	done := make(chan struct{})
	go func() { em.HTTP.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("server did not shut down: a handler is still sleeping")
	}
}
