package localapi

import (
	"bufio"
	"encoding/json"
	"io"
)

// jsonStream writes a JSON document piece by piece through a buffer.
type jsonStream struct {
	bw  *bufio.Writer
	enc *json.Encoder
	err error
}

func newJSONStream(w io.Writer) *jsonStream {
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &jsonStream{bw: bw, enc: enc}
}

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
