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
	b, err := json.MarshalIndent(offlineMap, "", " ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(j.dir, MapFile), b); err != nil {
		return nil, err
	}
	if err := j.writeThumbnail(ctx, info); err != nil {
		return nil, err
	}
	ib, err := json.MarshalIndent(info, "", " ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(j.dir, ItemInfoFile), ib); err != nil {
		return nil, err
	}
	m.Estimate = j.estimateRecord()
	mb, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(j.dir, ManifestFile), mb); err != nil {
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
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
