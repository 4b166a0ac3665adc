package geodb

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// Bulk RTree build. Inserting rows one by one into an SQLite rtree costs a
// ChooseLeaf descent and frequent splits per row (the slowest part of a
// load). Instead, like GDAL ≥ 3.8, geodb packs the tree bottom-up from the
// entries sorted along a Z-order curve and writes the rtree's shadow tables
// (%_node, %_rowid, %_parent) directly. Entries are sorted in Go in runs of
// 128 Ki entries spilled to an unlinked temporary file and merged, and only
// one level above the leaves is held in memory (one entry per 51 features),
// so memory stays flat.

func interleave(x, y uint32) uint64 {
	spread := func(v uint64) uint64 {
		v = (v | v<<8) & 0x00FF00FF
		v = (v | v<<4) & 0x0F0F0F0F
		v = (v | v<<2) & 0x33333333
		v = (v | v<<1) & 0x55555555
		return v
	}
	return spread(uint64(x)) | spread(uint64(y))<<1
}

const rtreeMaxCells = 51 // SQLite's RTREE_MAXCELLS

type rtEntry struct {
	id  int64
	box [4]float32 // minx, maxx, miny, maxy
}

func down32(d float64) float32 {
	f := float32(d)
	if float64(f) > d {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

func up32(d float64) float32 {
	f := float32(d)
	if float64(f) < d {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

type rtBuilder struct {
	rowids        *entrySorter // (feature id → leaf node) sorted by id before insert
	ctx           context.Context
	tx            *sql.Tx
	nodeSize      int
	next          int64 // next free node number (1 is the root)
	node          *sql.Stmt
	rowid, parent *batchInsert
	buf           []byte
}

func (b *rtBuilder) encode(depth int, ents []rtEntry) []byte {
	for i := range b.buf {
		b.buf[i] = 0
	}
	binary.BigEndian.PutUint16(b.buf[0:], uint16(depth))
	binary.BigEndian.PutUint16(b.buf[2:], uint16(len(ents)))
	off := 4
	for _, e := range ents {
		binary.BigEndian.PutUint64(b.buf[off:], uint64(e.id))
		for k := 0; k < 4; k++ {
			binary.BigEndian.PutUint32(b.buf[off+8+4*k:], math.Float32bits(e.box[k]))
		}
		off += 24
	}
	return b.buf
}

func union(ents []rtEntry) [4]float32 {
	u := ents[0].box
	for _, e := range ents[1:] {
		u[0] = min(u[0], e.box[0])
		u[1] = max(u[1], e.box[1])
		u[2] = min(u[2], e.box[2])
		u[3] = max(u[3], e.box[3])
	}
	return u
}

// writeNode stores a node; leaf cells also get %_rowid rows and child
// nodes of an inner node get %_parent rows. It returns the node's entry
// for the level above.
func (b *rtBuilder) writeNode(nodeno int64, depth int, leaf bool, ents []rtEntry) (rtEntry, error) {
	if _, err := b.node.ExecContext(b.ctx, nodeno, b.encode(depth, ents)); err != nil {
		return rtEntry{}, err
	}
	for _, e := range ents {
		var err error
		if leaf {
			// %_rowid is keyed by feature id; inserting in Z order would
			// hit random pages, so collect and insert in id order later.
			err = b.rowids.add(zEntry{z: uint64(e.id), e: rtEntry{id: nodeno}})
		} else {
			err = b.parent.add(e.id, nodeno)
		}
		if err != nil {
			return rtEntry{}, err
		}
	}
	return rtEntry{id: nodeno, box: union(ents)}, nil
}

// bulkFillRTree rebuilds t's RTree from its geometries. With a collector
// (a load into an empty table) the entries come from it instead of a scan
// of the table, when it saw every row the table holds.
func bulkFillRTree(ctx context.Context, tx *sql.Tx, t *Table, known *[4]float64, runSize int, collected *rtCollector) error {
	rt := rtreeName(t)
	var nodeSize int
	if err := tx.QueryRowContext(ctx, fmt.Sprintf("SELECT length(data) FROM %s WHERE nodeno = 1", qid(rt+"_node"))).Scan(&nodeSize); err != nil {
		return fmt.Errorf("rtree node size: %w", err)
	}
	if nodeSize < 4+24*rtreeMaxCells {
		return fmt.Errorf("rtree node size %d too small", nodeSize)
	}
	for _, s := range []string{"_node", "_rowid", "_parent"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+qid(rt+s)); err != nil {
			return err
		}
	}
	b := &rtBuilder{ctx: ctx, tx: tx, nodeSize: nodeSize, next: 2, buf: make([]byte, nodeSize), rowids: newEntrySorter(runSize)}
	defer b.rowids.close()
	var err error
	if b.node, err = tx.PrepareContext(ctx, fmt.Sprintf("INSERT INTO %s (nodeno, data) VALUES (?, ?)", qid(rt+"_node"))); err != nil {
		return err
	}
	defer b.node.Close()
	b.rowid = newBatchInsert(ctx, tx, fmt.Sprintf("INSERT INTO %s (rowid, nodeno) VALUES ", qid(rt+"_rowid")), 2, 256)
	defer b.rowid.discard()
	b.parent = newBatchInsert(ctx, tx, fmt.Sprintf("INSERT INTO %s (nodeno, parentnode) VALUES ", qid(rt+"_parent")), 2, 256)
	defer b.parent.discard()

	var ext *[4]float64
	if known != nil {
		ext = known
	} else {
		var err error
		if ext, err = scanExtent(ctx, tx, t); err != nil {
			return err
		}
	}
	if ext == nil { // no geometries: an empty root
		_, err := b.node.ExecContext(ctx, 1, b.encode(0, nil))
		return err
	}
	var srt *entrySorter
	if collected != nil && known != nil {
		srt, err = collected.sorter(ctx, tx, t, ext, runSize)
		if err != nil {
			return fmt.Errorf("rtree entries: %w", err)
		}
	}
	if srt == nil {
		if srt, err = sortEntries(ctx, tx, t, ext, runSize); err != nil {
			return fmt.Errorf("rtree entries: %w", err)
		}
	}
	defer srt.close()
	// Walk the entries in Z-order and write each leaf as it fills.
	cur := make([]rtEntry, 0, rtreeMaxCells)
	var level []rtEntry // entries for level 1
	flushLeaf := func() error {
		e, err := b.writeNode(b.next, 0, true, cur)
		if err != nil {
			return err
		}
		b.next++
		level = append(level, e)
		cur = cur[:0]
		return nil
	}
	for {
		z, ok, err := srt.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		cur = append(cur, z.e)
		if len(cur) == rtreeMaxCells {
			if err := flushLeaf(); err != nil {
				return err
			}
		}
	}
	if len(level) == 0 { // everything fits in the root leaf
		if _, err := b.writeNode(1, 0, true, cur); err != nil {
			return err
		}
		return b.writeRowids()
	}
	if len(cur) > 0 {
		if err := flushLeaf(); err != nil {
			return err
		}
	}
	// Inner levels.
	depth := 1
	for len(level) > rtreeMaxCells {
		var up []rtEntry
		for i := 0; i < len(level); i += rtreeMaxCells {
			e, err := b.writeNode(b.next, 0, false, level[i:min(i+rtreeMaxCells, len(level))])
			if err != nil {
				return err
			}
			b.next++
			up = append(up, e)
		}
		level = up
		depth++
	}
	if _, err = b.writeNode(1, depth, false, level); err != nil {
		return err
	}
	if err := b.parent.flush(); err != nil {
		return err
	}
	return b.writeRowids()
}

// writeRowids inserts the collected %_rowid rows in feature-id order.
func (b *rtBuilder) writeRowids() error {
	if err := b.rowids.finish(); err != nil {
		return err
	}
	for {
		z, ok, err := b.rowids.next()
		if err != nil {
			return err
		}
		if !ok {
			return b.rowid.flush()
		}
		if err := b.rowid.add(int64(z.z), z.e.id); err != nil {
			return err
		}
	}
}

// blobBounds returns a geometry blob's 2D bounds, using the header envelope
// when there is one; ok is false for NULL, empty or undecodable blobs.
func blobBounds(b []byte) (minx, maxx, miny, maxy float64, ok bool) {
	h, err := ParseBlobHeader(b)
	if err != nil || h.Empty {
		return 0, 0, 0, 0, false
	}
	if h.Envelope != nil && !math.IsNaN(h.Envelope[0]) {
		return h.Envelope[0], h.Envelope[1], h.Envelope[2], h.Envelope[3], true
	}
	g, err := DecodeWKB(h.WKB)
	if err != nil {
		return 0, 0, 0, 0, false
	}
	return g.Bounds()
}

// scanExtent computes the extent of t's geometries (nil when none).
func scanExtent(ctx context.Context, tx *sql.Tx, t *Table) (*[4]float64, error) {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s NOT NULL", qid(t.GeomCol), qid(t.Name), qid(t.GeomCol)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ext := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	any := false
	for rows.Next() {
		var b sql.RawBytes
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if x0, x1, y0, y1, ok := blobBounds(b); ok {
			any = true
			ext[0], ext[1] = math.Min(ext[0], x0), math.Min(ext[1], y0)
			ext[2], ext[3] = math.Max(ext[2], x1), math.Max(ext[3], y1)
		}
	}
	if !any {
		return nil, rows.Err()
	}
	return &ext, rows.Err()
}

// zEntry is an RTree leaf entry with its Z-order key (32 bytes on disk).
type zEntry struct {
	z uint64
	e rtEntry
}

// defaultRunSize bounds the entries held in memory while sorting (4 MiB).
const defaultRunSize = 1 << 17

// entrySorter sorts zEntries by key with bounded memory: runs of runSize
// entries are sorted in memory; when there is more than one run they are
// spilled to an unlinked temporary file and merged.
type entrySorter struct {
	runSize int
	run     []zEntry
	mem     []zEntry
	pos     int
	file    *os.File
	offsets []int64
	runs    []*bufio.Reader
	heads   []zEntry
	live    []bool
}

func newEntrySorter(runSize int) *entrySorter {
	return &entrySorter{runSize: runSize, run: make([]zEntry, 0, min(runSize, 1<<12))}
}

func (s *entrySorter) sortRun() {
	slices.SortFunc(s.run, func(a, b zEntry) int { return cmp.Compare(a.z, b.z) })
}

func (s *entrySorter) spill() error {
	s.sortRun()
	if s.file == nil {
		f, err := os.CreateTemp("", "offlined-rtree-*.tmp")
		if err != nil {
			return err
		}
		os.Remove(f.Name()) // unlinked: gone when closed
		s.file = f
	}
	off, err := s.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	s.offsets = append(s.offsets, off)
	w := bufio.NewWriterSize(s.file, 1<<16)
	var rec [32]byte
	for _, z := range s.run {
		encodeZ(rec[:], z)
		w.Write(rec[:])
	}
	s.run = s.run[:0]
	return w.Flush()
}

func (s *entrySorter) add(z zEntry) error {
	s.run = append(s.run, z)
	if len(s.run) >= s.runSize {
		return s.spill()
	}
	return nil
}

// finish prepares iteration with next.
func (s *entrySorter) finish() error {
	if s.file == nil {
		s.sortRun()
		s.mem = s.run
		return nil
	}
	if len(s.run) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	end, err := s.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	s.offsets = append(s.offsets, end)
	for i := 0; i+1 < len(s.offsets); i++ {
		r := bufio.NewReaderSize(io.NewSectionReader(s.file, s.offsets[i], s.offsets[i+1]-s.offsets[i]), 1<<15)
		s.runs = append(s.runs, r)
		s.heads = append(s.heads, zEntry{})
		s.live = append(s.live, true)
		if err := s.advance(i); err != nil {
			return err
		}
	}
	return nil
}

func sortEntries(ctx context.Context, tx *sql.Tx, t *Table, ext *[4]float64, runSize int) (*entrySorter, error) {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s NOT NULL", qid(t.OIDCol), qid(t.GeomCol), qid(t.Name), qid(t.GeomCol)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return fillSorter(runSize, func(add func(zEntry) error) error {
		for rows.Next() {
			var id int64
			var b sql.RawBytes
			if err := rows.Scan(&id, &b); err != nil {
				return err
			}
			x0, x1, y0, y1, ok := blobBounds(b)
			if !ok {
				continue
			}
			z := zKey(ext, (x0+x1)/2, (y0+y1)/2)
			if err := add(zEntry{z, rtEntry{id, [4]float32{down32(x0), up32(x1), down32(y0), up32(y1)}}}); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// fillSorter returns a finished entrySorter of runSize holding the entries
// feed passes to add; on error the sorter is closed.
func fillSorter(runSize int, feed func(add func(zEntry) error) error) (*entrySorter, error) {
	s := newEntrySorter(runSize)
	if err := feed(s.add); err != nil {
		s.close()
		return nil, err
	}
	if err := s.finish(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// zKey is the Z-order key of a box centre (cx, cy) within ext (minx, miny,
// maxx, maxy), 16 bits per axis.
func zKey(ext *[4]float64, cx, cy float64) uint64 {
	norm := func(v, lo, hi float64) uint32 {
		if hi <= lo {
			return 0
		}
		return uint32(math.Max(0, math.Min(65535, (v-lo)/(hi-lo)*65535)))
	}
	return interleave(norm(cx, ext[0], ext[2]), norm(cy, ext[1], ext[3]))
}

func encodeZ(rec []byte, z zEntry) {
	binary.LittleEndian.PutUint64(rec[0:], z.z)
	binary.LittleEndian.PutUint64(rec[8:], uint64(z.e.id))
	for k := 0; k < 4; k++ {
		binary.LittleEndian.PutUint32(rec[16+4*k:], math.Float32bits(z.e.box[k]))
	}
}

func (s *entrySorter) advance(i int) error {
	var rec [32]byte
	if _, err := io.ReadFull(s.runs[i], rec[:]); err != nil {
		if err == io.EOF {
			s.live[i] = false
			return nil
		}
		return err
	}
	z := zEntry{z: binary.LittleEndian.Uint64(rec[0:]), e: rtEntry{id: int64(binary.LittleEndian.Uint64(rec[8:]))}}
	for k := 0; k < 4; k++ {
		z.e.box[k] = math.Float32frombits(binary.LittleEndian.Uint32(rec[16+4*k:]))
	}
	s.heads[i] = z
	return nil
}

// next returns the next entry in Z order (a linear scan over the run heads:
// there are few runs).
func (s *entrySorter) next() (zEntry, bool, error) {
	if s.file == nil {
		if s.pos >= len(s.mem) {
			return zEntry{}, false, nil
		}
		s.pos++
		return s.mem[s.pos-1], true, nil
	}
	best := -1
	for i, ok := range s.live {
		if ok && (best < 0 || s.heads[i].z < s.heads[best].z) {
			best = i
		}
	}
	if best < 0 {
		return zEntry{}, false, nil
	}
	e := s.heads[best]
	return e, true, s.advance(best)
}

func (s *entrySorter) close() {
	if s.file != nil {
		s.file.Close()
	}
}
