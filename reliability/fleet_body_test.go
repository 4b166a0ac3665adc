package reliability

// The fleet harness (issue 20): N devices, each a real `offlined serve`
// process with its own replica of the Field_Survey map, edit the same
// service through their local APIs with background sync on, while their
// links come and go, some are SIGKILLed mid-sync and office users edit the
// server. Afterwards every device must hold the server's rows for its area,
// every add must exist exactly once, every overwritten value must be on
// record in some device's gpkgext_offlined_conflicts, and deletes must have won.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	editsync "github.com/offlined/offlined/sync"
)

// fleetOptions scale one fleet run.
type fleetOptions struct {
	Devices      int
	OpsPerDevice int
	Kills        int // SIGKILLs mid-sync, spread over the devices
	Seed         uint64
	SyncInterval time.Duration // background sync interval of every daemon
	OfficeEvery  time.Duration // pause between two office edits
}

// fleetFigures are what a run reports.
type fleetFigures struct {
	Devices, Operations, OfficeEdits, Conflicts, Kills, LinkCuts int
	RoundsToConverge, Lost, Duplicated, UnrecordedOverwrites     int
	RecordedOverwrites, DeletesLost, RowMismatches, PeakReplicas int
	SkippedOps, RacedOverwrites                                  int
	// RefusedRounds counts final rounds in which the server refused a
	// device's batch for a feature or photo parent a colleague deleted
	// (the limitation in docs/RELIABILITY.md): each may cost a round.
	RefusedRounds int
	Elapsed       time.Duration
}

func (f fleetFigures) String() string {
	return fmt.Sprintf("devices=%d operations=%d (skipped %d: target gone) office edits=%d conflicts=%d kills=%d link cuts=%d sync rounds to converge=%d (rounds with a refused batch %d) lost=%d duplicated=%d unrecorded overwrites=%d recorded overwrites=%d raced overwrites (unrecordable) =%d deletes lost=%d row mismatches=%d peak replicas=%d time=%v",
		f.Devices, f.Operations, f.SkippedOps, f.OfficeEdits, f.Conflicts, f.Kills, f.LinkCuts, f.RoundsToConverge, f.RefusedRounds, f.Lost, f.Duplicated, f.UnrecordedOverwrites,
		f.RecordedOverwrites, f.RacedOverwrites, f.DeletesLost, f.RowMismatches, f.PeakReplicas, f.Elapsed.Round(time.Second))
}

// noteRec is one value of a feature's Notes set by someone: prev is the
// value the editor's copy held just before (a value it knowingly replaced).
type noteRec struct {
	Who, GID, Value, Prev string
	Delete                bool      // the edit deleted the feature (Value empty)
	Read                  time.Time // when the editor began to read Prev
	At                    time.Time
	// SyncDuring: a device's sync may have changed its copy between the
	// read and the write (Prev may be stale).
	SyncDuring bool
}

// fleetLedger records what every device and the office did.
type fleetLedger struct {
	mu      stdsync.Mutex
	adds    map[string]string // InspectionID → GlobalID
	notes   []noteRec
	deleted map[string]string // GlobalID → who
	attAdds map[string]string // attachment name → parent GlobalID
	attDels map[string]bool   // attachment names deleted
	ops     int
	skipped int
	office  int
}

func newLedger() *fleetLedger {
	return &fleetLedger{adds: map[string]string{}, deleted: map[string]string{}, attAdds: map[string]string{}, attDels: map[string]bool{}}
}

func (l *fleetLedger) note(r noteRec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.GID = strings.ToUpper(r.GID)
	r.At = time.Now()
	l.notes = append(l.notes, r)
	if r.Delete {
		l.deleted[r.GID] = r.Who
	}
}

func (l *fleetLedger) count(ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops++
	if !ok {
		l.skipped++
	}
}

// fleet is one run's state.
type fleet struct {
	t        testing.TB
	opt      fleetOptions
	em       *emulatortest.Server
	devices  []*fleetDevice
	ledger   *fleetLedger
	shared   []string // GlobalIDs in the strip every area holds
	hot      []string // the few of them everybody updates
	office   *arcgis.Client
	layerURL string

	figMu stdsync.Mutex
	fig   fleetFigures
}

