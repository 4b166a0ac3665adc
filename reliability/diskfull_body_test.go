package reliability

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/offline"
	editsync "github.com/offlined/offlined/sync"
)

// smallFS mounts a tmpfs of size bytes on a temp dir (unmounted at the end
// of the test); it skips the test when mounting is not permitted.
func smallFS(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillTo writes a filler file so that about `free` bytes stay free on the
// file system of dir; it returns the filler's path.
func fillTo(t *testing.T, dir string, free int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	p := filepath.Join(dir, fmt.Sprintf("filler-%d", time.Now().UnixNano()))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for left := avail - free; left > 0; left -= int64(len(chunk)) {
		n := min(int64(len(chunk)), left)
		if _, err := f.Write(chunk[:n]); err != nil {
			break // full already
		}
	}
	return p
}

func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// diskFullFigures are scenario 4's figures.
type diskFullFigures struct {
	DownloadCases, DownloadClearErrors, DownloadResumed int
	SyncCases, SyncClearErrors, SyncResumed             int
	Corrupted                                           int
}

// diskFullDownload takes the demo map offline into a tmpfs filled so that
// only frac × the package size is free: the job must fail with a clear
// error (or layer errors naming the disk), leave no complete-looking
// package and uncorrupted stores, and finish equal to the reference once
// the space is freed.
func diskFullDownload(t *testing.T, fracs []float64, fig *diskFullFigures) {
	bin := offlinedBinary(t, false)
	em := startEmu(t, emulator.Options{})
	refDir := filepath.Join(t.TempDir(), "reference")
	runTakeOffline(t, bin, em, refDir)
	ref := packageDigest(t, refDir)
	refSize := dirSize(refDir)
	mnt := smallFS(t, 64<<20)
	for _, mode := range []string{"stop on errors", "continue on errors"} {
		flag := "--continue-on-errors=" + strconv.FormatBool(mode == "continue on errors")
		for _, frac := range fracs {
			t.Run(fmt.Sprintf("%s, free %.0f%% of the package", mode, frac*100), func(t *testing.T) {
				fig.DownloadCases++
				dir := filepath.Join(mnt, fmt.Sprintf("pkg-%s-%.0f", mode[:4], frac*100))
				filler := fillTo(t, mnt, int64(frac*float64(refSize)))
				var out, errb bytes.Buffer
				err := runWithTimeout(takeOfflineCmd(bin, em, dir, &out, &errb, flag), 3*time.Minute)
				msg := errb.String() + out.String()
				full := diskFullMsg(msg)
				switch {
				case err == nil && !strings.Contains(out.String(), `"hasErrors": true`):
					t.Logf("the package fit in %d free bytes", freeBytes(mnt))
				case full:
					fig.DownloadClearErrors++
				default:
					t.Errorf("disk full without a clear error (exit %v):\n%s", err, tail(msg))
				}
				if _, openErr := offline.Open(dir); openErr == nil && (err != nil || full) {
					// With continue-on-errors the job writes package.json with
					// per-layer "disk is full" errors: the directory can no
					// longer be resumed (the issue wants it resumable).
					t.Errorf("a package that ran out of space was finalized (package.json with layer errors); it cannot be resumed after space is freed")
					_ = os.Remove(filler)
					return
				}
				before := t.Failed()
				integrityOK(t, dir)
				if !before && t.Failed() {
					fig.Corrupted++
				}
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				if err == nil && !full {
					return
				}
				errb.Reset()
				out.Reset()
				if err := runWithTimeout(takeOfflineCmd(bin, em, dir, &out, &errb, flag), 3*time.Minute); err != nil {
					t.Fatalf("resume after freeing space: %v\n%s\ndirectory: %s", err, tail(errb.String()), listDir(dir))
				}
				if d := ref.diff(packageDigest(t, dir)); d != "" {
					t.Fatalf("resumed package differs from the reference: %s", d)
				}
				validateGpkgs(t, dir)
				fig.DownloadResumed++
				_ = os.RemoveAll(dir)
			})
		}
	}
}

// diskFullMsg reports whether an error message says the disk is full (the
// OS's ENOSPC text or SQLite's SQLITE_FULL).
func diskFullMsg(s string) bool {
	return strings.Contains(s, "no space left on device") || strings.Contains(s, "database or disk is full")
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// diskFullSync syncs a package on a tmpfs left with `free` bytes while local
// edits (with photos) go up and server edits come down: the sync must fail
// with a clear error, the GeoPackage stay intact, and the next sync after
// freeing space send and receive everything exactly once.
func diskFullSync(t *testing.T, frees []int64, fig *diskFullFigures) {
	bin := offlinedBinary(t, false)
	for _, free := range frees {
		t.Run(fmt.Sprintf("%d KiB free", free>>10), func(t *testing.T) {
			fig.SyncCases++
			em := startEmu(t, emulator.Options{})
			mnt := smallFS(t, 32<<20)
			dir := filepath.Join(mnt, "pkg")
			runTakeOffline(t, bin, em, dir)
			gpkg := filepath.Join(dir, "data", svcName+".gpkg")
			svcURL := em.ServicesURL + "/" + svcName + "/FeatureServer"
			ctx := context.Background()
			db := openSyncStore(t, gpkg, svcURL)
			photo := bytes.Repeat([]byte("jpeg"), 16<<10) // 64 KiB
			for i := range 20 {
				r, err := db.Add(ctx, 0, arcgis.Feature{Attributes: map[string]any{"InspectionID": fmt.Sprintf("k-full-%d", i), "Notes": strings.Repeat("n", 200)}, Geometry: pt(-13050000, 4030000+float64(i))})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: r.GlobalID, Name: fmt.Sprintf("k-full-%d.jpg", i), ContentType: "image/jpeg"}, bytes.NewReader(photo)); err != nil {
					t.Fatal(err)
				}
			}
			var adds []arcgis.Feature
			for i := range 300 {
				adds = append(adds, arcgis.Feature{Attributes: map[string]any{"InspectionID": fmt.Sprintf("s-full-%d", i), "Notes": strings.Repeat("s", 250)}, Geometry: pt(-13049000, 4031000+float64(i))})
			}
			if err := em.EditFeatures(svcName, 0, adds, nil, nil); err != nil {
				t.Fatal(err)
			}
			filler := fillTo(t, mnt, free)
			_, syncErr := editsync.New(db, demoClient(t, em.PortalURL), editsync.Options{}).Sync(ctx)
			db.Close()
			switch {
			case syncErr == nil:
				t.Logf("the sync fit in %d free bytes", free)
			case diskFullMsg(syncErr.Error()):
				fig.SyncClearErrors++
				t.Logf("sync error: %v", syncErr)
			default:
				t.Errorf("disk full without a clear error: %v", syncErr)
			}
			before := t.Failed()
			integrityOK(t, filepath.Dir(gpkg))
			if !before && t.Failed() {
				fig.Corrupted++
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			f := checkSyncedOnce(t, em, gpkg, svcURL, crashSyncFigures{})
			if f.Lost+f.Duplicated+f.AttLost+f.AttDuplicated+f.NotesMismatch+f.ServerEditsMissingLocally == 0 {
				fig.SyncResumed++
			}
		})
	}
}
