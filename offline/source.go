package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/offlined/offlined/internal/arcgis"
)

// Portal is what the offline task needs from an ArcGIS portal. The REST
// client (internal/arcgis) satisfies it through a thin adapter.
type Portal interface {
	// Item returns the item resource /sharing/rest/content/items/{id}.
	Item(ctx context.Context, id string) (*Item, error)
	// ItemData decodes the item's /data JSON into v.
	ItemData(ctx context.Context, id string, v any) error
}

// Services is what the offline task needs from ArcGIS services. Errors that
// ArcGIS reported in a body should keep their code reachable through
// errors.As to a type with an ErrorCode() int method (see ErrorCode), and
// HTTP failures through one with HTTPStatus() int, so capabilities can tell
// access denied from unreachable.
type Services interface {
	// FeatureService returns GET {url}?f=json of a FeatureServer (or a
	// MapServer read as a feature source).
	FeatureService(ctx context.Context, url string) (*arcgis.FeatureService, error)
	// Layer returns GET {serviceURL}/{id}?f=json.
	Layer(ctx context.Context, serviceURL string, id int) (*arcgis.Layer, error)
	// TileService returns GET {url}?f=json of a MapServer, ImageServer or
	// VectorTileServer.
	TileService(ctx context.Context, url string) (*TileService, error)
	// JSON decodes any other JSON document at url (a vector tile style, a
	// web map JSON URL) into v.
	JSON(ctx context.Context, url string, v any) error
}

// Item is the subset of a portal item offlined reads.
type Item struct {
	ID                string      `json:"id"`
	Owner             string      `json:"owner,omitempty"`
	Title             string      `json:"title"`
	Type              string      `json:"type"`
	TypeKeywords      []string    `json:"typeKeywords,omitempty"`
	Snippet           string      `json:"snippet,omitempty"`
	Description       string      `json:"description,omitempty"`
	Tags              []string    `json:"tags,omitempty"`
	Thumbnail         string      `json:"thumbnail,omitempty"`
	URL               string      `json:"url,omitempty"`
	AccessInformation string      `json:"accessInformation,omitempty"`
	LicenseInfo       string      `json:"licenseInfo,omitempty"`
	Extent            [][]float64 `json:"extent,omitempty"`
	Access            string      `json:"access,omitempty"`
	Created           int64       `json:"created,omitempty"`
	Modified          int64       `json:"modified,omitempty"`
}

// TileService is the subset of a MapServer / ImageServer / VectorTileServer
// root resource offlined reads. Both kinds decode into it.
type TileService struct {
	CurrentVersion      float64                  `json:"currentVersion,omitempty"`
	Name                string                   `json:"name,omitempty"`
	MapName             string                   `json:"mapName,omitempty"`
	Capabilities        string                   `json:"capabilities,omitempty"`
	Type                string                   `json:"type,omitempty"` // VectorTileServer: indexedVector
	SingleFusedMapCache bool                     `json:"singleFusedMapCache,omitempty"`
	TileInfo            *arcgis.TileInfo         `json:"tileInfo,omitempty"`
	ExportTilesAllowed  bool                     `json:"exportTilesAllowed,omitempty"`
	MaxExportTilesCount int                      `json:"maxExportTilesCount,omitempty"`
	SpatialReference    *arcgis.SpatialReference `json:"spatialReference,omitempty"`
	InitialExtent       *arcgis.Envelope         `json:"initialExtent,omitempty"`
	FullExtent          *arcgis.Envelope         `json:"fullExtent,omitempty"`
	MinScale            float64                  `json:"minScale,omitempty"`
	MaxScale            float64                  `json:"maxScale,omitempty"`
	Tiles               []string                 `json:"tiles,omitempty"`
	DefaultStyles       string                   `json:"defaultStyles,omitempty"`
}

// IsCached reports whether the service serves pre-rendered tiles: a tiled
// MapServer/ImageServer (singleFusedMapCache with a tileInfo) or a vector
// tile service.
func (t *TileService) IsCached() bool {
	if t == nil || t.TileInfo == nil || len(t.TileInfo.LODs) == 0 {
		return false
	}
	return t.SingleFusedMapCache || len(t.Tiles) > 0 || strings.Contains(strings.ToLower(t.Type), "vector")
}

