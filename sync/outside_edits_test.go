package sync

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/testutil"
)

// outsideWriter edits the GeoPackage through its own SQLite connection, as
// another process (QGIS, GDAL, a script) does.
func outsideWriter(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	return raw
}

// Every one of 50 consecutive outside edits reaches the server by the
// background scheduler alone (no interval): pending work is found by the
// change log's sequence, not by the file event alone.
func TestSchedulerSyncsEveryOutsideEdit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, fixtureOpts{})
	outsideEdits(ctx, cancel, t, f, 0, true)
}

// The GeoPackage is reached through a symlink from another directory: the
// watched directory sees no file event for the writes (as on file systems
// without inotify); the change log's sequence still finds every edit.
func TestSchedulerSyncsOutsideEditsWithoutFileEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	real := filepath.Join(t.TempDir(), "real.gpkg")
	link := filepath.Join(t.TempDir(), "Field_Survey.gpkg")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks:", err)
	}
	f := newFixture(t, fixtureOpts{path: link})
	if _, err := os.Stat(real + "-wal"); err != nil {
		t.Skipf("SQLite did not resolve the symlink (WAL not beside the target): %v", err)
	}
	outsideEdits(ctx, cancel, t, f, 100*time.Millisecond, false)
}

// outsideEdits makes 50 consecutive outside edits (and 5 with GDAL when
// gdal is set and ogrinfo is installed), each of which must reach the
// server through the scheduler alone (poll: SchedulerOptions.ChangePoll).
func outsideEdits(ctx context.Context, cancel context.CancelFunc, t *testing.T, f *fixture, poll time.Duration, gdal bool) {
	s := NewScheduler(f.eng, SchedulerOptions{Interval: -1, Debounce: 20 * time.Millisecond, ChangePoll: poll})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	table := f.db.TableByID(3).Name
	raw := outsideWriter(t, f.path)
	if _, err := raw.Exec(`INSERT INTO "` + table + `" (Note) VALUES ('outside-0')`); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the outside add synced", func() bool {
		fs, _ := f.em.Features(svcName, 3, "Note = 'outside-0'")
		return len(fs) == 1
	})
	for i := 1; i <= 50; i++ {
		if _, err := raw.Exec(`UPDATE "`+table+`" SET Note = ? WHERE Note = ?`, fmt.Sprintf("outside-%d", i), fmt.Sprintf("outside-%d", i-1)); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, fmt.Sprintf("outside edit %d synced", i), func() bool {
			fs, _ := f.em.Features(svcName, 3, fmt.Sprintf("Note = 'outside-%d'", i))
			return len(fs) == 1
		})
	}
	if !gdal {
		return
	}
	// GDAL, when installed, the way the user edited.
	ogr, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Log("ogrinfo not installed: GDAL part skipped")
		return
	}
	for i := 51; i <= 55; i++ {
		sqlText := fmt.Sprintf(`UPDATE "%s" SET Note = 'outside-%d' WHERE Note = 'outside-%d'`, table, i, i-1)
		if out, err := exec.Command(ogr, f.path, "-sql", sqlText).CombinedOutput(); err != nil {
			t.Fatalf("ogrinfo: %v %s", err, out)
		}
		testutil.Eventually(t, fmt.Sprintf("GDAL edit %d synced", i), func() bool {
			fs, _ := f.em.Features(svcName, 3, fmt.Sprintf("Note = 'outside-%d'", i))
			return len(fs) == 1
		})
	}
}
