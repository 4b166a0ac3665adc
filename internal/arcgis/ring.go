package arcgis

// Coord is a point as a ring holds it: an Esri/GeoJSON [x, y, …] slice or
// an [x, y] pair (orb.Point).
type Coord interface{ ~[]float64 | ~[2]float64 }

// RingArea returns the signed (shoelace) area of a closed ring of points:
// positive for counter-clockwise rings (GeoJSON exteriors), negative
// for clockwise ones (Esri exteriors), 0 for a degenerate ring. It is the
// project's one ring area/orientation test; the packages that read or write
// Esri and GeoJSON rings call it.
func RingArea[P Coord](r []P) float64 {
	s := 0.0
	for i := 0; i+1 < len(r); i++ {
		s += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return s / 2
}
