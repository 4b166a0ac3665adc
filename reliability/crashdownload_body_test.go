package reliability

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/offline"
)

// crashDownloadFigures are scenario 1's figures.
type crashDownloadFigures struct {
	Runs, Failures, Kills, KillsMidJob int
	Features, Tiles                    int
	TilesRefetched                     int // tiles answered more than once within a run
	ExtraReplicaFiles                  int // replica result files downloaded beyond one per run
	AttachmentsRefetched               int // attachment contents answered more than once within a run
	ExtraCreateReplica                 int // createReplica calls beyond one per Field_Survey run
	ReplicasLeft                       int // replicas on the server beyond one per run
}

// crashLoopDownload takes the demo web map offline `runs` times; each run is
// killed with SIGKILL up to `kills` times at random moments and restarted on
// the same directory until it finishes. Every package must equal the
// reference run's and pass validate_gpkg. Kill moments are drawn uniformly
// in [minFrac, 1] × the reference run's duration.
func crashLoopDownload(t *testing.T, runs, kills int, minFrac float64, seed uint64) crashDownloadFigures {
	bin := offlinedBinary(t, false)
	em := startEmu(t, emulator.Options{})
	root := t.TempDir()

	refDir := filepath.Join(root, "reference")
	start := time.Now()
	runTakeOffline(t, bin, em, refDir)
	refTime := time.Since(start)
	ref := packageDigest(t, refDir)
	var fig crashDownloadFigures
	fig.Features, fig.Tiles = ref.counts()
	if fig.Features == 0 || fig.Tiles == 0 {
		t.Fatalf("reference package is empty: %d features, %d tiles", fig.Features, fig.Tiles)
	}
	if !validateGpkgs(t, refDir) {
		t.Log("validate_gpkg not available: GeoPackages not validated")
	}
	replicasAfterRef := len(em.Replicas("Field_Survey"))
	refReplicaFiles := 0
	for _, e := range em.Log().Matching("/replicafiles/") {
		if e.Status == 200 {
			refReplicaFiles++
		}
	}
	em.Log().Reset()

	rnd := rand.New(rand.NewPCG(seed, 17))
	for r := range runs {
		dir := filepath.Join(root, "run", string(rune('a'+r%26))+time.Now().Format("150405.000000"))
		completed := false
		for k := 0; k < kills && !completed; k++ {
			var out, errb bytes.Buffer
			cmd := takeOfflineCmd(bin, em, dir, &out, &errb)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lo := int64(minFrac * float64(refTime))
			wait := time.Duration(lo + rnd.Int64N(int64(refTime)-lo+1))
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done: // finished before the kill
				if err != nil {
					t.Errorf("run %d start %d: %v\n%s\ndirectory: %s", r, k, err, tail(errb.String()), listDir(dir))
				}
				completed = true
			case <-time.After(wait):
				_ = cmd.Process.Kill() // SIGKILL
				<-done
				fig.Kills++
				if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
					fig.KillsMidJob++
					// nothing half-written may look complete
					if _, err := offline.Open(dir); err == nil {
						t.Errorf("run %d kill %d: a killed job's directory opens as a complete package", r, k)
					}
				}
			}
		}
		var out, errb bytes.Buffer
		if completed {
			// the last restart finished the job
		} else if err := runWithTimeout(takeOfflineCmd(bin, em, dir, &out, &errb), 3*time.Minute); err != nil {
			fig.Failures++
			t.Errorf("run %d: final take-offline: %v\n%s\ndirectory: %s", r, err, tail(errb.String()), listDir(dir))
			continue
		}
		fig.Runs++
		if d := ref.diff(packageDigest(t, dir)); d != "" {
			fig.Failures++
			t.Errorf("run %d: package differs from the reference: %s", r, d)
		}
		if _, err := offline.Open(dir); err != nil {
			t.Errorf("run %d: %v", r, err)
		}
		validateGpkgs(t, dir)
		// Each run fetches every tile once; extra fetches are refetches.
		_, extra := refetched(em, "/tile/")
		fig.TilesRefetched += extra
		_, extra = refetched(em, "/attachments/")
		fig.AttachmentsRefetched += extra
		for _, e := range em.Log().Matching("/replicafiles/") {
			if e.Status == 200 {
				fig.ExtraReplicaFiles++
			}
		}
		fig.ExtraReplicaFiles -= refReplicaFiles
		fig.ExtraCreateReplica += em.Log().Count("Field_Survey/FeatureServer/createReplica") - 1
		em.Log().Reset()
	}
	fig.ReplicasLeft = len(em.Replicas("Field_Survey")) - replicasAfterRef - fig.Runs
	t.Logf("crash loop (download): runs=%d failures=%d kills=%d (mid-job %d) features=%d tiles=%d tiles refetched=%d attachments refetched=%d extra replica files=%d extra createReplica=%d extra replicas left on the server=%d",
		fig.Runs, fig.Failures, fig.Kills, fig.KillsMidJob, fig.Features, fig.Tiles, fig.TilesRefetched, fig.AttachmentsRefetched, fig.ExtraReplicaFiles, fig.ExtraCreateReplica, fig.ReplicasLeft)
	if fig.ReplicasLeft != 0 {
		t.Errorf("%d replicas of killed jobs left registered on the server", fig.ReplicasLeft)
	}
	return fig
}

// earlyKills starts take-offline n times and kills it (SIGKILL) as soon as
// the journal's temporary file appears (the job's first write), then
// restarts it once on the same directory. It returns how many kills left
// the temporary file behind and how many directories the restart refused.
func earlyKills(t *testing.T, n int) (hits, stuck int) {
	bin := offlinedBinary(t, false)
	em := startEmu(t, emulator.Options{})
	root := t.TempDir()
	for i := range n {
		dir := filepath.Join(root, "early", time.Now().Format("150405.000000"))
		var out, errb bytes.Buffer
		cmd := takeOfflineCmd(bin, em, dir, &out, &errb)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, offline.JournalFile+".tmp")
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if _, err := os.Stat(tmp); err == nil {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		left := listDir(dir)
		if _, err := os.Stat(tmp); err == nil {
			hits++
		}
		out.Reset()
		errb.Reset()
		if err := runWithTimeout(takeOfflineCmd(bin, em, dir, &out, &errb), 3*time.Minute); err != nil {
			stuck++
			t.Errorf("kill %d: the restart refused the directory (%s): %v\n%s", i, left, err, firstLine(errb.String()))
		}
	}
	t.Logf("early kills: %d kills at the journal's first write, %d left %s.tmp behind, %d directories left unresumable", n, hits, offline.JournalFile, stuck)
	return hits, stuck
}
