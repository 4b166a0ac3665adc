package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	offlinedd "github.com/offlined/offlined/internal/daemon"
)

// A registry.json left empty or truncated (a power cut with an older
// version) must not keep the daemon from starting: it is rebuilt from the
// package directories, with a warning in the log.
func TestServeStartsWithDamagedRegistry(t *testing.T) {
	for name, content := range map[string]string{"empty": "", "truncated": `{"maps":[{"id":"survey","regis`} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			pkg := filepath.Join(root, "packages", "survey")
			if err := os.MkdirAll(pkg, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"formatVersion":1,"id":"survey","title":"Survey"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, offlinedd.RegistryFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, root)
			code, m := d.api(t, "GET", "/api/v1/maps", nil)
			if code != 200 || !strings.Contains(fmt.Sprint(m), "survey") {
				t.Fatalf("maps after a damaged registry: %d %v", code, m)
			}
			if !strings.Contains(d.logs.String(), "registry damaged") {
				t.Errorf("no warning about the damaged registry in the log:\n%s", d.logs.String())
			}
			b, err := os.ReadFile(filepath.Join(root, offlinedd.RegistryFile))
			if err != nil || !strings.Contains(string(b), `"survey"`) {
				t.Errorf("registry not rewritten: %q %v", b, err)
			}
		})
	}
}
