package geodb

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/offlined/offlined/internal/arcgis"
)

// Query selects features of one layer. Zero values mean: all rows, all
// fields, geometry returned, no paging.
type Query struct {
	LayerID   int
	Where     string
	ObjectIDs []int64
	// Envelope and Geometry are in the layer's spatial reference; features
	// must intersect them (RTree prefilter, then an exact test).
	Envelope *arcgis.Envelope
	Geometry *arcgis.Geometry
	// OutFields are field names; empty or ["*"] means all.
	OutFields    []string
	NoGeometry   bool
	OrderBy      []string // "field [ASC|DESC]"
	Offset       int
	Limit        int // 0 = no limit
	GlobalIDs    []string
	ExcludeEmpty bool // skip rows without geometry
}

// Row is one query result: attributes keyed by field name (Esri JSON value
// forms) and the geometry (nil when absent or not requested).
type Row struct {
	OID        int64
	Attributes map[string]any
	Geometry   *Geom
}

type plan struct {
	t       *Table
	sql     string
	args    []any
	outCols []*Column
	// src[i] is the select-list position of outCols[i] (the object id,
	// always first, is selected once even when asked for as a field).
	src   []int
	geom  *Geom // exact test geometry
	geom2 *Geom // second exact test (envelope with geometry)
	// box and box2 are the bounds of geom and geom2 when they are
	// axis-aligned boxes (an envelope), else nil.
	box, box2 *[4]float64
	wantGeo   bool
}

// matches reports whether row geometry g passes the plan's exact tests.
func (p *plan) matches(g *Geom) bool {
	return g != nil && hits(g, p.geom, p.box) && (p.geom2 == nil || hits(g, p.geom2, p.box2))
}

// hits reports whether g intersects test. When test is the box b, a g
// whose bounds lie inside b needs no segment test (most features of an
// envelope query: the RTree already dropped those outside).
func hits(g, test *Geom, b *[4]float64) bool {
	if b != nil {
		if x0, x1, y0, y1, ok := g.Bounds(); ok && x0 >= b[0] && x1 <= b[2] && y0 >= b[1] && y1 <= b[3] {
			return true
		}
	}
	return Intersects(g, test)
}

