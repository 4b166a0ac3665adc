package reliability

// Shared harness of the reliability campaign (no tests here): the offlined
// binary built once, the emulator on loopback, package digests and checks.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // read packages without going through geodb

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// demoBBox is the demo area (WGS84).
const demoBBox = "-117.25,33.98,-117.10,34.10"

// envInt reads a positive integer from the environment, else def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var (
	buildMu   stdsync.Mutex
	buildDir  string
	buildBins = map[bool]string{}
)

// TestMain removes the offlined binaries the tests built (32 MB a run;
// every run used to leave its directory in $TMPDIR).
func TestMain(m *testing.M) {
	code := m.Run()
	buildMu.Lock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	buildMu.Unlock()
	os.Exit(code)
}

// offlinedBinary builds cmd/offlined once per test process (with -race when
// race is true) and returns its path.
func offlinedBinary(t testing.TB, race bool) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildBins[race]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "offlined-reliability-bin")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	name := "offlined"
	args := []string{"build", "-o"}
	if race {
		name = "offlined-race"
	}
	out := filepath.Join(buildDir, name)
	args = append(args, out)
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/offlined")
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build offlined: %v\n%s", err, b)
	}
	buildBins[race] = out
	return out
}

// startEmu starts the emulator on loopback with the demo tile services
// (tile cache in a temp dir) and the given options.
func startEmu(t testing.TB, o emulator.Options) *emulatortest.Server {
	t.Helper()
	if o.Tiles == nil {
		o.Tiles = emulator.DemoTileOptions()
		o.Tiles.WorkDir = t.TempDir()
	}
	return emulatortest.Start(t, o)
}

// takeOfflineArgs are the arguments of one take-offline run of the demo web
// map (features with attachments, basemap tiles for two or three levels).
func takeOfflineArgs(em *emulatortest.Server, dir string, extra ...string) []string {
	a := []string{"take-offline", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID,
		"--dir", dir, "--bbox", demoBBox, "--min-scale", "150000", "--max-scale", "70000",
		"--user", emulator.DemoUser, "--online-only", "include", "--json"}
	return append(a, extra...)
}

// takeOfflineCmd is a take-offline subprocess (not started).
func takeOfflineCmd(bin string, em *emulatortest.Server, dir string, stdout, stderr *bytes.Buffer, extra ...string) *exec.Cmd {
	cmd := exec.Command(bin, takeOfflineArgs(em, dir, extra...)...)
	cmd.Env = append(os.Environ(), "OFFLINED_PASSWORD="+emulator.DemoPassword)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd
}

// runTakeOffline runs take-offline to the end and fails the test on error.
func runTakeOffline(t testing.TB, bin string, em *emulatortest.Server, dir string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := takeOfflineCmd(bin, em, dir, &out, &errb)
	if err := runWithTimeout(cmd, 3*time.Minute); err != nil {
		t.Fatalf("take-offline %s: %v\nstdout:%s\nstderr:%s", dir, err, tail(out.String()), tail(errb.String()))
	}
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("timed out after %v", d)
	}
}

