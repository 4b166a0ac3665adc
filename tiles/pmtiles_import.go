package tiles

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
)

// ImportPMTiles copies the tiles of a local PMTiles archive that cover aoi
// (every zoom of the archive) into st, as `pmtiles extract` would, and
// finalises the store. It resumes: tiles already in st are not read again.
func ImportPMTiles(ctx context.Context, path string, st *Store, aoi AOI, opt DownloadOptions) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	p, err := OpenPMTiles(ctx, FileRange{F: f})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	ss := &StyleSource{Name: "pmtiles", Type: "raster", MinZoom: int(p.Header.MinZoom), MaxZoom: int(p.Header.MaxZoom), Format: p.Format(), archive: p}
	if p.Vector() {
		ss.Type = "vector"
	}
	if b := p.Bounds(); b[0] < b[2] && b[1] < b[3] {
		ss.Bounds = &b
	}
	levels := make([]int, 0, ss.MaxZoom-ss.MinZoom+1)
	for z := ss.MinZoom; z <= ss.MaxZoom; z++ {
		levels = append(levels, z)
	}
	covers, err := ss.Cover(aoi, levels)
	if err != nil {
		return 0, err
	}
	if err := st.Configure(ctx, ss.Scheme(), ss.Format); err != nil {
		return 0, err
	}
	if _, err := Download(ctx, st, p, covers, opt); err != nil {
		return 0, err
	}
	var bounds *[4]float64
	if b, err := aoi.WGS84Bounds(); err == nil {
		bounds = &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}
	}
	if p.Vector() {
		layers, _, err := scanVectorLayers(ctx, st)
		if err != nil {
			return 0, err
		}
		if layers == nil {
			layers = []map[string]any{}
		}
		meta, _ := json.Marshal(map[string]any{"vector_layers": layers})
		if err := st.SetMetadata(ctx, map[string]string{"json": string(meta), "type": "overlay"}); err != nil {
			return 0, err
		}
	}
	if err := st.Finalize(ctx, "referenceBasemap", bounds); err != nil {
		return 0, err
	}
	n, _, err := st.Count(ctx)
	return n, err
}
