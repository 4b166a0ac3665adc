package reliability

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	editsync "github.com/offlined/offlined/sync"
	"github.com/offlined/offlined/sync/synctest"
)

const svcName = "Field_Survey"

func pt(x, y float64) *arcgis.Geometry { return &arcgis.Geometry{X: &x, Y: &y} }

func fastRetry() arcgis.RetryPolicy {
	return arcgis.RetryPolicy{MaxAttempts: 4, InitialDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, Multiplier: 2, Jitter: 0.5, MaxElapsed: 10 * time.Second}
}

func demoClient(t testing.TB, portal string) *arcgis.Client {
	t.Helper()
	c, err := arcgis.New(arcgis.WithPortal(portal), arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}),
		arcgis.WithRetryPolicy(fastRetry()), arcgis.WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openSyncStore opens a package's Field_Survey GeoPackage and makes sure
// its sync configuration names the service.
func openSyncStore(t testing.TB, path, svcURL string) *geodb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := geodb.Open(ctx, path, geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := editsync.LoadConfig(ctx, db)
	if err != nil {
		db.Close()
		t.Fatalf("sync config of %s: %v", path, err)
	}
	if cfg.ServiceURL == "" {
		cfg.ServiceURL = svcURL
		if err := editsync.SaveConfig(ctx, db, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestChildSyncEdits is the child of the sync crash loop: it edits the
// GeoPackage (adds with a photo, updates, deletes) and syncs, in a loop,
// until it is killed.
func TestChildSyncEdits(t *testing.T) {
	portal, path, iter := os.Getenv("RELIABILITY_CHILD_PORTAL"), os.Getenv("RELIABILITY_CHILD_GPKG"), os.Getenv("RELIABILITY_CHILD_ITER")
	if portal == "" {
		t.Skip("child of the sync crash loop")
	}
	ctx := context.Background()
	db := openSyncStore(t, path, "")
	c := demoClient(t, portal)
	eng := editsync.New(db, c, editsync.Options{})
	own, err := db.Features(ctx, geodb.Query{LayerID: 0, OutFields: []string{"GlobalID"}, NoGeometry: true, OrderBy: []string{"GlobalID"}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	err = synctest.EditLoop(ctx, db, iter, 2, true, own, func(ctx context.Context) { _, _ = eng.Sync(ctx) })
	t.Fatal(err)
}

// crashSyncFigures are scenario 2's figures.
type crashSyncFigures struct {
	Kills, ServerEdits, Features, Attachments int
	Lost, Duplicated, AttLost, AttDuplicated  int
	NotesMismatch, ServerEditsMissingLocally  int
	JournalOpenAfterKill                      int
}

// crashLoopSync kills a syncing child process `kills` times while the
// server is edited concurrently, then checks local and server data match:
// nothing lost, nothing duplicated (features and attachments).
func crashLoopSync(t *testing.T, kills int, seed uint64) crashSyncFigures {
	bin := offlinedBinary(t, false)
	em := startEmu(t, emulator.Options{})
	dir := filepath.Join(t.TempDir(), "pkg")
	runTakeOffline(t, bin, em, dir)
	gpkg := filepath.Join(dir, "data", svcName+".gpkg")
	svcURL := em.ServicesURL + "/" + svcName + "/FeatureServer"
	db := openSyncStore(t, gpkg, svcURL)
	db.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Server edits run concurrently with the children.
	ctx, stopEdits := context.WithCancel(context.Background())
	var wg stdsync.WaitGroup
	var fig crashSyncFigures
	server, _ := em.Features(svcName, 0, "")
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			target := server[len(server)-1-i%20] // the children edit other features
			add := arcgis.Feature{Attributes: map[string]any{"InspectionID": fmt.Sprintf("s-%d", i)}, Geometry: pt(-13049000, 4031000+float64(i))}
			upd := arcgis.Feature{Attributes: map[string]any{"GlobalID": target.Attributes["GlobalID"], "Notes": fmt.Sprintf("server-%d", i)}}
			if err := em.EditFeatures(svcName, 0, []arcgis.Feature{add}, []arcgis.Feature{upd}, nil); err != nil {
				t.Errorf("server edit: %v", err)
				return
			}
			fig.ServerEdits++
			select {
			case <-ctx.Done():
			case <-time.After(40 * time.Millisecond):
			}
		}
	})
	rnd := rand.New(rand.NewPCG(seed, 3))
	for i := range kills {
		cmd := exec.Command(exe, "-test.run=^TestChildSyncEdits$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RELIABILITY_CHILD_PORTAL="+em.PortalURL, "RELIABILITY_CHILD_GPKG="+gpkg, "RELIABILITY_CHILD_ITER="+strconv.Itoa(i))
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+rnd.IntN(500)) * time.Millisecond)
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
		if strings.Contains(errb.String(), "panic") {
			t.Errorf("child %d panicked:\n%s", i, tail(errb.String()))
		}
		fig.Kills++
	}
	stopEdits()
	wg.Wait()
	fig = checkSyncedOnce(t, em, gpkg, svcURL, fig)
	t.Logf("crash loop (sync): kills=%d server edits=%d features=%d attachments=%d lost=%d duplicated=%d attachments lost=%d duplicated=%d notes mismatched=%d server edits missing locally=%d",
		fig.Kills, fig.ServerEdits, fig.Features, fig.Attachments, fig.Lost, fig.Duplicated, fig.AttLost, fig.AttDuplicated, fig.NotesMismatch, fig.ServerEditsMissingLocally)
	return fig
}

