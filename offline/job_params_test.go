package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

// Each parameter and override: its effect on what the job asks the
// emulator (request log) and on the package it writes.

// paramRun is one job run with its request log and package.
type paramRun struct {
	e   *jobEnv
	p   *Parameters
	o   *Overrides
	dir string
	res *Result
	pkg *Package
}

func (r *paramRun) fs() string  { return r.e.em.ServicesURL + "/Field_Survey/FeatureServer" }
func (r *paramRun) ref() string { return r.e.em.ServicesURL + "/Reference_Data/FeatureServer" }

// key returns the key of a service of this run's emulator ("Name/MapServer").
func (r *paramRun) key(svc string) Key { return ServiceKey(r.e.em.ServicesURL + "/" + svc) }

type runSpec struct {
	params    func(p *Parameters)
	overrides func(r *paramRun, o *Overrides)
	// features / tiles: keep only these kinds of steps (speed).
	noTiles, noFeatures bool
}

func runWith(t *testing.T, s runSpec) *paramRun {
	t.Helper()
	e := newJobEnv(t, emulator.Options{})
	r := &paramRun{e: e}
	r.p = e.params(t)
	if s.params != nil {
		s.params(r.p)
	}
	r.o = e.overrides(t, r.p)
	full := r.o.GenerateGeodatabase
	if s.noTiles {
		r.o.ExportTileCache = map[Key]*ExportTileCacheParameters{}
		r.o.ExportVectorTiles = map[Key]*ExportVectorTilesParameters{}
	}
	if s.noFeatures {
		r.o.GenerateGeodatabase = map[Key]*GenerateGeodatabaseParameters{}
	}
	if s.overrides != nil {
		s.overrides(r, r.o)
	}
	if len(r.o.GenerateGeodatabase)+len(r.o.ExportTileCache)+len(r.o.ExportVectorTiles) == 0 && r.o.ReferenceBasemap == nil {
		// A job that takes nothing offline fails; keep the small
		// Reference_Data snapshot so the parameter under test is seen in a
		// package.
		for k, g := range full {
			if strings.Contains(strings.ToLower(string(k)), "reference_data") {
				r.o.GenerateGeodatabase[k] = g
			}
		}
	}
	e.em.Log().Reset()
	r.dir = filepath.Join(t.TempDir(), "pkg")
	res, err := e.run(t, r.p, r.o, r.dir)
	if err != nil {
		t.Fatal(err)
	}
	r.res = res
	if r.pkg, err = Open(r.dir); err != nil {
		t.Fatal(err)
	}
	if len(r.o.GenerateGeodatabase) > 0 {
		validateGeoPackages(t, r.dir)
	}
	return r
}

// createReplica returns the form of the one createReplica sent to svc.
func (r *paramRun) createReplica(t *testing.T, svc string) url.Values {
	t.Helper()
	reqs := r.e.em.Log().Matching("/" + svc + "/FeatureServer/createReplica")
	if len(reqs) != 1 {
		t.Fatalf("%d createReplica requests to %s", len(reqs), svc)
	}
	return reqs[0].Query
}

// layerQuery returns layerQueries[id] of a createReplica form.
func layerQuery(t *testing.T, v url.Values, id int) map[string]any {
	t.Helper()
	var lq map[string]map[string]any
	if err := json.Unmarshal([]byte(v.Get("layerQueries")), &lq); err != nil {
		t.Fatalf("layerQueries %q: %v", v.Get("layerQueries"), err)
	}
	return lq[strconv.Itoa(id)]
}

