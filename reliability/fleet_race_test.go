package reliability

// Overwrites ArcGIS cannot record. A device downloads the server's changes
// before it uploads (so a colleague's edit to a feature it changed is seen
// and recorded), but the two are separate requests: an edit that reaches
// the server between them is overwritten by the upload ("last sync wins")
// and the server keeps no earlier value to report. The checks count such
// an overwrite as raced, not as unrecorded, only when the emulator's
// request log shows the window was possible: the losing value's request
// ended after the overwriter's last download began, and began before the
// overwriter's upload ended. A request takes effect somewhere between its
// arrival and its response, so arrival times alone do not order two
// requests that overlap (an office edit arriving just before a download
// can still be applied after the download's snapshot).

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

type loggedWrite struct {
	at       time.Time // arrival
	done     time.Time // response written (far future while it runs)
	replica  string    // "" for applyEdits (office)
	body     string    // upper-cased edits
	raw      string    // the edits as sent
	download bool      // a download-only synchronizeReplica
}

// writeLog reads the emulator's synchronizeReplica and applyEdits requests.
func (f *fleet) writeLog() []loggedWrite {
	var out []loggedWrite
	for _, e := range f.em.Log().Entries() {
		done := e.Done
		if done.IsZero() {
			done = e.Time.Add(time.Hour)
		}
		switch {
		case strings.HasSuffix(e.Path, "/synchronizeReplica"):
			edits := e.Query.Get("edits")
			out = append(out, loggedWrite{at: e.Time, done: done, replica: e.Query.Get("replicaID"), body: strings.ToUpper(edits), raw: edits,
				download: edits == "" && e.Query.Get("editsUploadID") == ""})
		case strings.HasSuffix(e.Path, "/applyEdits"):
			raw := e.Query.Get("updates") + e.Query.Get("adds") + e.Query.Get("deletes")
			out = append(out, loggedWrite{at: e.Time, done: done, body: strings.ToUpper(raw), raw: raw})
		}
	}
	return out
}

// raced reports whether value on gid may have gone up inside another
// replica's download→upload window for gid: its request c ended after the
// overwriter's last download d began (so it may have been applied after
// d's snapshot) and began before the overwriter's upload u ended (so it
// may have been applied before u). Log order is arrival order.
func raced(log []loggedWrite, gid, value string) bool {
	g := strings.ToUpper(strings.Trim(gid, "{}"))
	v := strings.ToUpper(`"` + value + `"`)
	for _, c := range log {
		if c.download || !strings.Contains(c.body, g) || !strings.Contains(c.body, v) {
			continue
		}
		for i, u := range log {
			if u.download || u.replica == "" || u.replica == c.replica || !c.at.Before(u.done) || !strings.Contains(u.body, g) {
				continue
			}
			for k := i - 1; k >= 0; k-- { // the overwriter's last download before its upload
				if d := log[k]; d.replica == u.replica && d.download {
					if d.at.Before(c.done) {
						return true
					}
					break
				}
			}
		}
	}
	return false
}

// deviceValue finds a device's value ("D3-U12", "D0-SCRIPTED") in an
// upper-cased upload body.
var deviceValue = regexp.MustCompile(`"D(\d+)-(?:[AUP]\d+|SCRIPTED)"`)

// replicaDevices maps each replica to its device ("d3"): the device whose
// values its uploads carry most (an upload also carries the Notes other
// devices gave the rows it moves).
func replicaDevices(log []loggedWrite) map[string]string {
	votes := map[string]map[string]int{}
	for _, w := range log {
		if w.replica == "" || w.download {
			continue
		}
		for _, m := range deviceValue.FindAllStringSubmatch(w.body, -1) {
			if votes[w.replica] == nil {
				votes[w.replica] = map[string]int{}
			}
			votes[w.replica]["d"+m[1]]++
		}
	}
	out := map[string]string{}
	for r, vs := range votes {
		best := ""
		for d, n := range vs {
			if best == "" || n > vs[best] || (n == vs[best] && d < best) {
				best = d
			}
		}
		out[r] = best
	}
	return out
}

// unrecordable reports whether the overwrite of value on gid may have been
// one no conflict record can hold: raced on the server or a stale read.
func unrecordable(log []loggedWrite, notes []noteRec, gid, value string) bool {
	return raced(log, gid, value) || staleRead(log, notes, gid, value)
}