// runFleet starts the emulator and the devices, runs the workload and
// the final sync rounds, and returns the state for the checks.
func runFleet(t *testing.T, opt fleetOptions) *fleet {
	start := time.Now()
	bin := offlinedBinary(t, false)
	em := startEmu(t, emulator.Options{})
	f := &fleet{t: t, opt: opt, em: em, ledger: newLedger(), layerURL: em.ServicesURL + "/" + svcName + "/FeatureServer/0"}
	f.fig.Devices = opt.Devices
	f.office = demoClient(t, em.PortalURL)

	server, err := em.Features(svcName, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range server {
		if lon, lat, ok := wgs84(s.Geometry); ok && overlap.contains(lon, lat) {
			f.shared = append(f.shared, strings.ToUpper(fmt.Sprint(s.Attributes["GlobalID"])))
		}
	}
	if len(f.shared) < 12 {
		t.Fatalf("only %d demo features in the overlap strip", len(f.shared))
	}
	f.hot = f.shared[:6]

	// Devices: login, start, take the map offline (a few at a time: the
	// machine is small).
	for i := range opt.Devices {
		f.devices = append(f.devices, newFleetDevice(t, bin, em, i, fleetAreas[i%len(fleetAreas)]))
	}
	t.Cleanup(func() {
		for _, d := range f.devices {
			d.stop(false)
		}
	})
	var wg stdsync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, opt.Devices)
	for _, d := range f.devices {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := d.start(t, opt.SyncInterval); err != nil {
				errs <- err
				return
			}
			if err := d.takeOffline(t); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("fleet: %d devices ready after %v", opt.Devices, time.Since(start).Round(time.Second))

	// A scripted conflict first, so every run has overwrites to account
	// for: all links down, every device and the office change the same
	// feature, links back up.
	for _, d := range f.devices {
		d.link.Cut()
	}
	for _, d := range f.devices {
		f.updateNotes(d, f.hot[0], fmt.Sprintf("d%d-scripted", d.n))
	}
	f.officeUpdate(f.hot[0], "office-scripted")
	for _, d := range f.devices {
		d.link.Restore()
	}

	ctx, cancel := context.WithCancel(context.Background())
	var bg stdsync.WaitGroup
	bg.Go(func() { f.cutLinks(ctx) })
	bg.Go(func() { f.officeEdits(ctx) })
	bg.Go(func() { f.watchReplicas(ctx) })
	kills := map[int][]int{} // device → op indexes to kill at
	rnd := rand.New(rand.NewPCG(opt.Seed, 7))
	for range opt.Kills {
		n := rnd.IntN(opt.Devices)
		kills[n] = append(kills[n], 1+rnd.IntN(max(1, opt.OpsPerDevice-1)))
	}
	var work stdsync.WaitGroup
	for _, d := range f.devices {
		work.Go(func() { f.workload(d, kills[d.n]) })
	}
	work.Wait()
	cancel()
	bg.Wait()
	for _, d := range f.devices {
		d.link.Restore()
	}
	f.finalRounds()
	f.fig.Elapsed = time.Since(start)
	return f
}

// wgs84 converts a Web Mercator point to longitude and latitude.
func wgs84(g *arcgis.Geometry) (lon, lat float64, ok bool) {
	if g == nil || g.X == nil || g.Y == nil {
		return 0, 0, false
	}
	const r = 6378137.0
	lon = *g.X / r * 180 / math.Pi
	lat = (2*math.Atan(math.Exp(*g.Y/r)) - math.Pi/2) * 180 / math.Pi
	return lon, lat, true
}

// cutLinks cuts a random device's link every few hundred milliseconds
// for up to 1.5 s.
func (f *fleet) cutLinks(ctx context.Context) {
	rnd := rand.New(rand.NewPCG(f.opt.Seed, 11))
	restoreAt := map[int]time.Time{}
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tk.C:
			for n, at := range restoreAt {
				if now.After(at) {
					f.devices[n].link.Restore()
					delete(restoreAt, n)
				}
			}
			if now.Before(next) {
				continue
			}
			next = now.Add(time.Duration(100+rnd.IntN(300)) * time.Millisecond)
			n := rnd.IntN(len(f.devices))
			if _, down := restoreAt[n]; down {
				continue
			}
			f.devices[n].link.Cut()
			restoreAt[n] = now.Add(time.Duration(200+rnd.IntN(1300)) * time.Millisecond)
			f.figMu.Lock()
			f.fig.LinkCuts++
			f.figMu.Unlock()
		}
	}
}

