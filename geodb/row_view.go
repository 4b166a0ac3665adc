package geodb

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// RowView is one row of Scan. It is valid only during the callback: the
// next row reuses it, its cells and its geometry bytes.
type RowView struct {
	OID int64
	// Cols are the columns returned (the query's OutFields without
	// duplicates, or all columns), the same for every row; Value(i) and
	// Cell(i) give the value of Cols[i].
	Cols []*Column

	layer   int
	raw     []rawCell // the select list's values
	src     []int     // Cols[i] is raw[src[i]]
	scratch []byte    // text derived by Cell, reset every row
	blob    blobRef   // the geometry blob; nil when absent or not returned
	geom    *Geom     // decoded blob, once decoded
	geomErr error
	decoded bool
}

// Cell returns the value of Cols[i] in its Esri JSON form without
// allocating; its Text is valid only during the callback.
func (r *RowView) Cell(i int) Cell {
	return cellOf(r.Cols[i], &r.raw[r.src[i]], &r.scratch)
}

// Value returns the value of Cols[i] in its Esri JSON form (as in
// Row.Attributes): nil, int64, float64 or string.
func (r *RowView) Value(i int) any {
	return r.Cell(i).box()
}

// blobRef scans a BLOB without a copy (database/sql clones a []byte it
// stores in an *any); the bytes belong to the driver until the next row.
// Any other value (NULL, or text in a geometry column) scans as nil, as
// Each has always treated it.
type blobRef []byte

// Scan implements sql.Scanner.
func (r *blobRef) Scan(src any) error {
	b, _ := src.([]byte)
	*r = b
	return nil
}

// Geometry decodes the row's geometry: nil when the row has none or the
// query does not return geometry.
func (r *RowView) Geometry() (*Geom, error) {
	if !r.decoded {
		r.decoded = true
		if len(r.blob) > 0 {
			g, _, err := DecodeBlob(r.blob)
			if err != nil {
				r.geomErr = fmt.Errorf("query layer %d row %d: %w", r.layer, r.OID, err)
			} else {
				r.geom = g
			}
		}
	}
	return r.geom, r.geomErr
}

// Point returns the row's geometry when it is one non-empty point, read
// straight from the blob: its x, y, z (0 without Z) and whether it has Z.
// ok is false for anything else; Geometry then decodes it.
func (r *RowView) Point() (x, y, z float64, hasZ, ok bool) {
	if r.decoded {
		g := r.geom
		if g == nil || g.Type != GeomPoint || len(g.Points) != 1 {
			return 0, 0, 0, false, false
		}
		c := g.Points[0]
		if g.HasZ {
			z = c[2]
		}
		return c[0], c[1], z, g.HasZ, true
	}
	return blobPoint(r.blob)
}

// blobPoint reads a GeoPackage geometry blob that holds one non-empty
// point without allocating. It accepts exactly the blobs DecodeBlob
// decodes to a Point with one position (fuzzed against it); ok is false
// for every other blob.
func blobPoint(b []byte) (x, y, z float64, hasZ, ok bool) {
	if len(b) < 8 || b[0] != 'G' || b[1] != 'P' || b[2] != 0 || b[3]&0x20 != 0 {
		return
	}
	n, known := envelopeFloats(b[3])
	if !known {
		return
	}
	if len(b) < 8+8*n+5 {
		return
	}
	w := b[8+8*n:]
	bo, known := wkbByteOrder(w[0])
	if !known {
		return
	}
	code, hasZ, hasM := wkbTypeCode(bo.Uint32(w[1:]))
	if code%1000 != uint32(GeomPoint) {
		return
	}
	d := 2
	if hasZ {
		d++
	}
	if hasM {
		d++
	}
	if len(w) < 5+8*d {
		return
	}
	x = math.Float64frombits(bo.Uint64(w[5:]))
	y = math.Float64frombits(bo.Uint64(w[13:]))
	if math.IsNaN(x) && math.IsNaN(y) {
		return 0, 0, 0, false, false // empty point
	}
	if hasZ {
		z = math.Float64frombits(bo.Uint64(w[21:]))
	}
	return x, y, z, hasZ, true
}

