package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileContentAndPerm(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	if err := os.WriteFile(p, []byte("old content that is longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, perm := range []os.FileMode{0o600, 0o640} {
		if err := WriteFile(p, []byte("new"), perm); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "new" {
			t.Fatalf("content %q (%v), want %q", b, err, "new")
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("mode %o, want %o", fi.Mode().Perm(), perm)
		}
	}
	assertOnly(t, dir, "state.json")
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("disk on fire")
	}
	r.n--
	p[0] = 'x'
	return 1, nil
}

func TestWriteFromFailureLeavesOldFileAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "registry.json")
	if err := WriteFile(p, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := WriteFrom(p, &failingReader{n: 3}, 0o600)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	if n != 3 {
		t.Errorf("n = %d, want 3", n)
	}
	if b, _ := os.ReadFile(p); string(b) != "kept" {
		t.Errorf("content %q, want the old file", b)
	}
	assertOnly(t, dir, "registry.json")
}

func TestWriteFileMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "file")
	if err := WriteFile(p, []byte("x"), 0o600); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want an error naming %s", err, p)
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	part := filepath.Join(dir, "tiles.part")
	if err := os.WriteFile(part, []byte("tiles"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "tiles.mbtiles")
	if err := Replace(part, dest); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "tiles" {
		t.Errorf("content %q", b)
	}
	assertOnly(t, dir, "tiles.mbtiles")
	if err := Replace(part, dest); err == nil {
		t.Error("Replace of a missing file succeeded")
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %v, want %v", got, names)
	}
}

func TestIsTempNamesAnInterruptedWrite(t *testing.T) {
	dir := t.TempDir()
	// A temporary file as WriteFrom creates it, left by a kill before the rename.
	f, err := os.CreateTemp(dir, ".journal.json.tmp*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	name := filepath.Base(f.Name())
	for _, c := range []struct {
		name string
		want bool
	}{{name, true}, {"journal.json.tmp", true}, {"journal.json", false}, {".other.json.tmp1", false}} {
		if got := IsTemp(c.name, "journal.json"); got != c.want {
			t.Errorf("IsTemp(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}