// staleRead reports whether value on gid may have reached an editor's
// copy after the editor read the value it replaced and before its write:
// the ledger's Prev is then not what its copy held, and the overwrite of
// value was unknowing but no conflict (the editor's copy held value). The
// local API has no conditional update and the office reads the server
// before its applyEdits, so the harness cannot read and write at once.
// For the office: value's request ended after the read began and began
// before the write ended. For a device: a sync ran between its read and
// its write (noteRec.SyncDuring, from GET /sync around them), and one of
// its replica's sync calls may have carried value (value's request began
// before the call ended, and no other write of gid certainly came between
// them) and been applied in between (the call ended before the write, and
// the replica's next call began after the read).
func staleRead(log []loggedWrite, notes []noteRec, gid, value string) bool {
	g := strings.ToUpper(strings.Trim(gid, "{}"))
	v := strings.ToUpper(`"` + value + `"`)
	var writes, all []loggedWrite // writes of value; every write of gid
	for _, c := range log {
		if c.download || !strings.Contains(c.body, g) {
			continue
		}
		all = append(all, c)
		if strings.Contains(c.body, v) {
			writes = append(writes, c)
		}
	}
	// current reports whether c's value may still have been gid's value
	// on the server when a call arriving at 'at' took its snapshot.
	current := func(c loggedWrite, at time.Time) bool {
		for _, c2 := range all {
			if c2.at.After(c.done) && c2.done.Before(at) {
				return false
			}
		}
		return true
	}
	var devs map[string]string
	for _, o := range notes {
		if o.Read.IsZero() || strings.Trim(o.GID, "{}") != g || o.Value == value {
			continue
		}
		for _, c := range writes {
			if !c.at.Before(o.At) {
				continue
			}
			if o.Who == "office" {
				if c.done.After(o.Read) {
					return true
				}
				continue
			}
			if !o.SyncDuring {
				continue
			}
			if devs == nil {
				devs = replicaDevices(log)
			}
			for i, d := range log {
				if d.replica == "" || devs[d.replica] != o.Who || !c.at.Before(d.done) || !d.done.Before(o.At) || !current(c, d.at) {
					continue
				}
				var next time.Time
				for _, n := range log[i+1:] {
					if n.replica == d.replica {
						next = n.at
						break
					}
				}
				if next.IsZero() || next.After(o.Read) {
					return true
				}
			}
		}
	}
	return false
}

// timeline is the story of gid for an unrecorded overwrite's report, in
// milliseconds from its first event: the ledger's edits of it (a device's
// read of the value it replaced, and its write), the emulator's writes
// holding it (at their arrival) and the download calls of every replica
// in the 1.5 s before each of those.
func timeline(log []loggedWrite, notes []noteRec, gid string) string {
	g := strings.ToUpper(strings.Trim(gid, "{}"))
	dev := replicaDevices(log)
	who := func(w loggedWrite) string {
		switch {
		case w.replica == "":
			return "office applyEdits"
		case dev[w.replica] != "":
			return dev[w.replica] + " (" + firstN(w.replica, 8) + ")"
		}
		return "replica " + firstN(w.replica, 8)
	}
	type event struct {
		at   time.Time
		what string
	}
	var evs []event
	for _, w := range log {
		if w.download || !strings.Contains(w.body, g) {
			continue
		}
		evs = append(evs, event{w.at, fmt.Sprintf("%s writes %s", who(w), strings.Join(gidEdits(w.raw, g), " "))})
	}
	writes := evs
	for _, w := range log {
		if !w.download {
			continue
		}
		for _, e := range writes {
			if !w.at.After(e.at) && w.at.After(e.at.Add(-1500*time.Millisecond)) {
				evs = append(evs, event{w.at, who(w) + " downloads"})
				break
			}
		}
	}
	for _, n := range notes {
		if strings.Trim(n.GID, "{}") != g || n.Who == "office" {
			continue
		}
		if !n.Read.IsZero() {
			evs = append(evs, event{n.Read, fmt.Sprintf("%s reads %q (API)", n.Who, n.Prev)})
		}
		sync := ""
		if n.SyncDuring {
			sync = ", a sync ran since the read"
		}
		evs = append(evs, event{n.At, fmt.Sprintf("%s wrote %q (API%s)", n.Who, n.Value, sync)})
	}
	if len(evs) == 0 {
		return "    (no events)"
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	t0 := evs[0].at
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "    %+8.1f ms %s\n", float64(e.at.Sub(t0).Microseconds())/1000, e.what)
	}
	return strings.TrimRight(b.String(), "\n")
}

// gidEdits lists what an edits body (one or more JSON values) does to gid
// (upper-cased, without braces): each feature holding it as its GLOBALID shows its NOTES,
// a list of ids holding it shows "delete", an attachment of it says so.
func gidEdits(body, g string) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if a, ok := field(x, "attributes").(map[string]any); ok && sameGID(field(a, "globalid"), g) {
				if n, ok := a["Notes"]; ok {
					out = append(out, fmt.Sprintf("Notes=%q", fmt.Sprint(n)))
				} else {
					out = append(out, "(no Notes)")
				}
				return
			}
			for k, w := range x {
				if lk := strings.ToLower(k); lk != "globalid" && strings.HasSuffix(lk, "globalid") && sameGID(w, g) {
					out = append(out, "an attachment ("+k+")")
				}
				walk(w)
			}
		case []any:
			for _, w := range x {
				if sameGID(w, g) {
					out = append(out, "delete")
					continue
				}
				walk(w)
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(body))
	for {
		var v any
		if dec.Decode(&v) != nil {
			break
		}
		walk(v)
	}
	if len(out) == 0 {
		out = append(out, "(named, not decoded)")
	}
	return out
}

