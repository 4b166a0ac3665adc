package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
)

// concurrencyFigures are scenario 6's figures.
type concurrencyFigures struct {
	Clients, Requests, Errors5xx, TransportErrors, Syncs, SyncFailures int
	Added, Lost, Duplicated, NotesMismatch                             int
	DownloadState                                                      string
	DataRaces                                                          int
}

// concurrentClients runs `clients` API clients reading and editing the map
// "survey" (adds, updates, queries) while the daemon syncs it in a loop and
// takes a second map offline; then it checks every add reached the server
// exactly once with its last update. With race, the daemon is built with
// the race detector and its log must hold no data race report.
func concurrentClients(t *testing.T, clients, opsPerClient int, race bool) concurrencyFigures {
	bin := offlinedBinary(t, race)
	em := startEmu(t, emulator.Options{})
	d := startDaemonWithMap(t, bin, em)
	layer := ""
	_, m := d.api(t, "GET", "/api/v1/maps/survey/layers", "")
	ls, _ := m["layers"].([]any)
	for _, l := range ls {
		if lm, ok := l.(map[string]any); ok && lm["name"] == "Inspections" {
			layer = fmt.Sprint(lm["id"])
		}
	}
	if layer == "" {
		t.Fatalf("no Inspections layer: %v", m)
	}
	base := "/api/v1/maps/survey/layers/" + layer + "/features"
	fig := concurrencyFigures{Clients: clients}

	// A second download runs meanwhile.
	jobID := d.createJob(t, fmt.Sprintf(`{"portalUrl":%q,"itemId":%q}`, em.PortalURL, emulator.DemoWebMapFieldSurveyID), "second", "Second")

	ctx, cancel := context.WithCancel(context.Background())
	var bg stdsync.WaitGroup
	var syncs, syncFails atomic.Int64
	bg.Go(func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequest("POST", d.base+"/api/v1/maps/survey/sync", nil)
			req.Header.Set("Authorization", "Bearer "+d.token)
			syncs.Add(1)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				syncFails.Add(1)
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					syncFails.Add(1)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	// Clients keep going until the download has ended (at least).
	var downloadDone atomic.Bool
	bg.Go(func() {
		for ctx.Err() == nil && !downloadDone.Load() {
			req, _ := http.NewRequest("GET", d.base+"/api/v1/jobs/"+jobID, nil)
			req.Header.Set("Authorization", "Bearer "+d.token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				var j map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&j)
				resp.Body.Close()
				if s, _ := j["state"].(string); s == "succeeded" || s == "failed" || s == "canceled" {
					downloadDone.Store(true)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	var requests, fives, transport atomic.Int64
	type added struct{ name, gid, notes string }
	var mu stdsync.Mutex
	var adds []added
	do := func(method, path, body string) (int, map[string]any) {
		requests.Add(1)
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, d.base+path, r)
		req.Header.Set("Authorization", "Bearer "+d.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			transport.Add(1)
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			fives.Add(1)
			t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, firstN(string(b), 200))
		}
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	var wg stdsync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			var mine []added
			for i := 0; i < opsPerClient || (!downloadDone.Load() && i < 50*opsPerClient); i++ {
				switch {
				case i%4 == 0 || len(mine) == 0:
					name := fmt.Sprintf("c%d-%d", c, i)
					lon := -117.24 + float64(c)*0.004
					lat := 33.99 + float64(i)*0.0005
					code, res := do("POST", base, fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%f,%f]},"properties":{"InspectionID":%q}}`, lon, lat, name))
					if code != 201 {
						t.Errorf("add %s: %d %v", name, code, res)
						continue
					}
					gid := ""
					if fs, ok := res["features"].([]any); ok && len(fs) == 1 {
						gid = fmt.Sprint(fs[0].(map[string]any)["globalId"])
					} else if g, ok := res["globalId"]; ok {
						gid = fmt.Sprint(g)
					}
					mine = append(mine, added{name: name, gid: gid})
				case i%4 == 1:
					a := &mine[i%len(mine)]
					if a.gid == "" {
						continue
					}
					notes := fmt.Sprintf("note %d of %s", i, a.name)
					if code, res := do("PATCH", base+"/"+a.gid, fmt.Sprintf(`{"type":"Feature","properties":{"Notes":%q}}`, notes)); code == 200 {
						a.notes = notes
					} else {
						t.Errorf("update %s: %d %v", a.name, code, res)
					}
				default:
					if code, res := do("GET", base+"?limit=50&where="+urlq("InspectionID LIKE 'c%'"), ""); code != 200 {
						t.Errorf("query: %d %v", code, res)
					}
				}
			}
			mu.Lock()
			adds = append(adds, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	cancel()
	bg.Wait()
	// The download must end.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, j := d.api(t, "GET", "/api/v1/jobs/"+jobID, "")
		s, _ := j["state"].(string)
		if s == "succeeded" || s == "failed" || s == "canceled" || time.Now().After(deadline) {
			fig.DownloadState = s
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if fig.DownloadState != "succeeded" {
		t.Errorf("the concurrent download ended %q", fig.DownloadState)
	}
	if code, res := d.api(t, "POST", "/api/v1/maps/survey/sync", ""); code != 200 {
		t.Fatalf("final sync: %d %v", code, res)
	}
	server, err := em.Features(svcName, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]string{}
	for _, f := range server {
		if n, ok := f.Attributes["InspectionID"].(string); ok {
			byName[n] = append(byName[n], fmt.Sprint(f.Attributes["Notes"]))
		}
	}
	for _, a := range adds {
		fig.Added++
		switch got := byName[a.name]; {
		case len(got) == 0:
			fig.Lost++
		case len(got) > 1:
			fig.Duplicated += len(got) - 1
		case a.notes != "" && got[0] != a.notes:
			fig.NotesMismatch++
		}
	}
	fig.Requests, fig.Errors5xx, fig.TransportErrors = int(requests.Load()), int(fives.Load()), int(transport.Load())
	fig.Syncs, fig.SyncFailures = int(syncs.Load()), int(syncFails.Load())
	logs := d.logs()
	fig.DataRaces = strings.Count(logs, "WARNING: DATA RACE")
	if fig.DataRaces > 0 || strings.Contains(logs, "panic") {
		kept := "(not kept)"
		if f, err := os.CreateTemp("", "offlined-daemon-*.log"); err == nil {
			_, _ = f.WriteString(logs)
			f.Close()
			kept = f.Name()
		}
		t.Errorf("daemon log (kept in %s): %d data races, panic=%v\n%s", kept, fig.DataRaces, strings.Contains(logs, "panic"), tail(logs))
	}
	if fig.Lost+fig.Duplicated+fig.NotesMismatch > 0 {
		t.Errorf("%d adds: %d lost, %d duplicated, %d with a lost update", fig.Added, fig.Lost, fig.Duplicated, fig.NotesMismatch)
	}
	t.Logf("concurrency: clients=%d requests=%d 5xx=%d transport errors=%d syncs=%d (failed %d) adds=%d lost=%d duplicated=%d lost updates=%d download=%s daemon race detector=%v data races=%d",
		fig.Clients, fig.Requests, fig.Errors5xx, fig.TransportErrors, fig.Syncs, fig.SyncFailures, fig.Added, fig.Lost, fig.Duplicated, fig.NotesMismatch, fig.DownloadState, race, fig.DataRaces)
	return fig
}