// watchReplicas samples the emulator's replica count.
func (f *fleet) watchReplicas(ctx context.Context) {
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	for {
		n := len(f.em.Replicas(svcName))
		f.figMu.Lock()
		f.fig.PeakReplicas = max(f.fig.PeakReplicas, n)
		f.figMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// officeEdits edits the server through its REST API as office users do:
// Notes of shared features, adds in the strip, the odd delete.
func (f *fleet) officeEdits(ctx context.Context) {
	rnd := rand.New(rand.NewPCG(f.opt.Seed, 13))
	for i := 0; ctx.Err() == nil; i++ {
		switch r := rnd.IntN(10); {
		case r < 6:
			f.officeUpdate(f.pickShared(rnd), fmt.Sprintf("office-u%d", i))
		case r < 9:
			name := fmt.Sprintf("office-a%d", i)
			lon, lat := overlap.MinLon+rnd.Float64()*(overlap.MaxLon-overlap.MinLon), overlap.MinLat+rnd.Float64()*(overlap.MaxLat-overlap.MinLat)
			x, y := mercator(lon, lat)
			res, err := f.office.ApplyEdits(ctx, f.layerURL, arcgis.ApplyEditsParams{Adds: []arcgis.Feature{{
				Attributes: map[string]any{"InspectionID": name, "Notes": name}, Geometry: &arcgis.Geometry{X: &x, Y: &y, SpatialReference: &arcgis.SpatialReference{WKID: 3857}}}}})
			if err == nil && len(res.Failed()) == 0 && len(res.AddResults) == 1 {
				f.ledger.mu.Lock()
				f.ledger.adds[name] = strings.ToUpper(res.AddResults[0].GlobalID)
				f.ledger.notes = append(f.ledger.notes, noteRec{Who: "office", GID: strings.ToUpper(res.AddResults[0].GlobalID), Value: name})
				f.ledger.office++
				f.ledger.mu.Unlock()
			} else if ctx.Err() == nil {
				f.t.Errorf("office add: %v %+v", err, res)
			}
		default:
			g := f.shared[len(f.hot)+rnd.IntN(len(f.shared)-len(f.hot))]
			read := time.Now()
			prev, ok := f.serverNotes(g)
			if !ok {
				continue
			}
			res, err := f.office.ApplyEdits(ctx, f.layerURL, arcgis.ApplyEditsParams{DeleteGlobalIDs: []string{g}, UseGlobalIDs: true})
			if err == nil && len(res.Failed()) == 0 {
				f.ledger.note(noteRec{Who: "office", GID: g, Prev: prev, Delete: true, Read: read})
				f.ledger.mu.Lock()
				f.ledger.office++
				f.ledger.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(f.opt.OfficeEvery):
		}
	}
}

func mercator(lon, lat float64) (x, y float64) {
	const r = 6378137.0
	x = lon * math.Pi / 180 * r
	y = math.Log(math.Tan(math.Pi/4+lat*math.Pi/360)) * r
	return
}

// serverNotes reads a feature's Notes on the server (false: gone).
func (f *fleet) serverNotes(gid string) (string, bool) {
	s, ok := f.em.Feature(svcName, 0, gid)
	if !ok {
		return "", false
	}
	return notesOf(s.Attributes), true
}

func notesOf(attrs map[string]any) string {
	if v, ok := attrs["Notes"]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// officeUpdate sets a feature's Notes on the server through applyEdits.
func (f *fleet) officeUpdate(gid, value string) {
	read := time.Now()
	prev, ok := f.serverNotes(gid)
	if !ok {
		return
	}
	res, err := f.office.ApplyEdits(context.Background(), f.layerURL, arcgis.ApplyEditsParams{
		Updates: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": gid, "Notes": value}}}, UseGlobalIDs: true})
	if err != nil || len(res.Failed()) != 0 {
		return // deleted meanwhile
	}
	f.ledger.note(noteRec{Who: "office", GID: gid, Value: value, Prev: prev, Read: read})
	f.ledger.mu.Lock()
	f.ledger.office++
	f.ledger.mu.Unlock()
}

func (f *fleet) pickShared(rnd *rand.Rand) string {
	if rnd.IntN(2) == 0 {
		return f.hot[rnd.IntN(len(f.hot))]
	}
	return f.shared[rnd.IntN(len(f.shared))]
}

// updateNotes reads a feature's Notes on the device and replaces them;
// false when the feature is gone.
func (f *fleet) updateNotes(d *fleetDevice, gid, value string) bool {
	path := d.featuresPath() + "/" + url.PathEscape(gid)
	read, mark := time.Now(), d.syncMark()
	code, m, err := d.call("GET", path, "")
	if err != nil || code == 404 {
		return false
	}
	if code != 200 {
		f.t.Errorf("device %d: read %s: %d %v", d.n, gid, code, m)
		return false
	}
	prev := notesOf(toAPIFeature(m).Props)
	code, m, err = d.call("PATCH", path, fmt.Sprintf(`{"type":"Feature","properties":{"Notes":%q}}`, value))
	if err != nil || code == 404 {
		return false
	}
	if code != 200 {
		f.t.Errorf("device %d: update %s: %d %v", d.n, gid, code, m)
		return false
	}
	f.ledger.note(noteRec{Who: fmt.Sprintf("d%d", d.n), GID: gid, Value: value, Prev: prev, Read: read, SyncDuring: d.syncedSince(mark)})
	return true
}

// zone keeps a moved point in the same part of the demo area (west only,
// strip, east only), so no device's area loses or gains it.
func zone(lon float64) (lo, hi float64) {
	switch {
	case lon < overlap.MinLon:
		return fleetAreas[0].MinLon, overlap.MinLon - 1e-4
	case lon > overlap.MaxLon:
		return overlap.MaxLon + 1e-4, fleetAreas[0].MaxLon
	}
	return overlap.MinLon + 1e-4, overlap.MaxLon - 1e-4
}

// workload runs the device's seeded random operations; at the op indexes
// in kills it starts a sync and SIGKILLs the daemon mid-way, then restarts it.
func (f *fleet) workload(d *fleetDevice, kills []int) {
	t := f.t
	rnd := rand.New(rand.NewPCG(f.opt.Seed, uint64(100+d.n)))
	who := fmt.Sprintf("d%d", d.n)
	var pool, own []string
	fs, err := d.features()
	if err != nil {
		t.Error(err)
		return
	}
	for _, a := range fs {
		if a.HasGeom && d.area.contains(a.Lon, a.Lat) {
			pool = append(pool, a.GlobalID)
		}
	}
	pick := func() string {
		switch r := rnd.IntN(10); {
		case r < 3:
			return f.hot[rnd.IntN(len(f.hot))]
		case r < 6 && len(own) > 0:
			return own[rnd.IntN(len(own))]
		case r < 8:
			return f.shared[rnd.IntN(len(f.shared))]
		}
		return pool[rnd.IntN(len(pool))]
	}
	for i := range f.opt.OpsPerDevice {
		for _, k := range kills {
			if k == i {
				f.killMidSync(d, rnd)
			}
		}
		ok := true
		switch r := rnd.IntN(100); {
		case r < 20: // add, most with a photo
			name := fmt.Sprintf("%s-a%d", who, i)
			a := d.area
			if rnd.IntN(2) == 0 {
				a = overlap
			}
			lon, lat := a.MinLon+0.001+rnd.Float64()*(a.MaxLon-a.MinLon-0.002), a.MinLat+0.001+rnd.Float64()*(a.MaxLat-a.MinLat-0.002)
			code, m, err := d.call("POST", d.featuresPath(), fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%f,%f]},"properties":{"InspectionID":%q,"Notes":%q}}`, lon, lat, name, name))
			if err != nil || code != 201 {
				t.Errorf("device %d: add: %d %v %v", d.n, code, m, err)
				continue
			}
			gid := fmt.Sprint(m["globalId"])
			if fsl, ok := m["features"].([]any); ok && len(fsl) == 1 {
				gid = fmt.Sprint(fsl[0].(map[string]any)["globalId"])
			}
			gid = strings.ToUpper(gid)
			own = append(own, gid)
			f.ledger.mu.Lock()
			f.ledger.adds[name] = gid
			f.ledger.notes = append(f.ledger.notes, noteRec{Who: who, GID: gid, Value: name})
			f.ledger.mu.Unlock()
			if rnd.IntN(10) < 7 {
				ok = f.addPhoto(d, gid, fmt.Sprintf("%s-p%d.jpg", who, i), rnd)
			}
		case r < 55:
			ok = f.updateNotes(d, pick(), fmt.Sprintf("%s-u%d", who, i))
		case r < 67: // move
			g := pick()
			path := d.featuresPath() + "/" + url.PathEscape(g)
			code, m, err := d.call("GET", path, "")
			if err != nil || code != 200 {
				ok = false
				break
			}
			af := toAPIFeature(m)
			lo, hi := zone(af.Lon)
			lon := math.Min(hi, math.Max(lo, af.Lon+(rnd.Float64()-0.5)*0.002))
			lat := math.Min(fleetAreas[0].MaxLat-1e-4, math.Max(fleetAreas[0].MinLat+1e-4, af.Lat+(rnd.Float64()-0.5)*0.002))
			code, m, err = d.call("PATCH", path, fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%f,%f]}}`, lon, lat))
			if err != nil || code != 200 {
				if code != 404 {
					t.Errorf("device %d: move %s: %d %v %v", d.n, g, code, m, err)
				}
				ok = false
			}
		case r < 75: // delete: own adds, or shared features others edit
			var g string
			if len(own) > 0 && rnd.IntN(10) < 6 {
				g = own[rnd.IntN(len(own))]
			} else {
				g = f.shared[len(f.hot)+rnd.IntN(len(f.shared)-len(f.hot))]
			}
			path := d.featuresPath() + "/" + url.PathEscape(g)
			read, mark := time.Now(), d.syncMark()
			code, m, err := d.call("GET", path, "")
			if err != nil || code != 200 {
				ok = false
				break
			}
			prev := notesOf(toAPIFeature(m).Props)
			code, m, err = d.call("DELETE", path, "")
			if err != nil || code != 200 {
				if code != 404 {
					t.Errorf("device %d: delete %s: %d %v %v", d.n, g, code, m, err)
				}
				ok = false
				break
			}
			f.ledger.note(noteRec{Who: who, GID: g, Prev: prev, Delete: true, Read: read, SyncDuring: d.syncedSince(mark)})
		case r < 88:
			ok = f.addPhoto(d, pick(), fmt.Sprintf("%s-p%d.jpg", who, i), rnd)
		case r < 95: // attachment delete
			g := pick()
			as, err := d.attachments(g)
			if err != nil || len(as) == 0 {
				ok = false
				break
			}
			a := as[rnd.IntN(len(as))]
			code, m, err := d.call("DELETE", d.featuresPath()+"/"+url.PathEscape(g)+"/attachments/"+url.PathEscape(a.GlobalID), "")
			if err != nil || code != 200 {
				ok = false
				if code != 404 {
					t.Errorf("device %d: delete attachment %s: %d %v %v", d.n, a.GlobalID, code, m, err)
				}
				break
			}
			f.ledger.mu.Lock()
			f.ledger.attDels[a.Name] = true
			f.ledger.mu.Unlock()
		default:
			_, _, _ = d.call("POST", "/api/v1/maps/survey/sync?wait=false", "")
		}
		f.ledger.count(ok)
		time.Sleep(time.Duration(10+rnd.IntN(60)) * time.Millisecond) // think time of a field worker, not synchronisation
	}
}

// addPhoto attaches a small unique "photo" to a feature.
func (f *fleet) addPhoto(d *fleetDevice, gid, name string, rnd *rand.Rand) bool {
	body := fmt.Sprintf("JPEG %s %d %s", name, rnd.Uint64(), strings.Repeat("x", rnd.IntN(4096)))
	code, m, err := d.callRaw("POST", d.featuresPath()+"/"+url.PathEscape(gid)+"/attachments?name="+url.QueryEscape(name), "image/jpeg", strings.NewReader(body))
	if err != nil || code != 201 {
		if code != 404 {
			f.t.Errorf("device %d: attach %s to %s: %d %v %v", d.n, name, gid, code, m, err)
		}
		return false
	}
	f.ledger.mu.Lock()
	f.ledger.attAdds[name] = strings.ToUpper(gid)
	f.ledger.mu.Unlock()
	return true
}

// killMidSync starts a background sync, SIGKILLs the daemon a random
// moment later and starts it again.
func (f *fleet) killMidSync(d *fleetDevice, rnd *rand.Rand) {
	_, _, _ = d.call("POST", "/api/v1/maps/survey/sync?wait=false", "")
	time.Sleep(time.Duration(rnd.IntN(400)) * time.Millisecond) // the kill moment, not synchronisation
	d.stop(true)
	f.figMu.Lock()
	f.fig.Kills++
	f.figMu.Unlock()
	if err := d.start(f.t, f.opt.SyncInterval); err != nil {
		f.t.Errorf("restart after kill: %v", err)
	}
}

// finalRounds syncs every device in turn, round after round, until two
// rounds are done and every device holds the server's rows (at most 6).
// The rounds are quiet: every daemon is restarted with background sync off
// first, so the rounds' syncs are the only ones. A background sync running
// while converged() reads GET /sync shows its journal open (one more round
// is counted), and one that the snapshot's stop interrupts leaves its
// journal for the next sync by design; both were read as a fleet that did
// not converge (seeds 18 and 102 of TestCIFleet under load).
func (f *fleet) finalRounds() {
	for _, d := range f.devices {
		d.stop(false)
		if err := d.start(f.t, 0); err != nil {
			f.t.Errorf("restart device %d with background sync off: %v", d.n, err)
		}
	}
	for r := 1; r <= 6; r++ {
		refused := false
		for _, d := range f.devices {
			code, m, err := d.call("POST", "/api/v1/maps/survey/sync", "")
			if err != nil || code != 200 {
				f.t.Logf("round %d device %d: sync: %d %v %v", r, d.n, code, firstN(fmt.Sprint(m), 300), err)
				continue
			}
			for _, e := range syncErrors(m) {
				f.t.Logf("round %d device %d: sync: %s", r, d.n, firstN(e, 800))
				refused = refused || strings.Contains(e, "Edits were rolled back") && strings.Contains(e, "is missing")
			}
		}
		if refused {
			f.fig.RefusedRounds++
		}
		if r < 2 {
			continue
		}
		if f.converged() {
			f.fig.RoundsToConverge = r
			return
		}
	}
	f.fig.RoundsToConverge = -1
}

// syncErrors lists the per-service errors of a POST /sync answer.
func syncErrors(m map[string]any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if e, ok := x["error"].(string); ok && e != "" {
				out = append(out, e)
			}
			for k, w := range x {
				if k != "error" {
					walk(w)
				}
			}
		case []any:
			for _, w := range x {
				walk(w)
			}
		}
	}
	walk(m)
	return out
}