func (db *DB) plan(q *Query, selectList string) (*plan, error) {
	t, err := db.mustTable(q.LayerID)
	if err != nil {
		return nil, err
	}
	p := &plan{t: t, wantGeo: !q.NoGeometry && t.GeomCol != ""}
	w, args, err := CompileWhere(t, q.Where)
	if err != nil {
		return nil, err
	}
	conds := []string{"(" + w + ")"}
	// Id lists are bound as one JSON array (json_each), so any length fits
	// in SQLite's bound-variable limit.
	if len(q.ObjectIDs) > 0 {
		ids, err := json.Marshal(q.ObjectIDs)
		if err != nil {
			return nil, fmt.Errorf("objectIds: %w", err)
		}
		conds = append(conds, qid(t.OIDCol)+" IN (SELECT value FROM json_each(?))")
		args = append(args, string(ids))
	}
	if len(q.GlobalIDs) > 0 {
		gids := make([]string, len(q.GlobalIDs))
		for i, id := range q.GlobalIDs {
			gids[i], _ = NormalizeGlobalID(id)
		}
		js, err := json.Marshal(gids)
		if err != nil {
			return nil, fmt.Errorf("globalIds: %w", err)
		}
		conds = append(conds, qid(t.GIDCol)+" IN (SELECT value FROM json_each(?))")
		args = append(args, string(js))
	}
	if q.ExcludeEmpty && t.GeomCol != "" {
		conds = append(conds, qid(t.GeomCol)+" IS NOT NULL")
	}
	var box *[4]float64
	if q.Envelope != nil {
		e := q.Envelope
		box = &[4]float64{e.XMin, e.YMin, e.XMax, e.YMax}
		p.geom, p.box = boxGeom(e.XMin, e.YMin, e.XMax, e.YMax), box
	}
	if q.Geometry != nil {
		g, err := FromEsri(q.Geometry, false, false)
		if err != nil {
			return nil, err
		}
		if g == nil {
			return nil, fmt.Errorf("query geometry: %w: empty", ErrBadGeometry)
		}
		minx, maxx, miny, maxy, _ := g.Bounds()
		if box != nil {
			p.geom2, p.box2 = p.geom, p.box // the envelope stays a second exact test
			minx, miny = math.Max(minx, box[0]), math.Max(miny, box[1])
			maxx, maxy = math.Min(maxx, box[2]), math.Min(maxy, box[3])
		}
		p.geom, p.box = g, nil
		box = &[4]float64{minx, miny, maxx, maxy}
	}
	if box != nil {
		if t.GeomCol == "" {
			return nil, fmt.Errorf("layer %d has no geometry to filter spatially", t.LayerID)
		}
		// RTree holds float32 bounds rounded outwards: widen the box a little.
		pad := func(v float64, dir float64) float64 { return v + dir*(math.Abs(v)*1e-6+1e-9) }
		conds = append(conds, fmt.Sprintf("%s IN (SELECT id FROM %s WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)", qid(t.OIDCol), qid(rtreeName(t))))
		args = append(args, pad(box[0], -1), pad(box[2], 1), pad(box[1], -1), pad(box[3], 1))
	}
	order := ""
	if len(q.OrderBy) > 0 {
		var parts []string
		for _, ob := range q.OrderBy {
			f := strings.Fields(ob)
			if len(f) == 0 || len(f) > 2 {
				return nil, &WhereError{Msg: fmt.Sprintf("bad orderBy %q", ob), Reason: ErrWhere}
			}
			c := t.Col(f[0])
			if c == nil {
				return nil, &WhereError{Msg: fmt.Sprintf("unknown orderBy field %q", f[0]), Field: f[0], Reason: ErrUnknownField}
			}
			dir := "ASC"
			if len(f) == 2 {
				dir = strings.ToUpper(f[1])
				if dir != "ASC" && dir != "DESC" {
					return nil, &WhereError{Msg: fmt.Sprintf("bad orderBy direction %q", f[1]), Reason: ErrWhere}
				}
			}
			parts = append(parts, qid(c.Name)+" "+dir)
		}
		order = " ORDER BY " + strings.Join(parts, ", ") + ", " + qid(t.OIDCol)
	} else {
		order = " ORDER BY " + qid(t.OIDCol)
	}
	if selectList == "" {
		all := len(q.OutFields) == 0 || (len(q.OutFields) == 1 && strings.TrimSpace(q.OutFields[0]) == "*")
		var cols []string
		if all {
			for i := range t.Cols {
				p.outCols = append(p.outCols, &t.Cols[i])
			}
		} else {
			seen := map[string]bool{}
			for _, f := range q.OutFields {
				f = strings.TrimSpace(f)
				if f == "*" {
					continue
				}
				c := t.Col(f)
				if c == nil {
					return nil, &WhereError{Msg: fmt.Sprintf("unknown outField %q", f), Field: f, Reason: ErrUnknownField}
				}
				if !seen[c.Name] {
					seen[c.Name] = true
					p.outCols = append(p.outCols, c)
				}
			}
		}
		cols = append(cols, qid(t.OIDCol))
		for _, c := range p.outCols {
			if c.Name == t.OIDCol {
				p.src = append(p.src, 0)
				continue
			}
			cols = append(cols, qid(c.Name))
			p.src = append(p.src, len(cols)-1)
		}
		if p.wantGeo || p.geom != nil {
			cols = append(cols, qid(t.GeomCol))
		}
		selectList = strings.Join(cols, ", ")
	}
	p.sql = fmt.Sprintf("SELECT %s FROM %s WHERE %s%s", selectList, qid(t.Name), strings.Join(conds, " AND "), order)
	p.args = args
	return p, nil
}

// Each runs q and calls fn for every matching row in order (streaming, one
// row in memory). Paging (Offset/Limit) counts rows after the exact
// spatial test.
func (db *DB) Each(ctx context.Context, q Query, fn func(*Row) error) error {
	return db.Scan(ctx, q, func(v *RowView) error {
		g, err := v.Geometry()
		if err != nil {
			return err
		}
		row := &Row{OID: v.OID, Attributes: make(map[string]any, len(v.Cols)), Geometry: g}
		for i, c := range v.Cols {
			row.Attributes[c.Name] = v.Value(i)
		}
		return fn(row)
	})
}

