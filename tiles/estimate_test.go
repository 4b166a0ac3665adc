package tiles

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fixedEstimator struct {
	bytes  int64
	levels []int
}

func (f *fixedEstimator) EstimateExportTilesSize(ctx context.Context, levels []int, aoi AOI) (int64, int64, error) {
	f.levels = levels
	return f.bytes, 0, nil
}

func TestEstimateAndLimit(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 0, 19)
	est, err := EstimateCovers(context.Background(), "Demo_Basemap", covers, demoAOI, EstimateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for i, l := range est.Levels {
		if l.Tiles != covers[i].Count() {
			t.Fatalf("level %d: %d tiles, cover has %d", l.Level, l.Tiles, covers[i].Count())
		}
		sum += l.Tiles
	}
	if sum != est.Tiles || est.Source != "" {
		t.Fatalf("total %d vs %d, source %q", est.Tiles, sum, est.Source)
	}
	// Limit between cumulative counts: keep exactly the levels that fit.
	var acc int64
	cut := 0
	for i, l := range est.Levels {
		if acc+l.Tiles > 20000 {
			cut = i
			break
		}
		acc += l.Tiles
	}
	err = CheckLimit(est, 20000)
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("want LimitError, got %v", err)
	}
	if le.Keep[1] != cut-1 || le.Drop[0] != cut || le.Drop[1] != 19 || le.KeepTiles != acc {
		t.Fatalf("limit error %+v, want keep ..%d drop %d-19", le, cut-1, cut)
	}
	for _, w := range []string{`"Demo_Basemap"`, "maxExportTilesCount 20000", "drop level"} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("message %q lacks %q", err, w)
		}
	}
	if err := CheckLimit(est, est.Tiles); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	big := testCovers(t, s, EnvelopeAOI(4326, -170, -80, 170, 80), 10, 12)
	bigEst, _ := EstimateCovers(context.Background(), "World", big, demoAOI, EstimateOptions{})
	if err := CheckLimit(bigEst, 1000); err == nil || !strings.Contains(err.Error(), "alone is over it") {
		t.Fatalf("want 'alone is over it', got %v", err)
	}
}

func TestEstimateBytesAndFit(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 16)
	// From the service: spread by tile counts, total preserved.
	fe := &fixedEstimator{bytes: 10_000_000}
	est, err := EstimateCovers(context.Background(), "L", covers, demoAOI, EstimateOptions{Service: fe})
	if err != nil || est.Bytes != 10_000_000 || est.Source != "service" || len(fe.levels) != 9 {
		t.Fatalf("service estimate %+v %v", est, err)
	}
	var sum int64
	for _, l := range est.Levels {
		sum += l.Bytes
	}
	if sum != est.Bytes {
		t.Fatalf("level bytes sum %d != %d", sum, est.Bytes)
	}
	// From samples: mean PNG size × tiles.
	f := newFakeTiles(t)
	est, err = EstimateCovers(context.Background(), "L", covers, demoAOI, EstimateOptions{Sampler: f.fetcher(t, 2), SamplesPerLevel: 3})
	if err != nil {
		t.Fatal(err)
	}
	if f.requests.Load() > 9*3 || est.Source != "sample" {
		t.Fatalf("%d sample requests", f.requests.Load())
	}
	tileSize := int64(len(pngTile(16, 0, 0)))
	lastTiles := est.Levels[len(est.Levels)-1].Tiles
	if b := est.Levels[len(est.Levels)-1].Bytes; b < lastTiles*tileSize/2 || b > lastTiles*tileSize*2 {
		t.Fatalf("level 16 estimate %d bytes for %d tiles of ~%d", b, lastTiles, tileSize)
	}
	// Fit: the deepest level whose cumulative bytes fit.
	var acc int64
	for _, l := range est.Levels[:5] {
		acc += l.Bytes
	}
	lv, b, err := FitWithin(est, acc)
	if err != nil || lv != est.Levels[4].Level || b != acc {
		t.Fatalf("fit: level %d bytes %d err %v; want %d %d", lv, b, err, est.Levels[4].Level, acc)
	}
	if _, _, err := FitWithin(est, 1); !errors.Is(err, ErrNothingFits) {
		t.Fatalf("want ErrNothingFits, got %v", err)
	}
}
