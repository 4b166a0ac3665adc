package offline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Package manifests come from directories that may have been copied or
// edited: ReadManifest must reject garbage without panicking.
func FuzzReadManifest(f *testing.F) {
	f.Add([]byte(`{"formatVersion":1,"id":"a","title":"t","layers":[{"key":"k","kind":"replica","store":"data/x.gpkg","layerId":0}],"tables":[]}`))
	f.Add([]byte(`{"formatVersion":99,"id":"a"}`))
	f.Add([]byte(`{"formatVersion":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644)
		m, err := ReadManifest(dir)
		if err == nil && (m.ID == "" || m.FormatVersion != ManifestFormat) {
			t.Fatalf("accepted %s", b)
		}
		if err == nil {
			Open(dir) // must not panic on any manifest content
		}
	})
}

// Replica result files come from the server: the attachment URL scanner
// must survive anything.
func FuzzScanAttachmentURLs(f *testing.F) {
	f.Add([]byte(`{"replicaID":"x","layers":[{"id":0,"features":[{"attributes":{"a":1}}],"attachments":[{"globalId":"g","url":"http://h/a/1","name":"p.jpg"}]}]}`))
	f.Add([]byte(`{"layers":[{"attachments":{"url":"x"}},{"attachments":[1,2]}]}`))
	f.Add([]byte(`{"attachments":[{"url":"a"},{"url":"a"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "r.json")
		os.WriteFile(p, b, 0o644)
		n := 0
		scanAttachmentURLs(context.Background(), p, func(u string) bool {
			if u == "" {
				t.Fatal("empty url")
			}
			n++
			return n < 1000
		})
	})
}
