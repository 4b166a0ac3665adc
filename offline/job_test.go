package offline

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline/offlinetest/democlient"
)

// jobEnv is an emulator, a client and a task on the demo web map.
type jobEnv struct {
	em   *emulatortest.Server
	c    *arcgis.Client
	task *Task
}

func newJobEnv(t *testing.T, opts emulator.Options) *jobEnv {
	t.Helper()
	if opts.Tiles == nil {
		opts.Tiles = emulator.DemoTileOptions()
		opts.Tiles.WorkDir = t.TempDir()
		opts.Tiles.JobStep = time.Millisecond
	}
	em := emulatortest.Start(t, opts)
	return newJobEnvFor(t, em, em.URL)
}

func newJobEnvFor(t testing.TB, em *emulatortest.Server, root string) *jobEnv {
	c := democlient.New(t, root+"/sharing/rest")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task, err := NewTask(ctx, Source{PortalURL: root + "/sharing/rest", ItemID: emulator.DemoWebMapFieldSurveyID}, c, c)
	if err != nil {
		t.Fatal(err)
	}
	return &jobEnv{em: em, c: c, task: task}
}

// Test scales: levels 12-13 of the demo basemap keep tile counts small.
const testMinScale, testMaxScale = 150000, 70000

func (e *jobEnv) params(t testing.TB) *Parameters {
	t.Helper()
	p := mustDefaults(context.Background(), t, e.task, demoArea(), testMinScale, testMaxScale)
	return p
}

func (e *jobEnv) overrides(t testing.TB, p *Parameters) *Overrides {
	t.Helper()
	o := mustOverrides(context.Background(), t, e.task, p)
	return o
}

// newDemoJobEnv starts the default job environment and returns it with
// the demo map's default parameters and overrides.
func newDemoJobEnv(t *testing.T) (*jobEnv, *Parameters, *Overrides) {
	t.Helper()
	e := newJobEnv(t, emulator.Options{})
	p := e.params(t)
	return e, p, e.overrides(t, p)
}

func (e *jobEnv) run(t testing.TB, p *Parameters, o *Overrides, dir string) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	job := e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond})
	return job.Run(ctx)
}

func svcKey(e *jobEnv, name string) Key {
	return ServiceKey(e.em.ServicesURL + "/" + name)
}

func TestJobDemoPackage(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	var events int
	ctx := context.Background()
	job := e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond,
		Progress: func(Progress) { events++ }})
	res, err := job.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobErrors(res.LayerErrors)) > 0 || !res.HasErrors || res.Canceled || res.State != JobSucceeded {
		t.Fatalf("result %+v", res)
	}
	if events == 0 {
		t.Error("no progress events")
	}
	if pr := job.Progress(); pr.Percent != 100 || pr.Features == 0 || pr.Tiles == 0 {
		t.Errorf("final progress %+v", pr)
	}
	pkg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := pkg.Manifest
	if m.Title != "Field Survey" || m.FormatVersion != ManifestFormat || len(m.AreaOfInterest) == 0 {
		t.Errorf("manifest %s %d", m.Title, m.FormatVersion)
	}
	// Every feature layer count equals the server's for the (unfiltered
	// or filtered) layer; replicas carry ids and gens.
	fs := e.em.ServicesURL + "/Field_Survey/FeatureServer"
	insp := pkg.Layer(LayerKey(fs, 0))
	if insp == nil || insp.Kind != KindReplica || insp.Store != "data/Field_Survey.gpkg" || insp.Replica == nil || insp.Replica.ID == "" || len(insp.Replica.ServerGens) == 0 {
		t.Fatalf("inspections %+v", insp)
	}
	if insp.Features != int64(e.em.FeatureCount("Field_Survey", 0)) {
		t.Errorf("inspections: %d features, server has %d", insp.Features, e.em.FeatureCount("Field_Survey", 0))
	}
	if len(e.em.Replicas("Field_Survey")) != 1 || e.em.Replicas("Field_Survey")[0].ReplicaID != insp.Replica.ID {
		t.Errorf("server replicas %+v", e.em.Replicas("Field_Survey"))
	}
	zones := pkg.Layer(LayerKey(e.em.ServicesURL+"/Reference_Data/FeatureServer", 0))
	if zones == nil || zones.Kind != KindSnapshot || zones.Replica != nil || zones.Features != int64(e.em.FeatureCount("Reference_Data", 0)) {
		t.Errorf("zones %+v", zones)
	}
	bm := pkg.Layer(svcKey(e, "Demo_Basemap/MapServer"))
	if bm == nil || bm.Kind != KindRasterTiles || bm.Tiles == 0 || bm.Store != "tiles/Demo_Basemap.mbtiles" {
		t.Errorf("basemap %+v", bm)
	}
	vt := pkg.Layer(svcKey(e, "Demo_Vector/VectorTileServer"))
	if vt == nil || vt.Kind != KindVectorTiles || vt.Tiles == 0 {
		t.Errorf("vector %+v", vt)
	} else if _, err := os.Stat(filepath.Join(dir, vt.Resources, "styles", "root.json")); err != nil {
		t.Errorf("vector style: %v", err)
	}
	if notes := pkg.Layer(LayerKey(fs, 3)); notes == nil || !containsLayer(m.Tables, notes) {
		t.Errorf("table InspectionNotes not among tables: %+v", m.Tables)
	}
	// The geodb meta holds the replica for sync.
	db, err := pkg.OpenGeodatabase(ctx, insp.Store)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := db.Replica(ctx)
	if err != nil || rep == nil || rep.ReplicaID != insp.Replica.ID || len(rep.LayerServerGens) == 0 {
		t.Errorf("stored replica %+v %v", rep, err)
	}
	if n, _ := db.Count(ctx, geodbQuery(0)); n != insp.Features {
		t.Errorf("gpkg rows %d, manifest %d", n, insp.Features)
	}
	db.Close()
	// map.json: offline layers point at stores; no journal left.
	for _, en := range pkg.Map.Entries() {
		if en.Layer.URL == "" {
			continue
		}
		if strings.HasPrefix(en.Layer.URL, "http") && !isOnline(m, en.Key) {
			t.Errorf("map.json layer %s still points online: %s", en.Title, en.Layer.URL)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, JournalFile)); !os.IsNotExist(err) {
		t.Errorf("journal left behind: %v", err)
	}
	validateGeoPackages(t, dir)
	// Running it again on its finished directory returns the package
	// (TestJobRerunOnFinishedPackage: another job is refused).
	if again, err := e.run(t, p, o, dir); err != nil || again.Manifest == nil || again.Manifest.ID != m.ID {
		t.Errorf("second run on the finished directory: %v", err)
	}
}