// checkSyncedOnce syncs gpkg to the end and compares it with the server.
func checkSyncedOnce(t *testing.T, em *emulatortest.Server, gpkg, svcURL string, fig crashSyncFigures) crashSyncFigures {
	t.Helper()
	ctx := context.Background()
	db := openSyncStore(t, gpkg, svcURL)
	defer db.Close()
	eng := editsync.New(db, demoClient(t, em.PortalURL), editsync.Options{})
	for range 2 { // the second round brings down what the first one's upload changed
		if _, err := eng.Sync(ctx); err != nil {
			t.Fatalf("final sync: %v", err)
		}
	}
	if st, _ := eng.Status(ctx); st.PendingEdits != 0 {
		t.Errorf("pending edits after the final sync: %d", st.PendingEdits)
	}
	local, err := db.Features(ctx, geodb.Query{LayerID: 0, OutFields: []string{"GlobalID", "InspectionID", "Notes"}, NoGeometry: true})
	if err != nil {
		t.Fatal(err)
	}
	server, err := em.Features(svcName, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	fig.Features = len(local)
	byGID, byName, notes := map[string]int{}, map[string]int{}, map[string]string{}
	for _, s := range server {
		g := strings.ToUpper(fmt.Sprint(s.Attributes["GlobalID"]))
		byGID[g]++
		if n, ok := s.Attributes["InspectionID"].(string); ok && (strings.HasPrefix(n, "k") || strings.HasPrefix(n, "s-")) {
			byName[n]++
		}
		notes[g] = fmt.Sprint(s.Attributes["Notes"])
	}
	localGID := map[string]bool{}
	for _, l := range local {
		g := strings.ToUpper(fmt.Sprint(l.Attributes["GlobalID"]))
		localGID[g] = true
		switch byGID[g] {
		case 0:
			fig.Lost++
		case 1:
		default:
			fig.Duplicated += byGID[g] - 1
		}
		if byGID[g] > 0 && notes[g] != fmt.Sprint(l.Attributes["Notes"]) {
			fig.NotesMismatch++
		}
		atts, err := db.Attachments(ctx, 0, fmt.Sprint(l.Attributes["GlobalID"]))
		if err != nil {
			t.Fatal(err)
		}
		srv := em.Attachments(svcName, 0, fmt.Sprint(l.Attributes["GlobalID"]))
		names := map[string]int{}
		for _, a := range srv {
			names[a.Name]++
		}
		for _, a := range atts {
			fig.Attachments++
			switch names[a.Name] {
			case 0:
				fig.AttLost++
			case 1:
			default:
				fig.AttDuplicated += names[a.Name] - 1
			}
		}
		if len(srv) > len(atts) {
			fig.AttDuplicated += len(srv) - len(atts)
		}
	}
	for n, c := range byName {
		if c > 1 {
			fig.Duplicated += c - 1
			t.Errorf("%q is on the server %d times", n, c)
		}
	}
	for g := range byGID {
		if !localGID[g] {
			fig.ServerEditsMissingLocally++
		}
	}
	if fig.Lost+fig.Duplicated+fig.AttLost+fig.AttDuplicated+fig.NotesMismatch+fig.ServerEditsMissingLocally != 0 {
		t.Errorf("sync crash loop: %d lost, %d duplicated, %d attachments lost, %d attachments duplicated, %d Notes differ, %d server features missing locally",
			fig.Lost, fig.Duplicated, fig.AttLost, fig.AttDuplicated, fig.NotesMismatch, fig.ServerEditsMissingLocally)
	}
	integrityOK(t, filepath.Dir(gpkg))
	return fig
}
