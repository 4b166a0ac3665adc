package tiles

import (
	"context"
	"fmt"
	"html"
	"net/http"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

func (s *Tiles) registerVectorExport(base string, vs *vectorService) {
	s.router.HandleFunc(base+"/exportTiles", s.authed(func(w http.ResponseWriter, r *http.Request) {
		req, ok := acceptExport(w, r, vs.opt.ExportTilesAllowed, vs.name, vs.grid, vs.data)
		if !ok {
			return
		}
		j := s.tiles.jobs.submit("_et", req.inputs, func(ctx context.Context, j *gpJob) error {
			return s.runVectorExport(ctx, j, vs, req)
		})
		rest.WriteJSON(w, http.StatusOK, map[string]any{"jobId": j.id, "jobStatus": arcgis.JobSubmitted})
	}))
	s.registerJobRoutes(base+"/exportTiles/jobs", base+"/jobs")
}

func (s *Tiles) runVectorExport(ctx context.Context, j *gpJob, vs *vectorService, req exportRequest) error {
	if s.tileJobsFail() {
		return errInjected()
	}
	covers := make([][]rowCover, len(req.levels))
	total := 0
	for i, level := range req.levels {
		covers[i] = coverLevel(vs.grid, level, req.area, vs.data)
		total += countCover(level, covers[i], nil)
	}
	return s.writeExport(j, req.levels, total, vs.maxExport, vs.name, "VectorTileServer", "vector tiles", vs.name+".vtpk",
		func(path, dir string) error { return s.writeVTPK(ctx, vs, path, dir, req.levels, covers) })
}

// writeVTPK writes a vector tile package: esriinfo/iteminfo.xml,
// esriinfo/item.pkinfo, p12/root.json, p12/metadata.json, the style,
// sprites, the 0-255 glyph range of each font stack, and
// p12/tilemap/root.json (presence quadtree) and
// p12/tile/L{zz}/R{rrrr}C{cccc}.bundle with gzip MVT tiles.
func (s *Tiles) writeVTPK(ctx context.Context, vs *vectorService, path, tmpDir string, levels []int, covers [][]rowCover) (err error) {
	p, err := newPkgWriter(path, tmpDir)
	if err != nil {
		return err
	}
	defer p.finish(&err)
	b := vs.opt.DataBounds
	item := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<ESRI_ItemInformation Culture="en-US">
  <name>%s</name>
  <guid>%016x</guid>
  <description>Vector tiles exported by the offlined ArcGIS emulator</description>
  <tags>offlined,emulator</tags>
  <accessinformation>offlined emulator</accessinformation>
  <licenseinfo></licenseinfo>
  <extent><xmin>%g</xmin><ymin>%g</ymin><xmax>%g</xmax><ymax>%g</ymax></extent>
</ESRI_ItemInformation>
`, html.EscapeString(vs.name), tileHash(7, tileKey{levels[0], len(levels), 0}), b.Min[0], b.Min[1], b.Max[0], b.Max[1])
	if err := p.addBytes("esriinfo/iteminfo.xml", []byte(item)); err != nil {
		return err
	}
	pkinfo := `<?xml version="1.0" encoding="utf-8"?>
<pkinfo Culture="en-US"><ID>` + html.EscapeString(vs.name) + `</ID><name>` + html.EscapeString(vs.name) + `</name><version>2.0</version><packagelocation></packagelocation></pkinfo>
`
	if err := p.addBytes("esriinfo/item.pkinfo", []byte(pkinfo)); err != nil {
		return err
	}
	root := vs.rootJSON()
	root["minLOD"], root["maxLOD"], root["maxzoom"] = levels[0], levels[len(levels)-1], levels[len(levels)-1]
	if err := p.addJSON("p12/root.json", root); err != nil {
		return err
	}
	if err := p.addJSON("p12/metadata.json", map[string]any{"name": vs.name, "minzoom": levels[0], "maxzoom": levels[len(levels)-1]}); err != nil {
		return err
	}
	if err := p.addJSON("p12/resources/styles/root.json", vs.styleJSON()); err != nil {
		return err
	}
	if err := p.addJSON("p12/resources/info/root.json", map[string]any{"resourceInfo": []string{"styles/root.json"}}); err != nil {
		return err
	}
	sheets, err := s.tiles.spriteSheets()
	if err != nil {
		return err
	}
	for ratio, suffix := range map[int]string{1: "", 2: "@2x"} {
		if err := p.addBytes("p12/resources/sprites/sprite"+suffix+".json", sheets[ratio].json); err != nil {
			return err
		}
		if err := p.addBytes("p12/resources/sprites/sprite"+suffix+".png", sheets[ratio].png); err != nil {
			return err
		}
	}
	for _, fs := range fontStacks {
		if err := p.addBytes("p12/resources/fonts/"+fs+"/0-255.pbf", glyphPBF(fs, 0, 255)); err != nil {
			return err
		}
	}
	if err := p.addJSON("p12/tilemap/root.json", vtpkTilemap(levels, covers)); err != nil {
		return err
	}
	tile := func(k tileKey) ([]byte, error) { return s.vectorTile(vs, k) }
	return p.addBundles(ctx, "p12/tile/", levels, covers, nil, tile)
}
