package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/offline"
)

// faultCase is one row of the fault matrix.
type faultCase struct {
	name   string
	faults emulator.Faults
	// tokenLifetime > 0 starts the emulator with that token lifetime and
	// expires every token each period (token expiry scaled down from 30 s).
	tokenLifetime time.Duration
}

// faultOutcome is what one case produced.
type faultOutcome struct {
	Name        string
	Complete    bool // package.json written, no layer errors, equal to the reference
	LayerErrors int
	Failed      bool // the job failed as a whole with an error message
	Elapsed     time.Duration
}

// faultMatrix returns each fault alone and all together; latency is the
// injected per-request latency (the 2 s, scaled by the caller).
// Token expiry is scaled from 30 s to 3 s, so "all together" scales the
// latency by the same factor (a token lives for ~15 round trips, as with
// 30 s and 2 s); 2 s latency with 3 s tokens leaves no time to use a token.
func faultMatrix(latency time.Duration) []faultCase {
	all := emulator.Faults{ErrorRate: 0.10, CutRate: 0.02, CutAfterBytes: 200, TooManyBurst: 3, TooManyRate: 0.01, RetryAfter: time.Second, Latency: latency / 10}
	return []faultCase{
		{name: "5xx 10 percent", faults: emulator.Faults{ErrorRate: 0.10}},
		{name: "cut connections 2 percent", faults: emulator.Faults{CutRate: 0.02, CutAfterBytes: 200}},
		{name: "429 bursts", faults: emulator.Faults{TooManyBurst: 5, TooManyRate: 0.01, RetryAfter: time.Second}},
		{name: "token expiry", tokenLifetime: 3 * time.Second},
		{name: "failing async job", faults: emulator.Faults{FailJobs: true}},
		{name: "latency " + latency.String(), faults: emulator.Faults{Latency: latency}},
		{name: "all together", faults: all, tokenLifetime: 3 * time.Second},
		{name: "all together + failing job", faults: func() emulator.Faults { f := all; f.FailJobs = true; return f }(), tokenLifetime: 3 * time.Second},
	}
}

// runFaultMatrix takes the demo map offline under each case and checks the
// job completes (package equal to the reference) or reports clear
// per-layer errors, and that nothing half-written looks complete.
func runFaultMatrix(t *testing.T, cases []faultCase) []faultOutcome {
	bin := offlinedBinary(t, false)
	refEm := startEmu(t, emulator.Options{})
	refDir := filepath.Join(t.TempDir(), "reference")
	runTakeOffline(t, bin, refEm, refDir)
	ref := packageDigest(t, refDir)

	var outs []faultOutcome
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			em := startEmu(t, emulator.Options{TokenLifetime: c.tokenLifetime})
			em.SetFaults(c.faults)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.tokenLifetime > 0 {
				go func() { // every token dies each period, as with a 30 s lifetime on a long job
					tk := time.NewTicker(c.tokenLifetime)
					defer tk.Stop()
					for {
						select {
						case <-ctx.Done():
							return
						case <-tk.C:
							f := c.faults
							// SetFaults replaces every knob: bursts are
							// not refilled, only the tokens expire.
							f.TooManyBurst, f.ErrorBurst = 0, 0
							f.ExpireTokensNow = true
							em.SetFaults(f)
						}
					}
				}()
			}
			dir := filepath.Join(t.TempDir(), "pkg")
			var out, errb bytes.Buffer
			start := time.Now()
			runErr := runWithTimeout(takeOfflineCmd(bin, em, dir, &out, &errb), 4*time.Minute)
			cancel()
			o := faultOutcome{Name: c.name, Elapsed: time.Since(start)}
			var res offline.Result
			jsonErr := json.Unmarshal(out.Bytes(), &res)
			_, openErr := offline.Open(dir)
			switch {
			case runErr == nil && jsonErr == nil && !res.HasErrors:
				if openErr != nil {
					t.Fatalf("job succeeded but the package does not open: %v", openErr)
				}
				if d := ref.diff(packageDigest(t, dir)); d != "" {
					t.Errorf("package differs from the reference: %s", d)
				}
				validateGpkgs(t, dir)
				o.Complete = true
			case jsonErr == nil && res.HasErrors:
				for k, e := range res.LayerErrors {
					o.LayerErrors++
					if e != nil {
						t.Logf("layer error %s: call %q: %s", e.Layer, e.Call, firstN(e.Message, 300))
					}
					if e == nil || e.Message == "" || e.Service == "" || e.Call == "" {
						t.Errorf("layer error %s is not clear: %+v", k, e)
					}
				}
				for k, e := range res.TableErrors {
					o.LayerErrors++
					if e == nil || e.Message == "" || e.Service == "" || e.Call == "" {
						t.Errorf("table error %s is not clear: %+v", k, e)
					}
				}
				if o.LayerErrors == 0 {
					t.Errorf("hasErrors without a layer or table error: %s", tail(out.String()))
				}
				if openErr == nil {
					m, err := offline.ReadManifest(dir)
					if err != nil || !m.HasErrors {
						t.Errorf("a package with layer errors has a manifest that does not say so: %v", err)
					}
					partialMatches(t, ref, packageDigest(t, dir))
				}
			default:
				o.Failed = true
				if errb.Len() == 0 {
					t.Errorf("job failed (%v) without an error message", runErr)
				}
				if openErr == nil {
					t.Errorf("job failed (%v) but its directory opens as a complete package", runErr)
				}
			}
			integrityOK(t, dir)
			t.Logf("%s: complete=%v layerErrors=%d failed=%v elapsed=%v %s", c.name, o.Complete, o.LayerErrors, o.Failed, o.Elapsed.Round(time.Millisecond), firstLine(errb.String()))
			outs = append(outs, o)
		})
	}
	return outs
}

// partialMatches checks that every row and tile a package with errors holds
// equals the reference's (no corrupted content behind a layer error).
func partialMatches(t *testing.T, ref, got digest) {
	t.Helper()
	for k, m := range got.Features {
		for id, h := range m {
			if ref.Features[k][id] != h {
				t.Errorf("%s row %s differs from the reference", k, id)
				return
			}
		}
	}
	for k, m := range got.Tiles {
		for id, h := range m {
			if ref.Tiles[k][id] != h {
				t.Errorf("%s tile %s differs from the reference", k, id)
				return
			}
		}
	}
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