func containsLayer(ls []*ManifestLayer, l *ManifestLayer) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

func isOnline(m *Manifest, k Key) bool {
	for _, l := range append(append([]*ManifestLayer{}, m.Layers...), m.Tables...) {
		if l.Key == k && l.Kind == KindOnlineOnly {
			return true
		}
	}
	return false
}

// validateGeoPackages runs GDAL's validator on every GeoPackage of dir.
func validateGeoPackages(t testing.TB, dir string) {
	t.Helper()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Log("no /usr/bin/python3: GeoPackage validation skipped")
		return
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import osgeo_utils.samples.validate_gpkg").Run(); err != nil {
		t.Log("no GDAL python: GeoPackage validation skipped")
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, DataDir, "*.gpkg"))
	if len(files) == 0 {
		t.Errorf("no GeoPackage in %s", dir)
	}
	for _, f := range files {
		out, err := exec.Command("/usr/bin/python3", "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", f).CombinedOutput()
		if err != nil {
			t.Errorf("validate_gpkg %s: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

// packageDigest summarises a package's content for equality: per
// GeoPackage table the GlobalIDs with a hash of their attributes and
// geometry (object ids excluded: they are local), per MBTiles the tile
// hashes.
func packageDigest(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	gpkgs, _ := filepath.Glob(filepath.Join(dir, DataDir, "*.gpkg"))
	for _, f := range gpkgs {
		db := openReadOnly(t, f)
		rows, err := db.Query(`SELECT table_name FROM gpkg_contents WHERE data_type IN ('features','attributes') ORDER BY table_name`)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			tables = append(tables, n)
		}
		rows.Close()
		for _, tb := range tables {
			digestTable(t, db, filepath.Base(f)+"/"+tb, tb, out)
		}
		db.Close()
	}
	mbt, _ := filepath.Glob(filepath.Join(dir, TilesDir, "*.mbtiles"))
	for _, f := range mbt {
		db := openReadOnly(t, f)
		rows, err := db.Query(`SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles ORDER BY 1,2,3`)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n := 0
		for rows.Next() {
			var z, x, y int
			var data []byte
			rows.Scan(&z, &x, &y, &data)
			s := sha256.Sum256(data)
			fmt.Fprintf(h, "%d/%d/%d=%x\n", z, x, y, s)
			n++
		}
		rows.Close()
		db.Close()
		out[filepath.Base(f)] = fmt.Sprintf("%d tiles %x", n, h.Sum(nil))
	}
	return out
}

func digestTable(t testing.TB, db *sql.DB, name, table string, out map[string]string) {
	rows, err := db.Query(fmt.Sprintf(`SELECT * FROM "%s"`, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		gid := ""
		h := sha256.New()
		for i, c := range cols {
			lc := strings.ToLower(c)
			if lc == "objectid" || lc == "fid" {
				continue
			}
			if lc == "globalid" {
				gid = fmt.Sprint(vals[i])
			}
			fmt.Fprintf(h, "%s=%v;", c, vals[i])
		}
		lines = append(lines, gid+":"+hex.EncodeToString(h.Sum(nil))[:16])
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	out[name] = fmt.Sprintf("%d rows %x", len(lines), sum[:8])
}

func geodbQuery(layerID int) geodb.Query { return geodb.Query{LayerID: layerID} }

// openReadOnly opens the SQLite file at path read-only.
func openReadOnly(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	return db
}
