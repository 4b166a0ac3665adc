package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/offline"
)

func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo")
	}
	dir := filepath.Join(t.TempDir(), "pkg")
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	if err := run(ctx, []string{"demo", "--dir", dir, "--no-progress"}, &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("demo took %s, want under a minute", d)
	}
	pkg, err := offline.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := pkg.Manifest
	if m.HasErrors || len(m.Layers) == 0 {
		t.Fatalf("manifest hasErrors=%v layers=%d", m.HasErrors, len(m.Layers))
	}
	kinds := map[string]int{}
	for _, l := range pkg.All() {
		kinds[l.Kind]++
		if (l.Kind == offline.KindReplica || l.Kind == offline.KindSnapshot) && l.Features == 0 && !strings.Contains(l.Title, "Notes") {
			t.Errorf("layer %s has no features", l.Title)
		}
	}
	for _, k := range []string{offline.KindReplica, offline.KindSnapshot, offline.KindRasterTiles, offline.KindVectorTiles} {
		if kinds[k] == 0 {
			t.Errorf("no %s layer in the demo package: %v", k, kinds)
		}
	}
	text := out.String()
	for _, want := range []string{"Signed in", "Capabilities", "Inspections", "replica", "rasterTiles", "Synced:", "the server now has Notes"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	t.Log(text)
}
