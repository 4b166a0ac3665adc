package pmtiles

// Tile ids (spec section 4.1): the tiles of zoom z are numbered along a
// Hilbert curve over the 2^z × 2^z grid (x to the east, y to the south,
// from 0,0 in the north-west), after all 4^0 + … + 4^(z-1) tiles of the
// zooms above.

// MaxZoom is the deepest zoom whose tile ids fit in 64 bits.
const MaxZoom = 31

// maxTileID is the last tile id of MaxZoom: zoomBase(32) - 1.
const maxTileID = ^uint64(0)/3 - 1

// zoomBase is the id of the first tile of zoom z (z <= MaxZoom):
// (4^z - 1) / 3.
func zoomBase(z uint8) uint64 { return (uint64(1)<<(2*uint64(z)) - 1) / 3 }

// ZxyToID returns the tile id of z/x/y (XYZ scheme). It refuses zooms
// above MaxZoom and x or y outside the zoom's grid (ErrInvalid).
func ZxyToID(z uint8, x, y uint32) (uint64, error) {
	if z > MaxZoom {
		return 0, errorf("tile id", ErrInvalid, "zoom %d above %d", z, MaxZoom)
	}
	n := uint64(1) << z
	if uint64(x) >= n || uint64(y) >= n {
		return 0, errorf("tile id", ErrInvalid, "tile %d/%d/%d outside the grid", z, x, y)
	}
	// Hilbert distance of (x, y): from the largest quadrant to the
	// smallest, add the cells of the quadrants the curve has passed, then
	// turn the point into the quadrant's own orientation.
	X, Y := uint64(x), uint64(y)
	var d uint64
	for s := n / 2; s > 0; s /= 2 {
		var rx, ry uint64
		if X&s != 0 {
			rx = 1
		}
		if Y&s != 0 {
			ry = 1
		}
		d += s * s * ((3 * rx) ^ ry)
		X, Y = rotate(n, X, Y, rx, ry)
	}
	return zoomBase(z) + d, nil
}

// IDToZxy returns the z/x/y (XYZ scheme) of a tile id; ids beyond MaxZoom
// are refused (ErrInvalid).
func IDToZxy(id uint64) (z uint8, x, y uint32, err error) {
	if id > maxTileID {
		return 0, 0, 0, errorf("tile id", ErrInvalid, "tile id %d beyond zoom %d", id, MaxZoom)
	}
	for z < MaxZoom && zoomBase(z+1) <= id {
		z++
	}
	t := id - zoomBase(z)
	var X, Y uint64
	for s := uint64(1); s < uint64(1)<<z; s *= 2 {
		rx := 1 & (t / 2)
		ry := 1 & (t ^ rx)
		X, Y = rotate(s, X, Y, rx, ry)
		X += s * rx
		Y += s * ry
		t /= 4
	}
	return z, uint32(X), uint32(Y), nil
}

// rotate turns (x, y) in an n×n quadrant into the orientation of the
// curve's sub-quadrant (rx, ry): the lower quadrants are transposed, the
// lower right one also mirrored.
func rotate(n, x, y, rx, ry uint64) (uint64, uint64) {
	if ry != 0 {
		return x, y
	}
	if rx == 1 {
		x, y = n-1-x, n-1-y
	}
	return y, x
}
