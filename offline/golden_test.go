package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// golden compares got (marshalled as indented JSON) with
// testdata/golden/name, rewriting it with -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./offline -run Golden -update)", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs from golden file; got:\n%s", path, firstDiff(string(want), string(b)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + jsonNum(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(no line differs)"
}

func jsonNum(i int) string { b, _ := json.Marshal(i); return string(b) }

// requestSet is the exact request values the overrides produce, for goldens.
type requestSet struct {
	CreateReplica map[Key]map[string]string            `json:"createReplica,omitempty"`
	Queries       map[Key]map[string]map[string]string `json:"snapshotQueries,omitempty"`
	ExportTiles   map[Key]map[string]string            `json:"exportTiles,omitempty"`
	ExportVector  map[Key]map[string]string            `json:"exportVectorTiles,omitempty"`
}

func flat(v map[string][]string) map[string]string {
	out := map[string]string{}
	for k, vs := range v {
		out[k] = strings.Join(vs, "|")
	}
	return out
}

func requestsOf(t *testing.T, ov *Overrides) requestSet {
	t.Helper()
	rs := requestSet{CreateReplica: map[Key]map[string]string{}, Queries: map[Key]map[string]map[string]string{},
		ExportTiles: map[Key]map[string]string{}, ExportVector: map[Key]map[string]string{}}
	for k, g := range ov.GenerateGeodatabase {
		if g.Snapshot {
			qs := map[string]map[string]string{}
			for _, id := range g.LayerIDs() {
				v, ok, err := QueryRequest(g, id)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					qs[jsonNum(id)] = flat(v)
				} else {
					qs[jsonNum(id)] = map[string]string{"schemaOnly": "true"}
				}
			}
			rs.Queries[k] = qs
			continue
		}
		v, err := CreateReplicaRequest(g, ReplicaRequestOptions{ReplicaName: "offlined-test"})
		if err != nil {
			t.Fatal(err)
		}
		rs.CreateReplica[k] = flat(v)
	}
	for k, p := range ov.ExportTileCache {
		v, err := ExportTilesRequest(p)
		if err != nil {
			t.Fatal(err)
		}
		rs.ExportTiles[k] = flat(v)
	}
	for k, p := range ov.ExportVectorTiles {
		v, err := ExportVectorTilesRequest(p)
		if err != nil {
			t.Fatal(err)
		}
		rs.ExportVector[k] = flat(v)
	}
	return rs
}

// TestGolden writes, for every fixture and hand-made web map, its
// capabilities, default parameters, overrides and the exact requests.
func TestGolden(t *testing.T) {
	f := loadFake(t)
	files := webMapFiles(t)
	sort.Strings(files)
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			task := fileTask(t, f, path)
			params := mustDefaults(ctx, t, task, demoArea(), 150000, 5000)
			caps := mustCaps(ctx, t, task, params)
			ov := mustOverrides(ctx, t, task, params)
			golden(t, name+".capabilities.json", caps)
			golden(t, name+".parameters.json", params)
			golden(t, name+".overrides.json", ov)
			golden(t, name+".requests.json", requestsOf(t, ov))
			if err := task.Validate(ctx, params, ov, filepath.Join(t.TempDir(), "out")); err != nil {
				t.Errorf("default parameters and overrides do not validate: %v", err)
			}
		})
	}
}