// matchesRow is plan.matches for row r; a point of an envelope query is
// tested without decoding its blob.
func (p *plan) matchesRow(r *RowView) (bool, error) {
	if p.box != nil || p.box2 != nil { // without a box neither test below decides
		if x, y, _, _, ok := r.Point(); ok {
			if outBox(x, y, p.box) || outBox(x, y, p.box2) {
				// hits would decode it to fail Intersects' bounds test (the
				// RTree's padded box lets such points through).
				return false, nil
			}
			if p.box != nil && (p.geom2 == nil || p.box2 != nil) && inBox(x, y, p.box) && (p.box2 == nil || inBox(x, y, p.box2)) {
				return true, nil
			}
		}
	}
	g, err := r.Geometry()
	if err != nil {
		return false, err
	}
	return p.matches(g), nil
}

// inBox reports whether x, y (neither NaN) lies in b, edges included: the
// test hits makes with a geometry's bounds.
func inBox(x, y float64, b *[4]float64) bool {
	return !math.IsNaN(x) && !math.IsNaN(y) && x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3]
}

// outBox reports whether point x, y (neither NaN) lies outside box b
// (min before max), where Intersects' bounds test rejects it.
func outBox(x, y float64, b *[4]float64) bool {
	return b != nil && !math.IsNaN(x) && !math.IsNaN(y) && b[0] <= b[2] && b[1] <= b[3] &&
		(x < b[0] || x > b[2] || y < b[1] || y > b[3])
}

// Scan runs q like Each, without building a Row for each result: fn gets
// one RowView that is reused for every row (valid only during the call).
// The geometry is decoded only when asked for (Point reads a point from
// the blob without decoding it). Paging and the exact spatial test are
// those of Each.
func (db *DB) Scan(ctx context.Context, q Query, fn func(*RowView) error) error {
	p, err := db.plan(&q, "")
	if err != nil {
		return fmt.Errorf("query layer %d: %w", q.LayerID, err)
	}
	sqlText, args := p.sql, p.args
	if p.geom == nil && (q.Limit > 0 || q.Offset > 0) {
		lim := q.Limit
		if lim <= 0 {
			lim = -1
		}
		// Bound, not written into the text: the pages of one query share
		// its cached statement.
		sqlText += " LIMIT ? OFFSET ?"
		args = append(args, lim, q.Offset)
	}
	withGeo := p.wantGeo || p.geom != nil
	nv := 1 // the object id, then the columns p.src points at
	for _, i := range p.src {
		nv = max(nv, i+1)
	}
	r := &RowView{Cols: p.outCols, layer: q.LayerID, raw: make([]rawCell, nv), src: p.src}
	// declTime[i]: select-list value i is the text of a date-declared
	// column, which the driver parses (driverTime).
	declTime := make([]bool, nv)
	for i, c := range p.outCols {
		declTime[p.src[i]] = c.declTime
	}
	skipped, emitted := 0, 0
	// row handles the row in r.raw and r.blob; stop ends the query.
	row := func() (stop bool, err error) {
		r.geom, r.geomErr, r.decoded = nil, nil, false
		r.scratch = r.scratch[:0]
		r.OID = 0
		if r.raw[0].typ == rawInt {
			r.OID = r.raw[0].i
		}
		if p.geom != nil {
			ok, err := p.matchesRow(r)
			if err != nil {
				return true, err
			}
			if !ok {
				return false, nil
			}
			if skipped < q.Offset {
				skipped++
				return false, nil
			}
			if q.Limit > 0 && emitted >= q.Limit {
				return true, nil
			}
		}
		if !p.wantGeo {
			r.blob, r.geom, r.geomErr, r.decoded = nil, nil, nil, true
		}
		emitted++
		return false, fn(r)
	}
	err = db.scanFast(ctx, p, sqlText, args, r, declTime, withGeo, row)
	if !errors.Is(err, errNotFast) {
		return err
	}
	rows, err := db.stmts.query(ctx, db.r, sqlText, args)
	if err != nil {
		return fmt.Errorf("query layer %d: %w", q.LayerID, err)
	}
	defer rows.Close()
	vals := make([]any, nv)
	ptrs := make([]any, nv, nv+1)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if withGeo {
		ptrs = append(ptrs, &r.blob)
	}
	for rows.Next() {
		r.blob = nil
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("query layer %d: %w", q.LayerID, err)
		}
		for i, v := range vals {
			r.raw[i].setAny(v)
		}
		if stop, err := row(); err != nil || stop {
			return err
		}
	}
	return rows.Err()
}