// stopProcess ends a started command: SIGKILL when kill is set, else
// SIGINT followed by SIGKILL if it has not exited within grace.
func stopProcess(cmd *exec.Cmd, kill bool, grace time.Duration) {
	if kill {
		_ = cmd.Process.Kill()
	} else {
		_ = cmd.Process.Signal(os.Interrupt)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// skipShort skips a test that runs subprocesses (what) under -short.
func skipShort(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what)
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

// digest is what makes two packages equal: for every feature/attribute
// table, GlobalID → hash of its non-key attributes and geometry; for every
// tile store, tile address → hash of its bytes.
type digest struct {
	Features map[string]map[string]string // file/table → GlobalID → hash
	Tiles    map[string]map[string]string // file → z/x/y → hash
}

// volatile columns differ between two runs of the same job (row ids and
// replica-local bookkeeping), so they stay out of the hash.
var volatile = map[string]bool{"fid": true, "objectid": true, "rowid": true}

// packageDigest reads every GeoPackage and MBTiles file under dir.
func packageDigest(t testing.TB, dir string) digest {
	t.Helper()
	d := digest{Features: map[string]map[string]string{}, Tiles: map[string]map[string]string{}}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch filepath.Ext(p) {
		case ".gpkg":
			return gpkgDigest(p, rel, d.Features)
		case ".mbtiles":
			m, err := mbtilesDigest(p)
			d.Tiles[rel] = m
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("digest %s: %v", dir, err)
	}
	return d
}

func openRO(path string) (*sql.DB, error) {
	return sql.Open("sqlite", sqliteURI(path)+"?mode=ro")
}

// sqliteURI escapes the characters SQLite URIs reserve (t.TempDir names
// may hold '%').
func sqliteURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

func gpkgDigest(path, rel string, into map[string]map[string]string) error {
	db, err := openRO(path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM gpkg_contents WHERE data_type IN ('features','attributes') ORDER BY table_name`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, n)
	}
	rows.Close()
	for _, tbl := range tables {
		m, err := tableDigest(db, tbl)
		if err != nil {
			return fmt.Errorf("%s %s: %w", rel, tbl, err)
		}
		into[rel+"/"+tbl] = m
	}
	return nil
}

func tableDigest(db *sql.DB, tbl string) (map[string]string, error) {
	rows, err := db.Query(`SELECT * FROM "` + strings.ReplaceAll(tbl, `"`, `""`) + `"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	gidCol := -1
	for i, c := range cols {
		if strings.EqualFold(c, "globalid") {
			gidCol = i
		}
	}
	out := map[string]string{}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		h := sha256.New()
		for i, c := range cols {
			if volatile[strings.ToLower(c)] {
				continue
			}
			fmt.Fprintf(h, "%s=%v;", c, vals[i])
		}
		key := strconv.Itoa(n)
		if gidCol >= 0 {
			key = fmt.Sprint(vals[gidCol])
		}
		if _, dup := out[key]; dup {
			key += "#dup" + strconv.Itoa(n)
		}
		out[key] = hex.EncodeToString(h.Sum(nil))[:16]
		n++
	}
	return out, rows.Err()
}

func mbtilesDigest(path string) (map[string]string, error) {
	db, err := openRO(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var z, x, y int
		var b []byte
		if err := rows.Scan(&z, &x, &y, &b); err != nil {
			return nil, err
		}
		s := sha256.Sum256(b)
		out[fmt.Sprintf("%d/%d/%d", z, x, y)] = hex.EncodeToString(s[:8])
	}
	return out, rows.Err()
}

// diff describes how got differs from want ("" when equal).
func (want digest) diff(got digest) string {
	var msgs []string
	cmp := func(kind string, a, b map[string]map[string]string) {
		for k, wm := range a {
			gm, ok := b[k]
			if !ok {
				msgs = append(msgs, fmt.Sprintf("%s %s missing", kind, k))
				continue
			}
			missing, changed := 0, 0
			for id, h := range wm {
				switch g, ok := gm[id]; {
				case !ok:
					missing++
				case g != h:
					changed++
				}
			}
			if missing+changed > 0 || len(gm) != len(wm) {
				msgs = append(msgs, fmt.Sprintf("%s %s: want %d rows, got %d (%d missing, %d different)", kind, k, len(wm), len(gm), missing, changed))
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				msgs = append(msgs, fmt.Sprintf("%s %s unexpected", kind, k))
			}
		}
	}
	cmp("features", want.Features, got.Features)
	cmp("tiles", want.Tiles, got.Tiles)
	sort.Strings(msgs)
	return strings.Join(msgs, "; ")
}

func (d digest) counts() (features, tiles int) {
	for _, m := range d.Features {
		features += len(m)
	}
	for _, m := range d.Tiles {
		tiles += len(m)
	}
	return
}

// validateGpkgs runs GDAL's validate_gpkg on every GeoPackage under dir;
// it reports false when the validator is not installed.
func validateGpkgs(t testing.TB, dir string) bool {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		return false
	}
	if err := exec.Command(py, "-c", "import osgeo_utils.samples.validate_gpkg").Run(); err != nil {
		return false
	}
	files, _ := filepath.Glob(filepath.Join(dir, "data", "*.gpkg"))
	for _, f := range files {
		if out, err := exec.Command(py, "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", f).CombinedOutput(); err != nil {
			t.Errorf("validate_gpkg %s: %v\n%s", f, err, out)
		}
	}
	return true
}

// integrityOK runs PRAGMA integrity_check on every SQLite store under dir.
func integrityOK(t testing.TB, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if ext := filepath.Ext(p); ext != ".gpkg" && ext != ".mbtiles" && ext != ".db" {
			return nil
		}
		db, err := sql.Open("sqlite", sqliteURI(p))
		if err != nil {
			t.Errorf("open %s: %v", p, err)
			return nil
		}
		defer db.Close()
		var res string
		if err := db.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
			t.Errorf("integrity_check %s: %q %v", p, res, err)
		}
		return nil
	})
}

// refetched counts request paths matching sub that the emulator answered
// more than once (each extra answer counts).
func refetched(em *emulatortest.Server, sub string) (distinct, extra int) {
	seen := map[string]int{}
	for _, e := range em.Log().Matching(sub) {
		if e.Status == 200 {
			seen[e.Path]++
		}
	}
	for _, n := range seen {
		distinct++
		extra += n - 1
	}
	return
}

// listDir names the entries of dir (for failure messages).
func listDir(dir string) string {
	es, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
