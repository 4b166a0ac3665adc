package tiles

import (
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/project"
)

// TestWebMercatorHalfMatchesProjection: the tileInfo origin is the corner of
// the world orb's projection (toScheme) gives, so a point projected there
// falls on the same tile edge. The old constant 20037508.342787 was 2.2 mm
// short of it.
func TestWebMercatorHalfMatchesProjection(t *testing.T) {
	east := project.WGS84.ToMercator(orb.Point{180, 0})[0]
	north := project.WGS84.ToMercator(orb.Point{0, 90})[1]
	ti := WebMercatorTileInfo(256, 0, "png")
	if d := math.Abs(ti.Origin.X + east); d > 1e-6 {
		t.Errorf("origin x %.6f, want %.6f (off by %.1f mm)", ti.Origin.X, -east, d*1000)
	}
	if d := math.Abs(ti.Origin.Y - north); d > 1e-6 {
		t.Errorf("origin y %.6f, want %.6f (off by %.1f mm)", ti.Origin.Y, north, d*1000)
	}
}
