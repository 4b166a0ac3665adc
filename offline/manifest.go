package offline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/atomicfile"
)

// ManifestFormat is the package.json format version this code writes.
const ManifestFormat = 1

// Package file names inside a package directory (DESIGN §3).
const (
	ManifestFile = "package.json"
	MapFile      = "map.json"
	ItemInfoFile = "iteminfo.json"
	JournalFile  = ".offlined-job.json"
	DataDir      = "data"
	TilesDir     = "tiles"
)

// Manifest is package.json: what a package holds and where it came from.
// It is written last; a directory without it is an incomplete package.
type Manifest struct {
	FormatVersion int       `json:"formatVersion"`
	ID            string    `json:"id"`
	Title         string    `json:"title"`
	Source        Source    `json:"source"`
	Created       time.Time `json:"created"`
	// AreaOfInterest is the area as GeoJSON (WGS84 when it converts, else
	// in SpatialReference), AreaOfInterestEsri as Esri JSON.
	AreaOfInterest     json.RawMessage          `json:"areaOfInterest"`
	AreaOfInterestEsri *arcgis.Geometry         `json:"areaOfInterestEsri"`
	SpatialReference   *arcgis.SpatialReference `json:"spatialReference,omitempty"`
	Parameters         *Parameters              `json:"parameters"`
	Overrides          *Overrides               `json:"overrides"`
	Layers             []*ManifestLayer         `json:"layers"`
	Tables             []*ManifestLayer         `json:"tables"`
	HasErrors          bool                     `json:"hasErrors"`
	// Warnings are per-layer notes that are not errors (a layer that came
	// out empty).
	Warnings    []LayerWarning      `json:"warnings,omitempty"`
	LayerErrors map[Key]*LayerError `json:"layerErrors"`
	TableErrors map[Key]*LayerError `json:"tableErrors"`
	// Estimate is the estimate the job started with beside the actual
	// sizes (nil when the job had none).
	Estimate *EstimateRecord `json:"estimate,omitempty"`
}

// ManifestLayer is one layer or table of a package.
type ManifestLayer struct {
	Key   Key    `json:"key"`
	Title string `json:"title"`
	// Kind is replica, snapshot, rasterTiles, vectorTiles, referenceBasemap,
	// onlineOnly, embedded, or none (left out: see Reason).
	Kind string `json:"kind"`
	// Store is the local file relative to the package directory; "" for
	// online-only layers.
	Store string `json:"store,omitempty"`
	// LayerID is the service layer id inside a GeoPackage store.
	LayerID   *int   `json:"layerId,omitempty"`
	Resources string `json:"resources,omitempty"`
	// ReferenceFile is the basemap file on the device a referenceBasemap
	// layer came from (Store is its place in the package).
	ReferenceFile string           `json:"referenceFile,omitempty"`
	ServiceURL    string           `json:"serviceUrl,omitempty"`
	Replica       *ManifestReplica `json:"replica,omitempty"`
	Features      int64            `json:"features,omitempty"`
	Tiles         int64            `json:"tiles,omitempty"`
	Bytes         int64            `json:"bytes,omitempty"`
	Error         *LayerError      `json:"error,omitempty"`
	// Reason and Message say why an entry of kind none was left out.
	Reason  Reason `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ManifestReplica is the replica a GeoPackage syncs with.
type ManifestReplica struct {
	ID               string             `json:"id"`
	Name             string             `json:"name"`
	SyncModel        SyncModel          `json:"syncModel"`
	ReplicaServerGen int64              `json:"replicaServerGen,omitempty"`
	ServerGens       []arcgis.ServerGen `json:"serverGens,omitempty"`
}

// ReadManifest reads and checks dir/package.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, &IncompleteError{Dir: dir, Reason: err.Error()}
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &IncompleteError{Dir: dir, Reason: "package.json: " + err.Error()}
	}
	if m.FormatVersion < 1 || m.FormatVersion > ManifestFormat {
		return nil, &IncompleteError{Dir: dir, Reason: fmt.Sprintf("package.json: format version %d not supported", m.FormatVersion)}
	}
	if m.ID == "" {
		return nil, &IncompleteError{Dir: dir, Reason: "package.json: no id"}
	}
	return &m, nil
}

// IncompleteError is a directory that is not a complete offline package.
type IncompleteError struct {
	Dir    string
	Reason string
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("%s is not a complete offline map package: %s", e.Dir, e.Reason)
}

// writeFileAtomic writes b to path atomically and durably (internal/atomicfile).
func writeFileAtomic(path string, b []byte) error {
	return atomicfile.WriteFile(path, b, 0o644)
}

// writeJSONAtomic writes v as indented JSON to path (writeFileAtomic).
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}