// count returns the rows of a service layer in the package.
func (r *paramRun) count(t *testing.T, svcURL string, id int) int64 {
	t.Helper()
	ml := r.pkg.Layer(LayerKey(svcURL, id))
	if ml == nil || ml.Store == "" {
		return -1
	}
	db, err := r.pkg.OpenGeodatabase(context.Background(), ml.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.Count(context.Background(), geodb.Query{LayerID: id})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *paramRun) attachments(t *testing.T) int {
	t.Helper()
	ml := r.pkg.Layer(LayerKey(r.fs(), 0))
	db, err := r.pkg.OpenGeodatabase(context.Background(), ml.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	as, err := db.Attachments(context.Background(), 0, "")
	if err != nil {
		return 0
	}
	return len(as)
}

var tilePath = regexp.MustCompile(`/tile/(\d+)/`)

// tileLevels returns the levels of tiles requested from a service.
func (r *paramRun) tileLevels(svc string) []int {
	set := map[int]bool{}
	for _, en := range r.e.em.Log().Matching("/" + svc + "/") {
		if m := tilePath.FindStringSubmatch(en.Path); m != nil {
			n, _ := strconv.Atoi(m[1])
			set[n] = true
		}
		// Levels asked of exportTiles (the default for raster layers).
		if strings.HasSuffix(en.Path, "/exportTiles") {
			for _, l := range strings.Split(en.Query.Get("levels"), ",") {
				lo, hi, isRange := strings.Cut(strings.TrimSpace(l), "-")
				if !isRange {
					hi = lo
				}
				a, err1 := strconv.Atoi(lo)
				b, err2 := strconv.Atoi(hi)
				for n := a; err1 == nil && err2 == nil && n <= b; n++ {
					set[n] = true
				}
			}
		}
	}
	out := []int{}
	for l := range set {
		out = append(out, l)
	}
	sort.Ints(out)
	return out
}

// storeLevels returns the zoom levels stored in an MBTiles of the package.
func (r *paramRun) storeLevels(t *testing.T, k Key) []int {
	t.Helper()
	ml := r.pkg.Layer(k)
	if ml == nil || ml.Store == "" {
		return nil
	}
	db := openReadOnly(t, r.pkg.Path(ml.Store))
	defer db.Close()
	rows, err := db.Query(`SELECT DISTINCT zoom_level FROM tiles ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var z int
		rows.Scan(&z)
		out = append(out, z)
	}
	return out
}

func smallArea() *arcgis.Geometry {
	return wgs84Box(-117.25, 33.98, -117.19, 34.03)
}

// mapHas finds a layer of map.json by its original key (offline layers
// carry it in offlineStore, online ones keep their URL).
func (r *paramRun) mapHas(k Key) (string, bool) {
	for _, en := range r.pkg.Map.Entries() {
		var ref struct {
			Key Key `json:"key"`
		}
		if raw, ok := en.Layer.Extra["offlineStore"]; ok {
			json.Unmarshal(raw, &ref)
		}
		if en.Key == k || ref.Key == k {
			return en.Layer.URL, true
		}
	}
	return "", false
}

func TestJobParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator job runs")
	}
	skipUnderRace(t)
	// The default run every case compares with.
	base := runWith(t, runSpec{})
	baseInsp := base.count(t, base.fs(), 0)
	if baseInsp != int64(base.e.em.FeatureCount("Field_Survey", 0)) {
		t.Fatalf("baseline inspections %d", baseInsp)
	}
	if got := base.tileLevels("Demo_Basemap"); fmt.Sprint(got) != "[12 13]" {
		t.Fatalf("baseline basemap levels %v", got)
	}
	if _, ok := base.mapHas(base.key("Dynamic_Layers/MapServer")); ok {
		t.Errorf("dynamic layer kept with onlineOnly exclude")
	}

	t.Run("areaOfInterest", func(t *testing.T) {
		r := runWith(t, runSpec{params: func(p *Parameters) { p.AreaOfInterest = smallArea() }})
		if g := r.createReplica(t, "Field_Survey").Get("geometry"); !strings.Contains(g, "-117.19") {
			t.Errorf("createReplica geometry %s", g)
		}
		if n := r.count(t, r.fs(), 0); n <= 0 || n >= baseInsp {
			t.Errorf("inspections in the small area %d (whole area %d)", n, baseInsp)
		}
		small, whole := r.pkg.Layer(r.key("Demo_Basemap/MapServer")).Tiles, base.pkg.Layer(base.key("Demo_Basemap/MapServer")).Tiles
		if small <= 0 || small >= whole {
			t.Errorf("basemap tiles %d (whole area %d)", small, whole)
		}
		if !strings.Contains(string(r.pkg.Manifest.AreaOfInterest), "-117.19") {
			t.Errorf("manifest area %s", r.pkg.Manifest.AreaOfInterest)
		}
	})

	t.Run("scales", func(t *testing.T) {
		r := runWith(t, runSpec{noFeatures: true, params: func(p *Parameters) { p.MinScale, p.MaxScale = 150000, 140000 }})
		if got := r.tileLevels("Demo_Basemap"); fmt.Sprint(got) != "[12]" {
			t.Errorf("requested levels %v", got)
		}
		if got := r.storeLevels(t, r.key("Demo_Basemap/MapServer")); fmt.Sprint(got) != "[12]" {
			t.Errorf("stored levels %v", got)
		}
	})

	t.Run("includeBasemap=false", func(t *testing.T) {
		r := runWith(t, runSpec{noFeatures: true, params: func(p *Parameters) { p.IncludeBasemap = false }})
		if n := r.e.em.Log().Count("/Demo_Basemap/MapServer/tile/"); n != 0 {
			t.Errorf("%d basemap tile requests", n)
		}
		if taken(r.pkg, r.key("Demo_Basemap/MapServer")) {
			t.Errorf("basemap in the package")
		}
		if _, ok := r.mapHas(r.key("Demo_Basemap/MapServer")); ok {
			t.Errorf("basemap in map.json")
		}
	})

	t.Run("referenceBasemap", func(t *testing.T) {
		dev := t.TempDir()
		b, err := os.ReadFile(base.pkg.Path(base.pkg.Layer(base.key("Demo_Basemap/MapServer")).Store))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dev, "city.mbtiles"), b, 0o644)
		r := runWith(t, runSpec{noFeatures: true, params: func(p *Parameters) {
			p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = dev, "city.mbtiles"
		}})
		if n := r.e.em.Log().Count("/Demo_Basemap/MapServer/tile/"); n != 0 {
			t.Errorf("%d basemap tile requests with a reference basemap", n)
		}
		// Recorded inside the package (a link to the device's file), so the
		// package's tile layers include it.
		l := r.pkg.Layer(r.key("Demo_Basemap/MapServer"))
		if l == nil || l.Kind != KindReferenceBasemap || l.Store != "tiles/referenceBasemap.mbtiles" || l.ReferenceFile != filepath.Join(dev, "city.mbtiles") {
			t.Errorf("basemap entry %+v", l)
		}
		if u, _ := r.mapHas(r.key("Demo_Basemap/MapServer")); u != "tiles/referenceBasemap.mbtiles" {
			t.Errorf("map.json basemap url %q", u)
		}
		pi, err1 := os.Stat(r.pkg.Path(l.Store))
		di, err2 := os.Stat(filepath.Join(dev, "city.mbtiles"))
		if err1 != nil || err2 != nil || !os.SameFile(pi, di) {
			t.Errorf("the package's reference basemap is not the device's file: %v %v", err1, err2)
		}
		// Not covering: validation names it before any server work.
		e := newJobEnv(t, emulator.Options{})
		p := e.params(t)
		p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = dev, "city.mbtiles"
		far := -100.0
		p.AreaOfInterest = &arcgis.Geometry{XMin: &far, YMin: ptr(40.0), XMax: ptr(-99.9), YMax: ptr(40.1), SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
		o := e.overrides(t, p)
		e.em.Log().Reset()
		_, err = e.run(t, p, o, filepath.Join(t.TempDir(), "x"))
		if !HasCode(err, ErrReferenceBasemapCoverage) {
			t.Errorf("not covering: %v", err)
		}
		if n := e.em.Log().Count("/createReplica"); n != 0 {
			t.Errorf("server work before validation failed")
		}
	})

	t.Run("onlineOnlyServicesOption=include", func(t *testing.T) {
		r := runWith(t, runSpec{noFeatures: true, noTiles: true, params: func(p *Parameters) { p.OnlineOnlyServicesOption = OnlineOnlyInclude }})
		l := r.pkg.Layer(r.key("Dynamic_Layers/MapServer"))
		if l == nil || l.Kind != KindOnlineOnly || l.Store != "" {
			t.Fatalf("dynamic layer %+v", l)
		}
		if u, ok := r.mapHas(r.key("Dynamic_Layers/MapServer")); !ok || !strings.HasPrefix(u, "http") {
			t.Errorf("map.json dynamic layer %q %v", u, ok)
		}
		if r.res.HasErrors {
			t.Errorf("online-only layers counted as errors: %+v", r.res.LayerErrors)
		}
		if n := r.e.em.Log().Count("/Dynamic_Layers/MapServer/export"); n != 0 {
			t.Errorf("online-only layer exported")
		}
	})

	t.Run("updateMode=noUpdates", func(t *testing.T) {
		r := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) { p.UpdateMode = UpdateNoUpdates }})
		if m := r.createReplica(t, "Field_Survey").Get("syncModel"); m != "none" {
			t.Errorf("syncModel %q", m)
		}
		if l := r.pkg.Layer(LayerKey(r.fs(), 0)); l.Replica != nil || l.Features != baseInsp {
			t.Errorf("inspections %+v", l)
		}
	})

	t.Run("definitionExpressionFilterEnabled=false", func(t *testing.T) {
		if w := layerQuery(t, base.createReplica(t, "Field_Survey"), 1)["where"]; w != "Status <> 'closed'" {
			t.Fatalf("baseline pipes where %v", w)
		}
		r := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) { p.DefinitionExpressionFilterEnabled = false }})
		if w, _ := layerQuery(t, r.createReplica(t, "Field_Survey"), 1)["where"].(string); w != "" && w != "1=1" {
			t.Errorf("pipes where %q", w)
		}
		all, filtered := r.count(t, r.fs(), 1), base.count(t, base.fs(), 1)
		if all != int64(r.e.em.FeatureCount("Field_Survey", 1)) || filtered >= all {
			t.Errorf("pipes %d unfiltered, %d filtered, server %d", all, filtered, r.e.em.FeatureCount("Field_Survey", 1))
		}
	})

	t.Run("destinationTableRowFilter", func(t *testing.T) {
		related := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) { p.AreaOfInterest = smallArea() }})
		all := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) {
			p.AreaOfInterest = smallArea()
			p.DestinationTableRowFilter = RowFilterAll
		}})
		if q := layerQuery(t, related.createReplica(t, "Field_Survey"), 3)["queryOption"]; q != "none" {
			t.Errorf("relatedOnly table queryOption %v", q)
		}
		if q := layerQuery(t, all.createReplica(t, "Field_Survey"), 3)["queryOption"]; q != "all" {
			t.Errorf("all table queryOption %v", q)
		}
		nr, na := related.count(t, related.fs(), 3), all.count(t, all.fs(), 3)
		if nr <= 0 || na != int64(all.e.em.FeatureCount("Field_Survey", 3)) || nr >= na {
			t.Errorf("notes: relatedOnly %d, all %d (server %d)", nr, na, all.e.em.FeatureCount("Field_Survey", 3))
		}
		// includeTableRows=false: no rows of their own (related rows only).
		none := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) {
			p.AreaOfInterest = smallArea()
			p.DestinationTableRowFilter = RowFilterAll
			p.IncludeTableRows = false
		}})
		if q := layerQuery(t, none.createReplica(t, "Field_Survey"), 3)["queryOption"]; q != "none" {
			t.Errorf("includeTableRows=false queryOption %v", q)
		}
		if n := none.count(t, none.fs(), 3); n != nr {
			t.Errorf("includeTableRows=false: %d notes, want the %d related ones", n, nr)
		}
	})

	// The seed's four attachment workflows.
	for _, wf := range []struct {
		name    string
		opt     AttachmentOption
		dir     AttachmentSyncDirection
		ret     string
		syncDir string
		has     bool
	}{
		{"workflow1-all-bidirectional", AttachmentsAllLayers, AttachmentSyncBidirectional, "true", "bidirectional", true},
		{"workflow2-readOnly-bidirectional", AttachmentsReadOnlyLayers, AttachmentSyncBidirectional, "false", "upload", false},
		{"workflow3-editable-bidirectional", AttachmentsEditableLayers, AttachmentSyncBidirectional, "true", "bidirectional", true},
		{"workflow4-none-upload", AttachmentsNone, AttachmentSyncUpload, "false", "upload", false},
	} {
		t.Run(wf.name, func(t *testing.T) {
			r := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) {
				p.ReturnLayerAttachmentOption, p.AttachmentSyncDirection = wf.opt, wf.dir
			}})
			v := r.createReplica(t, "Field_Survey")
			if v.Get("returnAttachments") != wf.ret || v.Get("attachmentsSyncDirection") != wf.syncDir {
				t.Errorf("returnAttachments=%s attachmentsSyncDirection=%s", v.Get("returnAttachments"), v.Get("attachmentsSyncDirection"))
			}
			if n := r.attachments(t); (n > 0) != wf.has {
				t.Errorf("%d attachments in the package", n)
			}
		})
	}

	t.Run("returnSchemaOnlyForEditableLayers", func(t *testing.T) {
		r := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) { p.ReturnSchemaOnlyForEditableLayers = true }})
		v := r.createReplica(t, "Field_Survey")
		for _, id := range []int{0, 1, 2, 3} {
			if q := layerQuery(t, v, id)["queryOption"]; q != "none" {
				t.Errorf("layer %d queryOption %v", id, q)
			}
			if n := r.count(t, r.fs(), id); n != 0 {
				t.Errorf("layer %d has %d rows", id, n)
			}
		}
		if n := r.count(t, r.ref(), 0); n <= 0 {
			t.Errorf("read-only zones emptied too (%d)", n)
		}
	})

	t.Run("syncDataOptions", func(t *testing.T) {
		r := runWith(t, runSpec{noTiles: true, params: func(p *Parameters) { p.SyncDataOptions = 0x7fffffff }})
		g := r.o.GenerateGeodatabase[ServiceKey(r.fs())]
		v := r.createReplica(t, "Field_Survey")
		if g.SyncDataOptions != 0 && !strings.Contains(v.Get("replicaOptions")+v.Get("syncDataOptions"), strconv.Itoa(g.SyncDataOptions)) {
			t.Errorf("syncDataOptions %d not sent: %v", g.SyncDataOptions, v)
		}
		if g.SyncDataOptions == 0 && (v.Get("replicaOptions") != "" || v.Get("syncDataOptions") != "") {
			t.Errorf("syncDataOptions sent for a service that supports none: %v", v)
		}
	})

	t.Run("itemInfo", func(t *testing.T) {
		thumb := filepath.Join(t.TempDir(), "crew.png")
		os.WriteFile(thumb, []byte("\x89PNG\r\n\x1a\nfake"), 0o644)
		r := runWith(t, runSpec{noTiles: true, noFeatures: true, params: func(p *Parameters) {
			p.ItemInfo = &ItemInfo{Title: "Crew 7 area", Snippet: "north blocks", Description: "d", Tags: []string{"crew7"}, ThumbnailFile: thumb}
		}})
		if r.pkg.Manifest.Title != "Crew 7 area" || r.pkg.ItemInfo.Snippet != "north blocks" || r.pkg.ItemInfo.Thumbnail != "thumbnail.png" {
			t.Errorf("item info %+v / %s", r.pkg.ItemInfo, r.pkg.Manifest.Title)
		}
		if b, _ := os.ReadFile(filepath.Join(r.dir, "thumbnail.png")); !strings.HasSuffix(string(b), "fake") {
			t.Errorf("thumbnail not copied")
		}
		if n := r.e.em.Log().Count("/info/thumbnail"); n != 0 {
			t.Errorf("portal thumbnail fetched despite the override")
		}
	})
}

func ptr(v float64) *float64 { return &v }

func TestJobOverrides(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator job runs")
	}
	skipUnderRace(t)
	t.Run("layerOptions", func(t *testing.T) {
		r := runWith(t, runSpec{noTiles: true,
			params: func(p *Parameters) { p.AreaOfInterest = smallArea() },
			overrides: func(r *paramRun, o *Overrides) {
				g := o.GenerateGeodatabase[ServiceKey(r.fs())]
				g.LayerOption(0).QueryOption, g.LayerOption(0).UseGeometry = QueryAll, false
				g.LayerOption(1).WhereClause = "Diameter >= 300"
				g.LayerOption(0).IncludeRelated = false
				g.LayerOption(3).IncludeRelated = false
			}})
		v := r.createReplica(t, "Field_Survey")
		q0, q1 := layerQuery(t, v, 0), layerQuery(t, v, 1)
		if q0["queryOption"] != "all" || q0["useGeometry"] != false || q0["includeRelated"] != false {
			t.Errorf("layer 0 query %v", q0)
		}
		if q1["where"] != "Diameter >= 300" {
			t.Errorf("layer 1 query %v", q1)
		}
		if n := r.count(t, r.fs(), 0); n != int64(r.e.em.FeatureCount("Field_Survey", 0)) {
			t.Errorf("queryOption all without geometry: %d inspections, server %d", n, r.e.em.FeatureCount("Field_Survey", 0))
		}
		big, _ := r.e.em.Features("Field_Survey", 1, "Diameter >= 300")
		if n := r.count(t, r.fs(), 1); n <= 0 || n > int64(len(big)) {
			t.Errorf("pipes with the where clause: %d (server matches %d in total)", n, len(big))
		}
		if n := r.count(t, r.fs(), 3); n != 0 {
			t.Errorf("notes without includeRelated: %d", n)
		}
	})

	t.Run("replica settings", func(t *testing.T) {
		r := runWith(t, runSpec{noTiles: true, overrides: func(r *paramRun, o *Overrides) {
			g := o.GenerateGeodatabase[ServiceKey(r.fs())]
			g.ReturnAttachments, g.AttachmentSyncDirection = false, AttachmentSyncNone
			g.SyncModel = SyncModelPerReplica
			g.Extent = smallArea()
			g.OutSpatialReference = &arcgis.SpatialReference{WKID: 4326}
		}})
		v := r.createReplica(t, "Field_Survey")
		if v.Get("returnAttachments") != "false" || v.Get("attachmentsSyncDirection") != "none" || v.Get("syncModel") != "perReplica" ||
			!strings.Contains(v.Get("geometry"), "-117.19") || !strings.Contains(v.Get("replicaSR")+v.Get("replicaSpatialReference"), "4326") {
			t.Errorf("createReplica %v", v)
		}
		if n := r.attachments(t); n != 0 {
			t.Errorf("%d attachments", n)
		}
		l := r.pkg.Layer(LayerKey(r.fs(), 0))
		if l.Replica == nil || l.Replica.SyncModel != SyncModelPerReplica {
			t.Errorf("manifest replica %+v", l.Replica)
		}
		full := r.e.em.FeatureCount("Field_Survey", 0)
		if n := r.count(t, r.fs(), 0); n <= 0 || n >= int64(full) {
			t.Errorf("extent override: %d of %d inspections", n, full)
		}
		db := openReadOnly(t, r.pkg.Path(l.Store))
		defer db.Close()
		var srs int
		db.QueryRow(`SELECT srs_id FROM gpkg_geometry_columns WHERE table_name='Inspections'`).Scan(&srs)
		if srs != 4326 {
			t.Errorf("Inspections srs_id %d, want 4326", srs)
		}
		validateGeoPackages(t, r.dir)
	})

	t.Run("remove layer and vector tiles", func(t *testing.T) {
		var vector Key
		r := runWith(t, runSpec{overrides: func(r *paramRun, o *Overrides) {
			o.GenerateGeodatabase[ServiceKey(r.fs())].RemoveLayer(2)
			vector = ServiceKey(r.e.em.ServicesURL + "/Demo_Vector/VectorTileServer")
			delete(o.ExportVectorTiles, vector)
		}})
		v := r.createReplica(t, "Field_Survey")
		if layerQuery(t, v, 2) != nil || strings.Contains(v.Get("layers"), "2") {
			t.Errorf("removed layer 2 requested: layers=%s", v.Get("layers"))
		}
		if taken(r.pkg, LayerKey(r.fs(), 2)) {
			t.Errorf("removed layer in the package")
		}
		if _, ok := r.mapHas(LayerKey(r.fs(), 2)); ok {
			t.Errorf("removed layer in map.json")
		}
		if n := r.e.em.Log().Count("/Demo_Vector/VectorTileServer/tile/"); n != 0 || taken(r.pkg, vector) {
			t.Errorf("removed vector layer: %d tile requests", n)
		}
	})

	t.Run("exportTileCache", func(t *testing.T) {
		var basemap Key
		r := runWith(t, runSpec{noFeatures: true, overrides: func(r *paramRun, o *Overrides) {
			basemap = ServiceKey(r.e.em.ServicesURL + "/Demo_Basemap/MapServer")
			et := o.ExportTileCache[basemap]
			et.LevelIDs = []int{13}
			et.AreaOfInterest = smallArea()
			o.ExportVectorTiles = map[Key]*ExportVectorTilesParameters{}
		}})
		if got := r.tileLevels("Demo_Basemap"); fmt.Sprint(got) != "[13]" {
			t.Errorf("levels requested %v", got)
		}
		if got := r.storeLevels(t, basemap); fmt.Sprint(got) != "[13]" {
			t.Errorf("levels stored %v", got)
		}
		// compressionQuality goes through the service's exportTiles job.
		x := runWith(t, runSpec{noFeatures: true, overrides: func(r *paramRun, o *Overrides) {
			et := o.ExportTileCache[r.key("Demo_Basemap/MapServer")]
			et.LevelIDs, et.CompressionQuality = []int{12}, 60
			o.ExportVectorTiles = map[Key]*ExportVectorTilesParameters{}
		}})
		var ex []emulator.RequestEntry
		for _, en := range x.e.em.Log().Matching("/Demo_Basemap/MapServer/exportTiles") {
			if strings.HasSuffix(en.Path, "/exportTiles") {
				ex = append(ex, en)
			}
		}
		if len(ex) != 1 || ex[0].Query.Get("compressionQuality") != "60" || ex[0].Query.Get("levels") != "12" {
			t.Fatalf("exportTiles requests %+v", ex)
		}
		if n := x.e.em.Log().Count("/Demo_Basemap/MapServer/tile/"); n != 0 {
			t.Errorf("%d direct tile requests on the export path", n)
		}
		if l := x.pkg.Layer(x.key("Demo_Basemap/MapServer")); l == nil || l.Tiles == 0 {
			t.Errorf("exported basemap %+v", l)
		}
	})

	t.Run("exportVectorTiles", func(t *testing.T) {
		var vector Key
		r := runWith(t, runSpec{noFeatures: true, overrides: func(r *paramRun, o *Overrides) {
			o.ExportTileCache = map[Key]*ExportTileCacheParameters{}
			vector = ServiceKey(r.e.em.ServicesURL + "/Demo_Vector/VectorTileServer")
			o.ExportVectorTiles[vector].MaxLevel = 10
		}})
		got := r.tileLevels("Demo_Vector")
		if len(got) == 0 || got[len(got)-1] != 10 {
			t.Errorf("vector levels requested %v", got)
		}
		if st := r.storeLevels(t, vector); len(st) == 0 || st[len(st)-1] != 10 {
			t.Errorf("vector levels stored %v", st)
		}
		// The area override: at level 14 a smaller area needs fewer tiles.
		count := func(area bool) (int, int64) {
			x := runWith(t, runSpec{noFeatures: true, overrides: func(r *paramRun, o *Overrides) {
				o.ExportTileCache = map[Key]*ExportTileCacheParameters{}
				v := o.ExportVectorTiles[r.key("Demo_Vector/VectorTileServer")]
				v.MaxLevel = 14
				if area {
					v.AreaOfInterest = smallArea()
				}
			}})
			return x.e.em.Log().Count("/Demo_Vector/VectorTileServer/tile/"), x.pkg.Layer(x.key("Demo_Vector/VectorTileServer")).Tiles
		}
		wholeReq, wholeTiles := count(false)
		partReq, partTiles := count(true)
		if partReq == 0 || partReq >= wholeReq || partTiles == 0 || partTiles >= wholeTiles {
			t.Errorf("vector tiles: small area %d requested / %d stored, whole area %d / %d", partReq, partTiles, wholeReq, wholeTiles)
		}
	})

	t.Run("onlineLayers", func(t *testing.T) {
		var dynamic Key
		r := runWith(t, runSpec{noFeatures: true, noTiles: true,
			params: func(p *Parameters) { p.OnlineOnlyServicesOption = OnlineOnlyInclude },
			overrides: func(r *paramRun, o *Overrides) {
				dynamic = ServiceKey(r.e.em.ServicesURL + "/Dynamic_Layers/MapServer")
				var keep []Key
				for _, k := range o.OnlineLayers {
					if k != dynamic {
						keep = append(keep, k)
					}
				}
				o.OnlineLayers = keep
			}})
		if _, ok := r.mapHas(dynamic); ok || taken(r.pkg, dynamic) {
			t.Errorf("online layer removed from the overrides is still in the package")
		}
	})
}

// skipUnderRace skips the parameter/override effect tests under -race:
// they are about what is requested, not about concurrency (the job's
// concurrency is raced by the package, kill, continueOnErrors and
// cancel/pause/needsAuth tests), and together they would take the race
// run past its time budget. OFFLINED_RACE_ALL=1 runs them anyway.
func skipUnderRace(t *testing.T) {
	if raceEnabled && os.Getenv("OFFLINED_RACE_ALL") == "" {
		t.Skip("parameter effects run without -race (OFFLINED_RACE_ALL=1 to include)")
	}
}
