package features

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateFSGolden = flag.Bool("update-fs", false, "rewrite testdata/fs-golden files")

// fsGolden compares doc (its host replaced by HOST) with
// testdata/fs-golden/name.
func fsGolden(t *testing.T, name, host string, doc any) {
	t.Helper()
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(host), []byte("http://HOST"))
	b = append(b, '\n')
	path := filepath.Join("testdata", "fs-golden", name)
	if *updateFSGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-fs to create)", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs from the golden file (run with -update-fs after checking):\n%s", name, firstDiff(string(want), string(b)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + itoa(i+1) + ":\n- " + al[i] + "\n+ " + bl[i]
		}
	}
	return "lengths differ"
}

// TestFeatureServerGolden pins the service, layer and replica documents
// (the generated data is deterministic for a seed).
func TestFeatureServerGolden(t *testing.T) {
	env := fsStart(t, nil)
	fsGolden(t, "service-Field_Survey.json", env.url, fsGet(t, env.svc("Field_Survey"), nil))
	fsGolden(t, "service-Reference_Data.json", env.url, fsGet(t, env.svc("Reference_Data"), nil))
	for _, id := range []string{"0", "1", "2", "3"} {
		fsGolden(t, "layer-Field_Survey-"+id+".json", env.url, fsGet(t, env.svc("Field_Survey")+"/"+id, nil))
	}
	b := fsPostRaw(t, env.svc("Field_Survey")+"/createReplica", url.Values{"layers": {"0,1,2,3"}, "syncModel": {"none"},
		"replicaName": {"golden"}, "transportType": {"esriTransportTypeEmbedded"}, "returnAttachments": {"true"},
		"layerQueries": {`{"0":{"where":"OBJECTID <= 5"},"1":{"where":"OBJECTID <= 3"},"2":{"where":"OBJECTID IN (5, 7)"},"3":{"where":"OBJECTID <= 12"}}`}})
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("replica: %v: %s", err, b)
	}
	fsGolden(t, "replica-none-small.json", env.url, doc)
}
