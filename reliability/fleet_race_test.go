package reliability

// Overwrites ArcGIS cannot record. A device downloads the server's changes
// before it uploads (so a colleague's edit to a feature it changed is seen
// and recorded), but the two are separate requests: an edit that reaches
// the server between them is overwritten by the upload ("last sync wins")
// and the server keeps no earlier value to report. The checks count such
// an overwrite as raced, not as unrecorded, only when the emulator's
// request log proves the window: the losing value went up after the
// overwriter's last download and before its upload.

import (
	"strings"
	"time"
)

type loggedWrite struct {
	at       time.Time
	replica  string // "" for applyEdits (office)
	body     string // upper-cased edits
	download bool   // a download-only synchronizeReplica
}

// writeLog reads the emulator's synchronizeReplica and applyEdits requests.
func (f *fleet) writeLog() []loggedWrite {
	var out []loggedWrite
	for _, e := range f.em.Log().Entries() {
		switch {
		case strings.HasSuffix(e.Path, "/synchronizeReplica"):
			edits := e.Query.Get("edits")
			out = append(out, loggedWrite{at: e.Time, replica: e.Query.Get("replicaID"), body: strings.ToUpper(edits),
				download: edits == "" && e.Query.Get("editsUploadID") == ""})
		case strings.HasSuffix(e.Path, "/applyEdits"):
			out = append(out, loggedWrite{at: e.Time, body: strings.ToUpper(e.Query.Get("updates") + e.Query.Get("adds") + e.Query.Get("deletes"))})
		}
	}
	return out
}

// raced reports whether value on gid went up inside another replica's
// download→upload window for gid.
func raced(log []loggedWrite, gid, value string) bool {
	g := strings.ToUpper(strings.Trim(gid, "{}"))
	v := strings.ToUpper(`"` + value + `"`)
	for _, c := range log {
		if c.download || !strings.Contains(c.body, g) || !strings.Contains(c.body, v) {
			continue
		}
		for i, u := range log {
			if u.download || u.replica == "" || u.replica == c.replica || !u.at.After(c.at) || !strings.Contains(u.body, g) {
				continue
			}
			for k := i - 1; k >= 0; k-- { // the overwriter's last download before its upload
				if d := log[k]; d.replica == u.replica && d.download {
					if d.at.Before(c.at) {
						return true
					}
					break
				}
			}
		}
	}
	return false
}
