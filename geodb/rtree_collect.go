package geodb

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// rtCollector gathers RTree entries while a bulk load inserts rows into a
// table that was empty, so the index is built from them instead of reading
// every geometry back. Entries past runSize are spilled to an unlinked
// temporary file, so memory stays flat. The entries are used only when they
// account for every row in the table (no row replaced or dropped, every
// object id explicit); otherwise the table is scanned as before.
type rtCollector struct {
	oidPos  int // index of the object id in a row's values
	runSize int
	ok      bool
	rows    int64 // rows inserted
	ents    []rtRecord
	file    *os.File
	w       *bufio.Writer
}

// rtRecord is a collected entry: the id, its float32 box and the float64
// centre the Z-order key is computed from (the same as a scan computes).
type rtRecord struct {
	id     int64
	cx, cy float64
	box    [4]float32
}

const rtRecordSize = 40

func newRTCollector(t *Table, runSize int) *rtCollector {
	c := &rtCollector{oidPos: -1, runSize: runSize}
	for i := range t.Cols {
		if strings.EqualFold(t.Cols[i].Name, t.OIDCol) {
			c.oidPos = i
		}
	}
	c.ok = c.oidPos >= 0
	return c
}

// add records the entry of a row (values as inserted) with a geometry of
// the given bounds.
func (c *rtCollector) add(args []any, minx, maxx, miny, maxy float64) error {
	if !c.ok {
		return nil
	}
	id, isInt := args[c.oidPos].(int64)
	if !isInt {
		c.ok = false // SQLite picks the rowid: unknown here
		c.ents = nil
		return nil
	}
	c.ents = append(c.ents, rtRecord{id, (minx + maxx) / 2, (miny + maxy) / 2, [4]float32{down32(minx), up32(maxx), down32(miny), up32(maxy)}})
	if len(c.ents) >= c.runSize {
		return c.spill()
	}
	return nil
}

func (c *rtCollector) spill() error {
	if c.file == nil {
		f, err := os.CreateTemp("", "offlined-rtree-*.tmp")
		if err != nil {
			return fmt.Errorf("rtree entries: %w", err)
		}
		os.Remove(f.Name()) // unlinked: gone when closed
		c.file, c.w = f, bufio.NewWriterSize(f, 1<<16)
	}
	var rec [rtRecordSize]byte
	for _, e := range c.ents {
		binary.LittleEndian.PutUint64(rec[0:], uint64(e.id))
		binary.LittleEndian.PutUint64(rec[8:], math.Float64bits(e.cx))
		binary.LittleEndian.PutUint64(rec[16:], math.Float64bits(e.cy))
		for k := 0; k < 4; k++ {
			binary.LittleEndian.PutUint32(rec[24+4*k:], math.Float32bits(e.box[k]))
		}
		if _, err := c.w.Write(rec[:]); err != nil {
			return fmt.Errorf("rtree entries: %w", err)
		}
	}
	c.ents = c.ents[:0]
	return nil
}

// sorter returns the collected entries sorted by Z-order key within ext,
// or nil when they do not describe the table.
func (c *rtCollector) sorter(ctx context.Context, tx *sql.Tx, t *Table, ext *[4]float64, runSize int) (*entrySorter, error) {
	if !c.ok {
		return nil, nil
	}
	var n int64
	if err := tx.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s", qid(t.Name))).Scan(&n); err != nil {
		return nil, err
	}
	if n != c.rows {
		return nil, nil // rows replaced or dropped: scan the table
	}
	return fillSorter(runSize, func(add func(zEntry) error) error {
		put := func(e rtRecord) error {
			return add(zEntry{zKey(ext, e.cx, e.cy), rtEntry{e.id, e.box}})
		}
		if c.file != nil {
			if err := c.replay(put); err != nil {
				return err
			}
		}
		for _, e := range c.ents {
			if err := put(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// replay passes fn the entries spilled to c.file, in order.
func (c *rtCollector) replay(fn func(rtRecord) error) error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	end, err := c.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(c.file, 0, end), 1<<16)
	var rec [rtRecordSize]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		e := rtRecord{id: int64(binary.LittleEndian.Uint64(rec[0:])),
			cx: math.Float64frombits(binary.LittleEndian.Uint64(rec[8:])), cy: math.Float64frombits(binary.LittleEndian.Uint64(rec[16:]))}
		for k := 0; k < 4; k++ {
			e.box[k] = math.Float32frombits(binary.LittleEndian.Uint32(rec[24+4*k:]))
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

func (c *rtCollector) close() {
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
	c.ents = nil
}

// collectRunSize bounds the entries a collector holds before spilling
// (1.25 MiB).
const collectRunSize = 1 << 15