// Source says where the web map comes from: a portal item (ItemID, with
// PortalURL for the record), a web map JSON URL, or a file. Exactly one of
// ItemID, WebMapURL and File is set.
type Source struct {
	PortalURL string `json:"portalUrl,omitempty"`
	ItemID    string `json:"itemId,omitempty"`
	WebMapURL string `json:"webMapUrl,omitempty"`
	File      string `json:"file,omitempty"`
}

// String describes the source for messages.
func (s Source) String() string {
	switch {
	case s.ItemID != "":
		return fmt.Sprintf("portal item %s (%s)", s.ItemID, s.PortalURL)
	case s.WebMapURL != "":
		return "web map " + s.WebMapURL
	case s.File != "":
		return "web map file " + s.File
	}
	return "no source"
}

// Check reports a source that names nothing or several things.
func (s Source) Check() error {
	n := 0
	for _, v := range []string{s.ItemID, s.WebMapURL, s.File} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return &ValidationError{Code: ErrSource, Message: "source: set exactly one of item id, web map URL or file"}
	}
	if s.WebMapURL != "" {
		u, err := url.Parse(s.WebMapURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &ValidationError{Code: ErrSource, Message: fmt.Sprintf("source: web map URL %q is not an http(s) URL", s.WebMapURL)}
		}
	}
	return nil
}

// Task is an offline map task for one web map: it examines capabilities and
// builds default parameters and overrides. Create it with NewTask. A Task's
// methods may be called from several goroutines.
type Task struct {
	Source Source
	// Map is the web map as loaded (do not modify while the task is used).
	Map *WebMap
	// Item is the portal item, nil for URL and file sources.
	Item *Item

	services Services
	entries  []*Entry

	mu       sync.Mutex
	features map[Key]*serviceInfo // by service key
	tilesvcs map[Key]*tileInfo
}

type serviceInfo struct {
	svc    *arcgis.FeatureService
	err    error
	layers map[int]*arcgis.Layer
	lerr   map[int]error
}

type tileInfo struct {
	svc *TileService
	err error
}

// NewTask loads the web map from src and prepares a task. portal may be nil
// for URL and file sources; services may be nil only when the task is used
// for parsing (capabilities then report every service unreachable).
func NewTask(ctx context.Context, src Source, portal Portal, services Services) (*Task, error) {
	if err := src.Check(); err != nil {
		return nil, err
	}
	t := &Task{Source: src, services: services, features: map[Key]*serviceInfo{}, tilesvcs: map[Key]*tileInfo{}}
	var raw json.RawMessage
	switch {
	case src.ItemID != "":
		if portal == nil {
			return nil, fmt.Errorf("load %s: no portal client", src)
		}
		item, err := portal.Item(ctx, src.ItemID)
		if err != nil {
			return nil, fmt.Errorf("load %s: item: %w", src, err)
		}
		if item.Type != "" && item.Type != "Web Map" {
			return nil, &ValidationError{Code: ErrSource, Message: fmt.Sprintf("load %s: item type is %q, want \"Web Map\"", src, item.Type)}
		}
		t.Item = item
		if err := portal.ItemData(ctx, src.ItemID, &raw); err != nil {
			return nil, fmt.Errorf("load %s: data: %w", src, err)
		}
	case src.WebMapURL != "":
		if services == nil {
			return nil, fmt.Errorf("load %s: no service client", src)
		}
		if err := services.JSON(ctx, src.WebMapURL, &raw); err != nil {
			return nil, fmt.Errorf("load %s: %w", src, err)
		}
	default:
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", src, err)
		}
		raw = b
	}
	wm, err := ParseWebMap(raw)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src, err)
	}
	t.Map = wm
	t.entries = wm.Entries()
	t.resolveVectorTiles(ctx, portal)
	return t, nil
}

// Entries returns the web map's layers and tables, flattened (see
// WebMap.Entries), with vector tile layers resolved to their service.
func (t *Task) Entries() []*Entry { return t.entries }

// Entry returns the first entry with the key, or nil.
func (t *Task) Entry(k Key) *Entry {
	for _, e := range t.entries {
		if e.Key == k {
			return e
		}
	}
	return nil
}

