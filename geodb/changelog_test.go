package geodb

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// The sqlite3 CLI (no offlined code, no ST_* functions) edits the
// attribute table while offlined has the file open: the triggers log it and
// give the new row a GlobalID.
func TestExternalWriterSQLite3(t *testing.T) {
	cli := needTool(t, "sqlite3")
	db := loadedDB(t)
	ctx := testCtx(t)
	seq0, err := db.LastChangeSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seq0 != 0 {
		t.Fatalf("loading logged %d changes", seq0)
	}
	script := `PRAGMA busy_timeout=5000;
INSERT INTO Notes (text) VALUES ('from cli');
UPDATE Notes SET text = 'edited' WHERE OBJECTID = 1;
DELETE FROM Notes WHERE OBJECTID = 2;`
	if out, err := runCmd(cli, db.Path(), script); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	chs, err := db.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 3 {
		t.Fatalf("changes %+v", chs)
	}
	if chs[0].Op != OpInsert || !registryGUID.MatchString(chs[0].GlobalID) || chs[0].LayerID != 4 {
		t.Fatalf("insert change %+v", chs[0])
	}
	f, err := db.Feature(ctx, 4, chs[0].GlobalID)
	if err != nil || f == nil || f.Attributes["text"] != "from cli" {
		t.Fatalf("generated GlobalID does not find the row: %v %+v", err, f)
	}
	var old map[string]any
	json.Unmarshal(chs[1].OldValues, &old)
	if chs[1].Op != OpUpdate || old["text"] != `it's "quoted" — ünïcode` {
		t.Fatalf("update change %+v", chs[1])
	}
	if chs[2].Op != OpDelete || chs[2].GlobalID != "{000001F6-0000-4000-8000-0000000001F6}" {
		t.Fatalf("delete change %+v", chs[2])
	}
	validate(t, db)
}

// GDAL appends features to a feature table (it brings its own ST_*
// functions): the change log, GlobalIDs and the spatial index follow.
func TestExternalWriterOgr2ogr(t *testing.T) {
	ogr := needTool(t, "ogr2ogr")
	db := loadedDB(t)
	ctx := testCtx(t)
	src := t.TempDir() + "/new.geojson"
	os.WriteFile(src, []byte(`{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"owner":"gdal","area":7.5},"geometry":{"type":"MultiPolygon","coordinates":[[[[-117.0,33.0],[-116.9,33.0],[-116.9,33.1],[-117.0,33.0]]]]}}]}`), 0o644)
	if out, err := runCmd(ogr, "-update", "-append", "-nln", "Parcels", "-dim", "XYM", db.Path(), src); err != nil {
		t.Fatalf("ogr2ogr: %v\n%s", err, out)
	}
	chs, err := db.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 || chs[0].Op != OpInsert || chs[0].LayerID != 2 || !registryGUID.MatchString(chs[0].GlobalID) {
		t.Fatalf("changes %+v", chs)
	}
	fs, err := db.Features(ctx, Query{LayerID: 2, Envelope: &arcgis.Envelope{XMin: -116.95, YMin: 33.01, XMax: -116.94, YMax: 33.02}})
	if err != nil || len(fs) != 1 || fs[0].Attributes["owner"] != "gdal" {
		t.Fatalf("spatial query after GDAL append: %v %+v", err, fs)
	}
	validate(t, db)
}

// Readers keep working while a writer commits (WAL, busy timeout).
func TestConcurrentReadersAndWriter(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				n, err := db.Count(ctx, Query{LayerID: 0})
				if err != nil || n < 400 {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if _, err := db.Add(ctx, 0, arcgis.Feature{Attributes: map[string]any{"name": "w"}, Geometry: pt(1, 1)}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := db.Count(ctx, Query{LayerID: 0, Where: "name = 'w'"}); n != 20 {
		t.Fatalf("%d writes landed", n)
	}
	if strings.Contains(db.Path(), "?") {
		t.Fatal("path")
	}
}

// Another process (sqlite3 CLI) writes while offlined writes: busy timeouts
// serialise the writers, nothing is lost and every row is logged once.
func TestConcurrentExternalWriter(t *testing.T) {
	cli := needTool(t, "sqlite3")
	db := loadedDB(t)
	ctx := testCtx(t)
	var script strings.Builder
	script.WriteString("PRAGMA busy_timeout=10000;\n")
	for i := 0; i < 150; i++ {
		script.WriteString("INSERT INTO Notes (text) VALUES ('cli');\n")
	}
	done := make(chan error, 1)
	go func() {
		out, err := runCmd(cli, db.Path(), script.String())
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		done <- err
	}()
	for i := 0; i < 50; i++ {
		if _, err := db.Add(ctx, 4, arcgis.Feature{Attributes: map[string]any{"text": "go"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cli150, _ := db.Count(ctx, Query{LayerID: 4, Where: "text = 'cli'"})
	go50, _ := db.Count(ctx, Query{LayerID: 4, Where: "text = 'go'"})
	chs, err := db.Changes(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	gids := map[string]bool{}
	for _, c := range chs {
		if c.Op != OpInsert || gids[c.GlobalID] || !registryGUID.MatchString(c.GlobalID) {
			t.Fatalf("bad change %+v", c)
		}
		gids[c.GlobalID] = true
	}
	if cli150 != 150 || go50 != 50 || len(chs) != 200 {
		t.Fatalf("cli %d, go %d, changes %d", cli150, go50, len(chs))
	}
	validate(t, db)
}