// converged reports whether every device has nothing pending and holds
// the server's rows for its area and their attachments (as the final
// checks compare them: a photo a device sends in a round reaches the
// devices that synced before it in that round only in the next one).
func (f *fleet) converged() bool {
	srv, err := f.serverRows()
	if err != nil {
		return false
	}
	srvAtts, _ := f.serverAttachments(srv)
	for _, d := range f.devices {
		if st := d.syncState(); st.Pending != 0 || st.Journal {
			return false
		}
		rows, err := d.features()
		if err != nil {
			return false
		}
		if len(compareRows(d, rows, srv)) > 0 {
			return false
		}
		for _, r := range rows {
			as, err := d.attachments(r.GlobalID)
			if err != nil || attKey(as) != attKey(srvAtts[r.GlobalID]) {
				return false
			}
		}
	}
	return true
}

// syncMark is the device's sync state and last attempt per service, to
// tell with syncedSince whether a sync ran in between ("" when unread).
func (d *fleetDevice) syncMark() string {
	code, m, err := d.call("GET", "/api/v1/maps/survey/sync", "")
	if err != nil || code != 200 {
		return ""
	}
	var marks []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if st, ok := x["state"].(string); ok {
				marks = append(marks, fmt.Sprintf("%s@%v", st, x["lastAttempt"]))
				return
			}
			for _, w := range x {
				walk(w)
			}
		case []any:
			for _, w := range x {
				walk(w)
			}
		}
	}
	walk(m)
	sort.Strings(marks)
	return strings.Join(marks, ",")
}

