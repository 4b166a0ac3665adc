package tiles

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// writeRawZip writes entries; a nil declared size means honest headers.
func writeRawZip(t *testing.T, p string, entries []zipEntry) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range entries {
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(e.data)
		fw.Close()
		size := uint64(len(e.data))
		if e.declared > 0 {
			size = e.declared
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(e.data),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: size})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(comp.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

type zipEntry struct {
	name     string
	data     []byte
	declared uint64 // 0: the true size
}

// TestPackageZipBombGuards: a compressed bundle is inflated to disk within
// the member cap; a bundle declaring more than the cap, one inflating past
// its declared size, and a metadata entry over MaxResourceBytes (a 100 MiB
// root.json of zeros, ~100 KiB compressed) are refused with errors, not
// read into memory.
func TestPackageZipBombGuards(t *testing.T) {
	s := WebMercatorScheme(256, 0, 20)
	rj, _ := json.Marshal(demoRoot(s, "PNG"))
	var bundle bytes.Buffer
	if err := WriteBundle(&bundle, map[[2]int][]byte{{1, 2}: []byte("tile-bytes")}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := "tile/L05/" + BundleName(0, 0)

	// Honest compressed bundle: readable, extracted to a temporary file
	// that Close removes.
	good := filepath.Join(dir, "good.tpkx")
	writeRawZip(t, good, []zipEntry{{"root.json", rj, 0}, {name, bundle.Bytes(), 0}})
	pk, err := OpenPackage(good)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := pk.Tile(TileKey{Level: 5, Row: 1, Col: 2}); err != nil || string(b) != "tile-bytes" {
		t.Fatalf("tile = %q, %v", b, err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".bundle-*"))
	if len(tmps) != 1 {
		t.Fatalf("temporary bundle files %v, want 1", tmps)
	}
	pk.Close()
	if tmps, _ = filepath.Glob(filepath.Join(dir, ".bundle-*")); len(tmps) != 0 {
		t.Fatalf("Close left %v", tmps)
	}

	// Declared size over the cap.
	pk, err = OpenPackage(good)
	if err != nil {
		t.Fatal(err)
	}
	pk.MaxMemberBytes = 1000
	_, err = pk.Tile(TileKey{Level: 5, Row: 1, Col: 2})
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("bundle over the cap: err = %v, want *TooLargeError", err)
	}
	pk.Close()

	// Declared size smaller than what the data inflates to.
	liar := filepath.Join(dir, "liar.tpkx")
	writeRawZip(t, liar, []zipEntry{{"root.json", rj, 0}, {name, bundle.Bytes(), 200}})
	pk, err = OpenPackage(liar)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pk.Tile(TileKey{Level: 5, Row: 1, Col: 2}); err == nil {
		t.Fatal("a bundle inflating past its declared size was accepted")
	}
	pk.Close()

	// A metadata entry that inflates to 100 MiB.
	bomb := filepath.Join(dir, "bomb.tpkx")
	zeros := make([]byte, 100<<20)
	writeRawZip(t, bomb, []zipEntry{{"root.json", zeros, 0}})
	if fi, _ := os.Stat(bomb); fi.Size() > 1<<20 {
		t.Fatalf("bomb is %d bytes: not a bomb", fi.Size())
	}
	_, err = OpenPackage(bomb)
	if !errors.As(err, &tl) {
		t.Fatalf("root.json bomb: err = %v, want *TooLargeError", err)
	}
	// The same with a lying header: the cap holds on the actual bytes.
	writeRawZip(t, bomb, []zipEntry{{"root.json", zeros, 1000}})
	if _, err = OpenPackage(bomb); err == nil {
		t.Fatal("lying root.json bomb accepted")
	}
}
