package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// VectorTileService is a VectorTileServer root resource.
type VectorTileService struct {
	ServiceInfo
	TileCache
	Name          string   `json:"name,omitempty"`
	Capabilities  string   `json:"capabilities,omitempty"`
	Type          string   `json:"type,omitempty"` // indexedVector, indexedFlat
	TileMap       string   `json:"tileMap,omitempty"`
	DefaultStyles string   `json:"defaultStyles,omitempty"`
	Tiles         []string `json:"tiles"`
	MaxZoom       *int     `json:"maxzoom,omitempty"`
	ResourceInfo  *struct {
		StyleVersion    int    `json:"styleVersion,omitempty"`
		TileCompression string `json:"tileCompression,omitempty"`
		CacheInfo       *struct {
			StorageInfo *StorageInfo `json:"storageInfo,omitempty"`
		} `json:"cacheInfo,omitempty"`
	} `json:"resourceInfo,omitempty"`
}

// Storage returns the cache storage info from resourceInfo, falling back
// to tileInfo keys.
func (v *VectorTileService) Storage() StorageInfo {
	var s StorageInfo
	if v.ResourceInfo != nil && v.ResourceInfo.CacheInfo != nil && v.ResourceInfo.CacheInfo.StorageInfo != nil {
		s = *v.ResourceInfo.CacheInfo.StorageInfo
	}
	return v.storage(s)
}

// TileTemplate returns the tile URL template relative to the service
// (default "tile/{z}/{y}/{x}.pbf").
func (v *VectorTileService) TileTemplate() string {
	if len(v.Tiles) > 0 && v.Tiles[0] != "" {
		return v.Tiles[0]
	}
	return "tile/{z}/{y}/{x}.pbf"
}

// VectorTileService fetches a VectorTileServer root JSON.
func (c *Client) VectorTileService(ctx context.Context, svcURL string) (*VectorTileService, error) {
	return getResource[VectorTileService](ctx, c, "vector tile service", svcURL, requireKeys("vector tile service JSON (tiles, tileInfo)", "tiles", "tileInfo"))
}

// VectorTileStyle fetches resources/styles/root.json (a Mapbox GL style).
func (c *Client) VectorTileStyle(ctx context.Context, svcURL string) (json.RawMessage, error) {
	var raw json.RawMessage
	u := joinURL(svcURL, "resources", "styles", "root.json")
	if err := c.getJSON(ctx, "style", u, nil, &raw, requireKeys("style (version, sources, layers)", "layers", "sources")); err != nil {
		return nil, fmt.Errorf("style of %s: %w", svcURL, err)
	}
	return raw, nil
}

// Sprite fetches the sprite index (JSON) and image (PNG); hiDPI selects
// the @2x pair.
func (c *Client) Sprite(ctx context.Context, svcURL string, hiDPI bool) (json.RawMessage, []byte, error) {
	base := joinURL(svcURL, "resources", "sprites", "sprite")
	if hiDPI {
		base += "@2x"
	}
	var index json.RawMessage
	if err := c.getJSON(ctx, "sprite", base+".json", nil, &index, nil); err != nil {
		return nil, nil, fmt.Errorf("sprite of %s: %w", svcURL, err)
	}
	rc, _, err := c.GetRaw(ctx, base+".png", nil)
	if err != nil {
		return nil, nil, fmt.Errorf("sprite image of %s: %w", svcURL, err)
	}
	defer rc.Close()
	png, err := io.ReadAll(io.LimitReader(rc, maxTileBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("sprite image of %s: %w", svcURL, err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		return nil, nil, &UnexpectedResponseError{Op: "sprite", URL: base + ".png", Want: "PNG image", Body: snippet(png)}
	}
	return index, png, nil
}

// Glyphs fetches resources/fonts/{fontstack}/{start}-{start+255}.pbf.
func (c *Client) Glyphs(ctx context.Context, svcURL, fontstack string, start int) ([]byte, error) {
	start -= start % 256
	rng := strconv.Itoa(start) + "-" + strconv.Itoa(start+255) + ".pbf"
	u := joinURL(svcURL, "resources", "fonts", url.PathEscape(fontstack), rng)
	t, err := c.fetchTile(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("glyphs %s %s: %w", fontstack, rng, err)
	}
	return t.Data, nil
}

// VectorTile fetches tile/{z}/{y}/{x}.pbf (note: row before column), or
// the service's own tile template when v is given. A missing tile is a
// *TileAbsentError.
func (c *Client) VectorTile(ctx context.Context, svcURL string, v *VectorTileService, z, y, x int) (*Tile, error) {
	tpl := "tile/{z}/{y}/{x}.pbf"
	if v != nil {
		tpl = v.TileTemplate()
	}
	rel := strings.NewReplacer("{z}", itoa(z), "{y}", itoa(y), "{x}", itoa(x)).Replace(tpl)
	return c.fetchTile(ctx, joinURL(svcURL, rel))
}

// ExportVectorTiles submits a VectorTileServer exportTiles job (levels,
// exportExtent or polygon). Not retried after it may have reached the
// server. The status is polled at svcURL/jobs/{jobId} unless the server
// names a status URL.
func (c *Client) ExportVectorTiles(ctx context.Context, svcURL string, p ExportTilesParams) (*JobSubmission, error) {
	return c.exportJob(ctx, "export vector tiles", svcURL, "exportTiles", svcURL, p, false, false)
}
