package openmaps

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"sort"

	"github.com/offlined/offlined/internal/pmtiles"
)

// Archive is the source of the PMTiles archive /files/area.pmtiles: vector
// tiles (gzip-compressed in the archive, as planetiler and tippecanoe
// write them) over a small area; empty tiles (Empty) are left out, as
// `pmtiles convert` does.
var Archive = Source{Name: "area", Vector: true, MinZoom: 0, MaxZoom: 12, Bounds: [4]float64{7.2, 46.7, 7.9, 47.1}}

// archiveLeafSize is the entries per leaf directory: small, so the archive
// has leaf directories as large real archives do.
const archiveLeafSize = 64

// ArchiveTile returns the tile the archive holds at z/x/y (plain MVT), or
// ok=false when it has none.
func ArchiveTile(z, x, y int) ([]byte, bool) {
	if !InBounds(Archive, z, x, y) || Empty(Archive, z, x, y) {
		return nil, false
	}
	b, err := TileBytes(Archive, z, x, y)
	return b, err == nil
}

// mustArchive writes the archive with internal/pmtiles' encoders (header,
// directories, metadata) in the order the official writer lays it out:
// header, root directory, metadata, leaf directories, tile data.
// internal/pmtiles' tests check the official library reads what they
// write; TestArchiveOracle checks it reads this archive.
func mustArchive() []byte {
	type tile struct {
		id   uint64
		data []byte
	}
	var ts []tile
	for z := Archive.MinZoom; z <= Archive.MaxZoom; z++ {
		x0, y0 := lonLatTile(Archive.Bounds[0], Archive.Bounds[3], z)
		x1, y1 := lonLatTile(Archive.Bounds[2], Archive.Bounds[1], z)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				if b, ok := ArchiveTile(z, x, y); ok {
					id, err := pmtiles.ZxyToID(uint8(z), uint32(x), uint32(y))
					if err != nil {
						panic(err) // z <= 12, x and y inside the grid
					}
					ts = append(ts, tile{id, b})
				}
			}
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
	var data bytes.Buffer
	entries := make([]pmtiles.Entry, 0, len(ts))
	for _, t := range ts {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(t.data)
		_ = zw.Close()
		entries = append(entries, pmtiles.Entry{TileID: t.id, Offset: uint64(data.Len()), Length: uint32(buf.Len()), RunLength: 1})
		data.Write(buf.Bytes())
	}
	var leaves []byte
	var rootEntries []pmtiles.Entry
	for i := 0; i < len(entries); i += archiveLeafSize {
		leaf, err := pmtiles.EncodeDirectory(entries[i:min(i+archiveLeafSize, len(entries))], pmtiles.Gzip)
		if err != nil {
			panic(err) // ids ascend, gzip is supported
		}
		rootEntries = append(rootEntries, pmtiles.Entry{TileID: entries[i].TileID, Offset: uint64(len(leaves)), Length: uint32(len(leaf))})
		leaves = append(leaves, leaf...)
	}
	root, err := pmtiles.EncodeDirectory(rootEntries, pmtiles.Gzip)
	if err != nil {
		panic(err)
	}
	meta, _ := json.Marshal(map[string]any{"name": "area", "vector_layers": []any{map[string]any{"id": "area"}}})
	metaBytes, err := pmtiles.EncodeMetadata(map[string]any{"name": "area", "vector_layers": json.RawMessage(meta)}, pmtiles.Gzip)
	if err != nil {
		panic(err)
	}
	h := pmtiles.Header{
		SpecVersion: 3, Clustered: true, InternalCompression: pmtiles.Gzip, TileCompression: pmtiles.Gzip, TileType: pmtiles.MVT,
		MinZoom: uint8(Archive.MinZoom), MaxZoom: uint8(Archive.MaxZoom),
		MinLonE7: int32(Archive.Bounds[0] * 1e7), MinLatE7: int32(Archive.Bounds[1] * 1e7),
		MaxLonE7: int32(Archive.Bounds[2] * 1e7), MaxLatE7: int32(Archive.Bounds[3] * 1e7),
		AddressedTilesCount: uint64(len(entries)), TileEntriesCount: uint64(len(entries)), TileContentsCount: uint64(len(entries)),
	}
	h.RootOffset = pmtiles.HeaderLen
	h.RootLength = uint64(len(root))
	h.MetadataOffset = h.RootOffset + h.RootLength
	h.MetadataLength = uint64(len(metaBytes))
	h.LeafDirectoryOffset = h.MetadataOffset + h.MetadataLength
	h.LeafDirectoryLength = uint64(len(leaves))
	h.TileDataOffset = h.LeafDirectoryOffset + h.LeafDirectoryLength
	h.TileDataLength = uint64(data.Len())
	var out bytes.Buffer
	out.Write(pmtiles.EncodeHeader(h))
	out.Write(root)
	out.Write(metaBytes)
	out.Write(leaves)
	out.Write(data.Bytes())
	return out.Bytes()
}

// ArchiveBytes returns the PMTiles archive the server serves.
func (s *Server) ArchiveBytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pm == nil {
		s.pm = mustArchive()
	}
	return s.pm
}
