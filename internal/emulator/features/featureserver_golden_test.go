package features

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/testutil"
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
	testutil.Golden(t, filepath.Join("testdata", "fs-golden", name), b, *updateFSGolden, "update-fs")
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