// Count returns the number of rows q matches (ignoring paging).
func (db *DB) Count(ctx context.Context, q Query) (int64, error) {
	q.Offset, q.Limit, q.OutFields, q.NoGeometry = 0, 0, []string{}, true
	if q.Envelope == nil && q.Geometry == nil {
		p, err := db.plan(&q, "count(*)")
		if err != nil {
			return 0, fmt.Errorf("count layer %d: %w", q.LayerID, err)
		}
		var n int64
		s := p.sql[:strings.LastIndex(p.sql, " ORDER BY ")]
		err = db.r.QueryRowContext(ctx, s, p.args...).Scan(&n)
		return n, err
	}
	var n int64
	q.OutFields = []string{p0(db, q.LayerID)}
	err := db.Scan(ctx, q, func(*RowView) error { n++; return nil })
	return n, err
}

func p0(db *DB, id int) string {
	if t := db.TableByID(id); t != nil {
		return t.OIDCol
	}
	return ""
}

// IDs returns the object ids q matches, in order.
func (db *DB) IDs(ctx context.Context, q Query) ([]int64, error) {
	q.OutFields = []string{p0(db, q.LayerID)}
	q.NoGeometry = true
	var ids []int64
	err := db.Scan(ctx, q, func(r *RowView) error { ids = append(ids, r.OID); return nil })
	return ids, err
}

// Features runs q and returns Esri JSON features (for small results; use
// WriteArcGISJSON or WriteGeoJSON to stream large ones).
func (db *DB) Features(ctx context.Context, q Query) ([]arcgis.Feature, error) {
	var out []arcgis.Feature
	err := db.Each(ctx, q, func(r *Row) error {
		out = append(out, arcgis.Feature{Attributes: r.Attributes, Geometry: ToEsri(r.Geometry)})
		return nil
	})
	return out, err
}