// syncedSince reports whether a sync may have run (and changed the
// device's copy) since mark was taken: one ran, started or was running.
func (d *fleetDevice) syncedSince(mark string) bool {
	now := d.syncMark()
	return mark == "" || now != mark || strings.Contains(mark, string(editsync.StateSyncing)+"@")
}

type syncState struct {
	Pending int
	Journal bool
}

// syncState reads pending edits and open journals from GET /sync.
func (d *fleetDevice) syncState() syncState {
	var st syncState
	code, m, err := d.call("GET", "/api/v1/maps/survey/sync", "")
	if err != nil || code != 200 {
		st.Pending = -1
		return st
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, w := range x {
				switch k {
				case "pendingEdits":
					if n, ok := w.(float64); ok {
						st.Pending += int(n)
					}
				case "journalOpen":
					if b, ok := w.(bool); ok && b {
						st.Journal = true
					}
				default:
					walk(w)
				}
			}
		case []any:
			for _, w := range x {
				walk(w)
			}
		}
	}
	walk(m)
	return st
}

// keepLogs writes the devices' logs to a file when the run failed.
func (f *fleet) keepLogs() string {
	fh, err := os.CreateTemp("", "offlined-fleet-*.log")
	if err != nil {
		return "(not kept)"
	}
	defer fh.Close()
	for _, d := range f.devices {
		fmt.Fprintf(fh, "==== device %d\n%s\n", d.n, d.allLogs())
	}
	return fh.Name()
}