// resolveVectorTiles finds the VectorTileServer of vector tile layers whose
// URL is a style (as Esri's packager does): the item's url when the layer
// has an itemId and a portal is at hand, else the style's sources.esri.url
// resolved against the style URL. Unresolved layers keep their style key and
// are reported by capabilities.
func (t *Task) resolveVectorTiles(ctx context.Context, portal Portal) {
	for _, e := range t.entries {
		if e.LayerType != LayerTypeVectorTile || (e.HasService && e.Service.Type == VectorTileServer) {
			continue
		}
		l := e.Layer
		if l.URL != "" {
			continue // a URL that is not a VectorTileServer: reported as unsupported
		}
		if l.ItemID != "" && portal != nil {
			if it, err := portal.Item(ctx, l.ItemID); err == nil {
				if ref, ok := ParseServiceURL(it.URL); ok && ref.Type == VectorTileServer {
					e.Service, e.HasService, e.Key = ref, true, ServiceKey(ref.URL)
					continue
				}
			}
		}
		if l.StyleURL == "" || t.services == nil {
			continue
		}
		var style struct {
			Sources map[string]struct {
				URL string `json:"url"`
			} `json:"sources"`
		}
		if err := t.services.JSON(ctx, l.StyleURL, &style); err != nil {
			continue
		}
		src, ok := style.Sources["esri"]
		if !ok {
			for _, s := range style.Sources {
				src = s
				break
			}
		}
		base, err := url.Parse(l.StyleURL)
		if err != nil || src.URL == "" {
			continue
		}
		ref, err := url.Parse(src.URL)
		if err != nil {
			continue
		}
		if r, ok := ParseServiceURL(base.ResolveReference(ref).String()); ok && r.Type == VectorTileServer {
			e.Service, e.HasService, e.Key = r, true, ServiceKey(r.URL)
		}
	}
}

// featureService fetches (once) a feature service root.
func (t *Task) featureService(ctx context.Context, serviceURL string) (*serviceInfo, error) {
	k := ServiceKey(serviceURL)
	t.mu.Lock()
	si := t.features[k]
	t.mu.Unlock()
	if si != nil {
		return si, si.err
	}
	si = &serviceInfo{layers: map[int]*arcgis.Layer{}, lerr: map[int]error{}}
	if t.services == nil {
		si.err = errNoServices
	} else {
		si.svc, si.err = t.services.FeatureService(ctx, serviceURL)
		if si.err == nil && si.svc == nil {
			si.err = fmt.Errorf("empty service description")
		}
	}
	t.mu.Lock()
	if prev := t.features[k]; prev != nil {
		si = prev
	} else {
		t.features[k] = si
	}
	t.mu.Unlock()
	return si, si.err
}

// layer fetches (once) a service layer resource.
func (t *Task) layer(ctx context.Context, serviceURL string, id int) (*arcgis.Layer, error) {
	si, err := t.featureService(ctx, serviceURL)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	l, lerr := si.layers[id], si.lerr[id]
	t.mu.Unlock()
	if l != nil || lerr != nil {
		return l, lerr
	}
	l, lerr = t.services.Layer(ctx, serviceURL, id)
	if lerr == nil && l == nil {
		lerr = fmt.Errorf("empty layer description")
	}
	t.mu.Lock()
	si.layers[id], si.lerr[id] = l, lerr
	t.mu.Unlock()
	return l, lerr
}

// tileService fetches (once) a tile service root.
func (t *Task) tileService(ctx context.Context, serviceURL string) (*TileService, error) {
	k := ServiceKey(serviceURL)
	t.mu.Lock()
	ti := t.tilesvcs[k]
	t.mu.Unlock()
	if ti != nil {
		return ti.svc, ti.err
	}
	ti = &tileInfo{}
	if t.services == nil {
		ti.err = errNoServices
	} else {
		ti.svc, ti.err = t.services.TileService(ctx, serviceURL)
		if ti.err == nil && ti.svc == nil {
			ti.err = fmt.Errorf("empty service description")
		}
	}
	t.mu.Lock()
	t.tilesvcs[k] = ti
	t.mu.Unlock()
	return ti.svc, ti.err
}

var errNoServices = errors.New("no service client configured")