// WriteArcGISJSON streams q's result as an ArcGIS query response
// (f=json FeatureSet) to w.
func (db *DB) WriteArcGISJSON(ctx context.Context, w io.Writer, q Query) error {
	t, err := db.mustTable(q.LayerID)
	if err != nil {
		return err
	}
	if _, err := db.plan(&q, ""); err != nil { // report errors before writing anything
		return fmt.Errorf("query layer %d: %w", q.LayerID, err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	head := arcgis.FeatureSet{ObjectIDFieldName: t.OIDCol, GlobalIDFieldName: t.GIDCol}
	if t.GeomCol != "" {
		head.GeometryType = t.Layer.GeometryType
		head.SpatialReference = t.Layer.SpatialReference
		head.HasZ, head.HasM = t.HasZ, t.HasM
	}
	head.Fields = outFields(t, q.OutFields)
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	// Replace the trailing `"features":null}` / `[]}` with a streamed array.
	hs := string(hb)
	i := strings.LastIndex(hs, `"features":`)
	bw.WriteString(hs[:i] + `"features":[`)
	enc := json.NewEncoder(bw)
	first := true
	err = db.Each(ctx, q, func(r *Row) error {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		return enc.Encode(arcgis.Feature{Attributes: r.Attributes, Geometry: esriNoSR(r.Geometry)})
	})
	if err != nil {
		return err
	}
	bw.WriteString("]}")
	return bw.Flush()
}

func esriNoSR(g *Geom) *arcgis.Geometry {
	eg := ToEsri(g)
	if eg != nil && eg.X == nil {
		eg.HasZ, eg.HasM = false, false
	}
	return eg
}

func outFields(t *Table, names []string) []arcgis.Field {
	if len(names) == 0 || (len(names) == 1 && names[0] == "*") {
		var out []arcgis.Field
		for _, c := range t.Cols {
			out = append(out, c.Field)
		}
		return out
	}
	var out []arcgis.Field
	for _, n := range names {
		if c := t.Col(strings.TrimSpace(n)); c != nil {
			out = append(out, c.Field)
		}
	}
	return out
}

// WriteGeoJSON streams q's result as a GeoJSON FeatureCollection. Geometry
// is written in the layer's coordinates (GeoJSON readers assume WGS84; the
// caller reprojects if it needs to). Feature ids are object ids.
func (db *DB) WriteGeoJSON(ctx context.Context, w io.Writer, q Query) error {
	if _, err := db.plan(&q, ""); err != nil {
		return fmt.Errorf("query layer %d: %w", q.LayerID, err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"type":"FeatureCollection","features":[`)
	enc := json.NewEncoder(bw)
	first := true
	err := db.Each(ctx, q, func(r *Row) error {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		return enc.Encode(struct {
			Type       string         `json:"type"`
			ID         int64          `json:"id"`
			Geometry   any            `json:"geometry"`
			Properties map[string]any `json:"properties"`
		}{"Feature", r.OID, geoJSONGeom(r.Geometry), r.Attributes})
	})
	if err != nil {
		return err
	}
	bw.WriteString("]}")
	return bw.Flush()
}

type gjGeom struct {
	Type        string `json:"type"`
	Coordinates any    `json:"coordinates"`
}

func geoJSONGeom(g *Geom) any {
	if g.IsEmpty() {
		return nil
	}
	// GeoJSON positions carry x, y[, z]; M is dropped.
	pos := func(p []float64) []float64 {
		if g.HasZ {
			return []float64{p[0], p[1], p[2]}
		}
		return []float64{p[0], p[1]}
	}
	seq := func(ps [][]float64) [][]float64 {
		out := make([][]float64, len(ps))
		for i, p := range ps {
			out[i] = pos(p)
		}
		return out
	}
	// RFC 7946: exteriors counter-clockwise, holes clockwise.
	ring := func(r [][]float64, hole bool) [][]float64 {
		s := seq(r)
		if a := signedArea2(s); (a < 0) != hole {
			for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
				s[i], s[j] = s[j], s[i]
			}
		}
		return s
	}
	poly := func(rings [][][]float64) [][][]float64 {
		out := make([][][]float64, len(rings))
		for i, r := range rings {
			out[i] = ring(r, i > 0)
		}
		return out
	}
	switch g.Type {
	case GeomPoint:
		return gjGeom{"Point", pos(g.Points[0])}
	case GeomMultiPoint:
		return gjGeom{"MultiPoint", seq(g.Points)}
	case GeomLineString:
		return gjGeom{"LineString", seq(g.Lines[0])}
	case GeomMultiLineString:
		var ls [][][]float64
		for _, l := range g.Lines {
			ls = append(ls, seq(l))
		}
		return gjGeom{"MultiLineString", ls}
	case GeomPolygon:
		return gjGeom{"Polygon", poly(g.Polys[0])}
	default:
		var ps [][][][]float64
		for _, p := range g.Polys {
			ps = append(ps, poly(p))
		}
		return gjGeom{"MultiPolygon", ps}
	}
}

// stmtCache keeps prepared reader statements by SQL text, so a query shape
// that comes again (a map client's bbox requests differ only in bound
// values) is not parsed and planned again each time. It holds at most
// stmtCacheSize statements; a new one then replaces an arbitrary one. No
// lock is held while a query runs or a statement closes (a query waiting
// for a reader connection must not hold up others).
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*cachedStmt
}

type cachedStmt struct {
	st      *sql.Stmt
	dropped atomic.Bool // set before st is closed
}

const stmtCacheSize = 64

// query runs text with args on pool, through its cached statement.
func (c *stmtCache) query(ctx context.Context, pool *sql.DB, text string, args []any) (*sql.Rows, error) {
	c.mu.Lock()
	cs := c.m[text]
	c.mu.Unlock()
	if cs == nil {
		st, err := pool.PrepareContext(ctx, text)
		if err != nil {
			return nil, err
		}
		cs = c.add(text, st)
	}
	rows, err := cs.st.QueryContext(ctx, args...)
	if err != nil && cs.dropped.Load() {
		// Dropped from the cache and closed since it was looked up (rows
		// already open keep a closed statement alive until they close).
		return pool.QueryContext(ctx, text, args...)
	}
	return rows, err
}

// add caches st for text (or returns the statement cached meanwhile),
// dropping one when the cache is full.
func (c *stmtCache) add(text string, st *sql.Stmt) *cachedStmt {
	var drop []*cachedStmt
	c.mu.Lock()
	cs := c.m[text]
	if cs != nil {
		drop = append(drop, &cachedStmt{st: st})
	} else {
		if c.m == nil {
			c.m = map[string]*cachedStmt{}
		}
		for k, v := range c.m {
			if len(c.m) < stmtCacheSize {
				break
			}
			drop = append(drop, v)
			delete(c.m, k)
		}
		cs = &cachedStmt{st: st}
		c.m[text] = cs
	}
	c.mu.Unlock()
	for _, d := range drop {
		d.dropped.Store(true)
		d.st.Close()
	}
	return cs
}

// close closes every cached statement.
func (c *stmtCache) close() error {
	c.mu.Lock()
	m := c.m
	c.m = nil
	c.mu.Unlock()
	var errs []error
	for _, cs := range m {
		cs.dropped.Store(true)
		errs = append(errs, cs.st.Close())
	}
	return errors.Join(errs...)
}
