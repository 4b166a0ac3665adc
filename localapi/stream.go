package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"

	"github.com/offlined/offlined/geodb"
)

// jsonStream writes a JSON document piece by piece through a buffer.
type jsonStream struct {
	bw  *bufio.Writer
	enc *json.Encoder
	out *countWriter
	err error
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func newJSONStream(w io.Writer) *jsonStream {
	out := &countWriter{w: w}
	bw := bufio.NewWriterSize(out, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &jsonStream{bw: bw, enc: enc, out: out}
}

// sent reports whether any byte left the buffer: until then the caller
// can still answer with an error instead.
func (s *jsonStream) sent() bool { return s.out.n > 0 }

func (s *jsonStream) raw(t string) {
	if s.err == nil {
		_, s.err = s.bw.WriteString(t)
	}
}

// value writes v (json.Encoder adds a newline, which JSON allows).
func (s *jsonStream) value(v any) error {
	if s.err == nil {
		s.err = s.enc.Encode(v)
	}
	return s.err
}

// write writes already encoded JSON.
func (s *jsonStream) write(b []byte) error {
	if s.err == nil {
		_, s.err = s.bw.Write(b)
	}
	return s.err
}

func (s *jsonStream) flush() error {
	if s.err == nil {
		s.err = s.bw.Flush()
	}
	return s.err
}

// features writes up to limit rows of q from db as comma-separated GeoJSON
// Features of t; more reports a row beyond limit (ask for limit+1).
func (s *jsonStream) features(ctx context.Context, db *geodb.DB, q geodb.Query, t *geodb.Table, xf coordXform, limit int) (n int, more bool, err error) {
	var buf []byte
	var props []property
	err = db.Scan(ctx, q, func(row *geodb.RowView) error {
		if n == limit {
			more = true
			// A row that cannot be decoded fails the page, this one too.
			_, err := row.Geometry()
			return err
		}
		if props == nil {
			props = propertyOrder(t, row.Cols)
		}
		buf = buf[:0]
		if n > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendFeature(buf, row, t, props, xf); err != nil {
			return err
		}
		n++
		return s.write(buf)
	})
	return n, more, err
}
