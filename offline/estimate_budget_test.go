package offline

import (
	"testing"

	"github.com/offlined/offlined/tiles"
)

// Over budget, the proposal first leaves out the attachments of read-only
// services (not of editable ones), then the most detailed tile levels, and
// applied to the overrides it changes exactly those.
func TestProposeDropsReadOnlyAttachmentsFirst(t *testing.T) {
	ro := &LayerEstimate{Key: "ro", Title: "ro", ReadOnly: true, Attachments: &Figure{Bytes: 400}, Bytes: Figure{Bytes: 500}}
	ed := &LayerEstimate{Key: "ed", Title: "ed", Attachments: &Figure{Bytes: 400}, Bytes: Figure{Bytes: 500}}
	tl := &LayerEstimate{Key: "tl", Title: "tl", Tiles: 21, Bytes: Figure{Bytes: 2100},
		Levels: []tiles.LevelEstimate{{Level: 0, Tiles: 1, Bytes: 100}, {Level: 1, Tiles: 4, Bytes: 400}, {Level: 2, Tiles: 16, Bytes: 1600}}}
	pe := &PackageEstimate{Layers: []*LayerEstimate{ro, ed, tl}, Bytes: Figure{Bytes: 3100}}

	pr := pe.propose(3000) // 400 off is enough
	if !pr.Fits || len(pr.DropAttachments) != 1 || pr.DropAttachments[0] != "ro" || pr.MaxLevels != nil {
		t.Fatalf("small overshoot: %+v", pr)
	}
	pr = pe.propose(1500) // the attachments and level 2
	if !pr.Fits || len(pr.DropAttachments) != 1 || pr.MaxLevels["tl"] != 1 || len(pr.OnlineLayers) != 0 {
		t.Fatalf("larger overshoot: %+v", pr)
	}
	o := &Overrides{
		GenerateGeodatabase: map[Key]*GenerateGeodatabaseParameters{"ro": {ReturnAttachments: true}, "ed": {ReturnAttachments: true, AttachmentSyncDirection: AttachmentSyncBidirectional}},
		ExportTileCache:     map[Key]*ExportTileCacheParameters{"tl": {LevelIDs: []int{0, 1, 2}}},
	}
	pr.Apply(o)
	if o.GenerateGeodatabase["ro"].ReturnAttachments || !o.GenerateGeodatabase["ed"].ReturnAttachments || len(o.ExportTileCache["tl"].LevelIDs) != 2 {
		t.Fatalf("applied: %+v %+v %+v", o.GenerateGeodatabase["ro"], o.GenerateGeodatabase["ed"], o.ExportTileCache["tl"])
	}
	pr = pe.propose(100) // nothing fits but the feature data
	if pr.Fits || len(pr.OnlineLayers) != 1 {
		t.Fatalf("nothing fits: %+v", pr)
	}
}