// field is m's value under key, whatever the key's case.
func field(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// sameGID reports whether v is the GlobalID g (upper-cased, no braces).
func sameGID(v any, g string) bool {
	s, ok := v.(string)
	return ok && strings.ToUpper(strings.Trim(s, "{}")) == g
}

// TestRacedWindow checks raced's window on a made-up log: an office edit
// that arrives just before a device's download but is applied after its
// snapshot (the requests overlap) is raced; one that ended before the
// download began was seen by it, and one that began after the upload
// ended came after it: neither is raced.
func TestRacedWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	const gid = "{5D2F110C-5AB0-4C9F-8100-00000000002B}"
	office := func(at, done int) loggedWrite {
		return loggedWrite{at: ms(at), done: ms(done), body: `[{"ATTRIBUTES":{"GLOBALID":"` + gid + `","NOTES":"OFFICE-U3"}}]`}
	}
	device := []loggedWrite{
		{at: ms(100), done: ms(120), replica: "R1", download: true},
		{at: ms(200), done: ms(230), replica: "R1", body: `[{"UPDATES":[{"ATTRIBUTES":{"GLOBALID":"` + gid + `","NOTES":"D1-U14"}}]}]`},
	}
	for _, c := range []struct {
		name string
		log  []loggedWrite
		want bool
	}{
		{"arrives before the download, applied after its snapshot", []loggedWrite{office(95, 110), device[0], device[1]}, true},
		{"arrives inside the window", []loggedWrite{device[0], office(150, 160), device[1]}, true},
		{"arrives while the upload runs", []loggedWrite{device[0], device[1], office(210, 240)}, true},
		{"ended before the download began", []loggedWrite{office(80, 90), device[0], device[1]}, false},
		{"began after the upload ended", []loggedWrite{device[0], device[1], office(240, 250)}, false},
	} {
		if got := raced(c.log, gid, "office-u3"); got != c.want {
			t.Errorf("%s: raced %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStaleRead checks staleRead on a made-up log: d1's value reaching the
// server while the office read then wrote the feature, or reaching d2's
// copy through a sync between d2's read and write, was replaced unknowing
// and with no conflict; one that was there before the read (the office
// read it) or came with no sync in between (d2's Prev is exact) was not.
func TestStaleRead(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	const gid = "{5D2F110C-5AB0-4C9F-8100-00000000002B}"
	upload := func(at, done int) []loggedWrite {
		return []loggedWrite{{at: ms(at), done: ms(done), replica: "R1", body: `[{"UPDATES":[{"ATTRIBUTES":{"GLOBALID":"` + gid + `","NOTES":"D1-U14"}}]}]`}}
	}
	// withSync adds a download of d2's replica (R2, known by its upload of
	// "d2-u1") answered at done, and its next call at next (answered 20 ms
	// later).
	withSync := func(log []loggedWrite, at, done, next int) []loggedWrite {
		own := loggedWrite{at: ms(10), done: ms(20), replica: "R2", body: `[{"UPDATES":[{"ATTRIBUTES":{"GLOBALID":"{00000000-0000-0000-0000-000000000001}","NOTES":"D2-U1"}}]}]`}
		return append(append([]loggedWrite{own}, log...),
			loggedWrite{at: ms(at), done: ms(done), replica: "R2", download: true},
			loggedWrite{at: ms(next), done: ms(next + 20), replica: "R2", download: true})
	}
	office2 := func(at, done int) []loggedWrite {
		return []loggedWrite{{at: ms(at), done: ms(done), body: `[{"ATTRIBUTES":{"GLOBALID":"` + gid + `","NOTES":"OFFICE-U2"}}]`}}
	}
	office := noteRec{Who: "office", GID: gid, Value: "office-u4", Prev: "old", Read: ms(100), At: ms(110)}
	d2 := noteRec{Who: "d2", GID: gid, Value: "d2-u3", Prev: "old", Read: ms(100), At: ms(110)}
	d2synced := d2
	d2synced.SyncDuring = true
	for _, c := range []struct {
		name string
		log  []loggedWrite
		note noteRec
		want bool
	}{
		{"office: arrives between the office's read and write", upload(102, 104), office, true},
		{"office: in flight when the office read", upload(95, 101), office, true},
		{"office: on the server before the read", upload(80, 90), office, false},
		{"office: after the write", upload(111, 115), office, false},
		{"device: a sync between read and write carried it", withSync(upload(50, 60), 90, 99, 200), d2synced, true},
		{"device: no sync between read and write", withSync(upload(50, 60), 90, 99, 200), d2, false},
		{"device: the value came after the sync's answer", withSync(upload(100, 105), 90, 99, 200), d2synced, false},
		{"device: the sync's answer came after the write", withSync(upload(50, 60), 90, 115, 200), d2synced, false},
		{"device: the sync was applied before the read", withSync(upload(50, 60), 70, 80, 95), d2synced, false},
		{"device: another write came between", withSync(append(upload(50, 60), office2(70, 75)...), 90, 99, 200), d2synced, false},
	} {
		if got := staleRead(c.log, []noteRec{c.note}, gid, "d1-u14"); got != c.want {
			t.Errorf("%s: staleRead %v, want %v", c.name, got, c.want)
		}
	}
}
