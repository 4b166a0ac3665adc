package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"time"

	"github.com/paulmach/orb/geojson"

	"github.com/offlined/offlined/internal/atomicfile"
)

// writePackage writes map.json, iteminfo.json, the thumbnail and, last,
// package.json (atomic rename) from the journal.
func (j *Job) writePackage(ctx context.Context) (*Manifest, error) {
	m := &Manifest{FormatVersion: ManifestFormat, ID: j.jr.ID, Source: j.task.Source, Created: j.jr.Created,
		Parameters: j.p, Overrides: j.o, Layers: []*ManifestLayer{}, Tables: []*ManifestLayer{},
		LayerErrors: map[Key]*LayerError{}, TableErrors: map[Key]*LayerError{}}
	info := j.itemInfo()
	m.Title = info.Title
	aoi, err := PrepareAOI(j.p.AreaOfInterest, j.task.Map.SpatialReference)
	if err != nil {
		return nil, err
	}
	m.AreaOfInterestEsri, m.SpatialReference = aoi.Geometry, aoi.SR
	if mp, err := aoi.WGS84(); err == nil {
		m.AreaOfInterest, _ = geojson.NewGeometry(mp).MarshalJSON()
	}
	j.collectErrors(m.LayerErrors, m.TableErrors)
	m.HasErrors = len(m.LayerErrors)+len(m.TableErrors) > 0

	// Where each key went.
	local := map[Key]*ManifestLayer{}
	for _, src := range sources() {
		if err := src.write(ctx, j, local); err != nil {
			return nil, err
		}
	}
	taken := 0
	for k, ml := range local {
		if ml.Store != "" && m.LayerErrors[k] == nil && m.TableErrors[k] == nil {
			taken++
		}
	}
	if taken == 0 {
		// An empty package is not a success: every layer failed or none
		// could go offline.
		return nil, &NothingOfflineError{LayerErrors: len(m.LayerErrors) + len(m.TableErrors)}
	}
	for k, le := range m.LayerErrors {
		if ml := local[k]; ml != nil {
			ml.Error = le
		}
	}
	for k, le := range m.TableErrors {
		if ml := local[k]; ml != nil {
			ml.Error = le
		}
	}
	online := map[Key]bool{}
	for _, k := range append(append([]Key{}, j.o.OnlineLayers...), j.o.OnlineTables...) {
		online[k] = true
	}
	// map.json: offline layers point at their stores, online-only layers keep
	// their URLs, layers that failed or were left out are removed.
	seen := map[Key]bool{}
	offlineMap, err := j.task.Map.Rewrite(func(e *Entry) bool {
		var ml *ManifestLayer
		switch {
		case local[e.Key] != nil:
			ml = local[e.Key]
			if ml.Error != nil || ml.Store == "" {
				if !seen[e.Key] {
					seen[e.Key] = true
					ml.Title = e.Title
					j.appendLayer(m, e, ml)
				}
				return false
			}
			pointAt(e.Layer, ml)
		case online[e.Key]:
			ml = &ManifestLayer{Key: e.Key, Kind: KindOnlineOnly, ServiceURL: e.Layer.URL}
		case e.Layer != nil && len(e.Layer.FeatureCollection) > 0:
			ml = &ManifestLayer{Key: e.Key, Kind: KindEmbedded}
		default:
			// Left out: listed with its reason, never silently.
			if !seen[e.Key] {
				seen[e.Key] = true
				ml = j.leftOutLayer(e)
				ml.Error = m.LayerErrors[e.Key]
				if e.IsTable() {
					ml.Error = m.TableErrors[e.Key]
				}
				j.appendLayer(m, e, ml)
			}
			return false
		}
		if !seen[e.Key] {
			seen[e.Key] = true
			ml.Title = e.Title
			j.appendLayer(m, e, ml)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if err := writeJSONAtomic(filepath.Join(j.dir, MapFile), offlineMap); err != nil {
		return nil, err
	}
	if err := j.writeThumbnail(ctx, info); err != nil {
		return nil, err
	}
	if err := writeJSONAtomic(filepath.Join(j.dir, ItemInfoFile), info); err != nil {
		return nil, err
	}
	// The QGIS project is a convenience over the same files: a failure is
	// logged, it does not fail the package.
	if _, err := writeQGISProject(ctx, j.dir, m, offlineMap); err != nil {
		j.log.Warn("QGIS project not written", "dir", j.dir, "err", err)
	}
	m.Warnings = j.emptyWarnings(m)
	m.Estimate = j.estimateRecord()
	if err := writeJSONAtomic(filepath.Join(j.dir, ManifestFile), m); err != nil {
		return nil, err
	}
	return m, nil
}

func (j *Job) appendLayer(m *Manifest, e *Entry, ml *ManifestLayer) {
	if e.IsTable() {
		m.Tables = append(m.Tables, ml)
	} else {
		m.Layers = append(m.Layers, ml)
	}
}

// pointAt makes a web map layer reference its local store: url is the
// store path and offlineStore says what is in it.
func pointAt(l *Layer, ml *ManifestLayer) {
	if l == nil {
		return
	}
	l.URL = ml.Store
	if ml.Resources != "" {
		l.StyleURL = ml.Resources + "/styles/root.json"
	}
	if l.Extra == nil {
		l.Extra = Extra{}
	}
	ref := map[string]any{"key": ml.Key, "kind": ml.Kind, "store": ml.Store, "serviceUrl": ml.ServiceURL}
	if ml.LayerID != nil {
		ref["layerId"] = *ml.LayerID
	}
	b, _ := json.Marshal(ref)
	l.Extra["offlineStore"] = b
}

// itemInfo returns the package's item info: the parameters' (overridable),
// else the portal item's, else the web map's title.
func (j *Job) itemInfo() *ItemInfo {
	if j.p.ItemInfo != nil {
		ii := *j.p.ItemInfo
		if ii.Title == "" {
			ii.Title = "Offline map"
		}
		return &ii
	}
	ii := j.task.defaultItemInfo()
	if ii.Title == "" {
		ii.Title = "Offline map"
	}
	return ii
}

// writeThumbnail copies the item info's thumbnail file, or fetches the
// portal item's thumbnail; info.Thumbnail becomes the local file name.
func (j *Job) writeThumbnail(ctx context.Context, info *ItemInfo) error {
	if info.ThumbnailFile != "" {
		ext := filepath.Ext(info.ThumbnailFile)
		if ext == "" {
			ext = ".png"
		}
		in, err := os.Open(info.ThumbnailFile)
		if err != nil {
			return fmt.Errorf("thumbnail: %w", err)
		}
		defer in.Close()
		name := "thumbnail" + ext
		if err := copyTo(filepath.Join(j.dir, name), in); err != nil {
			return err
		}
		info.Thumbnail, info.ThumbnailFile = name, ""
		return nil
	}
	if info.Thumbnail == "" || j.task.Item == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, ctype, err := j.opt.Client.Thumbnail(ctx, j.task.Item.ID, info.Thumbnail)
	if err != nil {
		// A missing thumbnail does not spoil a package.
		j.log.Warn("thumbnail", "err", err)
		info.Thumbnail = ""
		return nil
	}
	defer rc.Close()
	ext := filepath.Ext(info.Thumbnail)
	if exts, _ := mime.ExtensionsByType(ctype); ext == "" && len(exts) > 0 {
		ext = exts[0]
	}
	if ext == "" {
		ext = ".png"
	}
	name := "thumbnail" + ext
	if err := copyTo(filepath.Join(j.dir, name), rc); err != nil {
		return err
	}
	info.Thumbnail = name
	return nil
}

func copyTo(path string, r io.Reader) error {
	_, err := atomicfile.WriteFrom(path, r, 0o644)
	return err
}

// NothingOfflineError fails a job that would end with no layer or table
// taken offline (every layer failed, or none could go offline).
type NothingOfflineError struct {
	// LayerErrors counts the layers and tables whose step failed.
	LayerErrors int
}

func (e *NothingOfflineError) Error() string {
	if e.LayerErrors > 0 {
		return fmt.Sprintf("no layer or table was taken offline (%d failed; see layerErrors)", e.LayerErrors)
	}
	return "no layer or table of the web map can go offline (see the capabilities)"
}

// leftOutLayer is the package entry of a web map entry that neither went
// offline nor stays online: the overrides' LeftOut reason, or
// ReasonNotSelected when the overrides simply do not take it.
func (j *Job) leftOutLayer(e *Entry) *ManifestLayer {
	ml := &ManifestLayer{Key: e.Key, Title: e.Title, Kind: KindNone}
	if e.Layer != nil {
		ml.ServiceURL = e.Layer.URL
	}
	if lo := j.o.LeftOut[e.Key]; lo != nil {
		ml.Reason, ml.Message = lo.Reason, lo.Message
		return ml
	}
	ml.Reason = ReasonNotSelected
	ml.Message = fmt.Sprintf("%s: the job's overrides do not take it offline or keep it online", describe(e))
	return ml
}

// emptyWarnings lists the layers that were taken offline without error but
// came out empty: the area of interest misses their data, or their filter
// keeps nothing. A package with nothing in a layer is not an error, but the
// user should know before leaving coverage.
func (j *Job) emptyWarnings(m *Manifest) []LayerWarning {
	var ws []LayerWarning
	for _, ml := range m.Layers {
		if ml.Error != nil {
			continue
		}
		switch {
		case (ml.Kind == KindReplica || ml.Kind == KindSnapshot) && ml.Features == 0:
			if j.p.ReturnSchemaOnlyForEditableLayers && ml.Kind == KindReplica {
				continue // asked for the schema only
			}
			ws = append(ws, LayerWarning{Key: ml.Key, Layer: ml.Title, Code: WarnEmptyLayer,
				Message: fmt.Sprintf("layer %q came out with no features: the area of interest lies outside its data, or its filter keeps none", ml.Title)})
		case (ml.Kind == KindRasterTiles || ml.Kind == KindVectorTiles || ml.Kind == KindStyle) && ml.Tiles == 0:
			ws = append(ws, LayerWarning{Key: ml.Key, Layer: ml.Title, Code: WarnEmptyLayer,
				Message: fmt.Sprintf("layer %q came out with no tiles: the area of interest or the scale range lies outside the service's tiles", ml.Title)})
		}
	}
	return ws
}

// WarnEmptyLayer is the code of a layer that came out empty.
const WarnEmptyLayer = "emptyLayer"

// LayerWarning is something the user should know about a layer that is
// not an error (the layer is in the package).
type LayerWarning struct {
	Key     Key    `json:"key"`
	Layer   string `json:"layer"`
	Code    string `json:"code"`
	Message string `json:"message"`
}
