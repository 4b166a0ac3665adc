package arcgis

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// resumingReader reads a download body and, when the connection breaks,
// continues with a Range request from the last byte received.
type resumingReader struct {
	c       *Client
	ctx     context.Context
	req     *request
	body    io.ReadCloser
	etag    string
	noRange bool // the body was transparently decompressed: offsets are not byte ranges
	off     int64
	resumes int
	closed  bool
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		if r.closed {
			return 0, io.ErrClosedPipe
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF || n > 0 && err != nil && !retryableErr(err) {
			return n, err
		}
		if !retryableErr(err) || r.noRange || r.ctx.Err() != nil || r.resumes+1 >= r.c.retry.MaxAttempts {
			if r.resumes > 0 {
				err = fmt.Errorf("%w (after %d resumes)", err, r.resumes)
			}
			return n, err
		}
		if n > 0 {
			// deliver what arrived; the next Read resumes
			r.body.Close()
			r.body = failingBody{err}
			if rerr := r.resume(err); rerr != nil {
				r.body = failingBody{rerr}
			}
			return n, nil
		}
		if rerr := r.resume(err); rerr != nil {
			return 0, rerr
		}
	}
}

// resume replaces the body with the rest of the resource from r.off.
func (r *resumingReader) resume(cause error) error {
	r.body.Close()
	r.resumes++
	if err := sleepCtx(r.ctx, r.c.retry.backoff(r.resumes, r.c.rnd)); err != nil {
		return err
	}
	req := *r.req
	req.header = http.Header{"Range": {"bytes=" + strconv.FormatInt(r.off, 10) + "-"}}
	if r.etag != "" {
		req.header.Set("If-Range", r.etag)
	}
	r.c.logger.Debug("arcgis: resuming download", "url", stripQuery(r.req.url), "offset", r.off, "cause", cause)
	resp, _, err := r.c.exchange(r.ctx, &req, true)
	if err != nil {
		return fmt.Errorf("resume download at byte %d: %w (after %v)", r.off, err, cause)
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		r.body = resp.Body
	case r.etag != "" && resp.Header.Get("ETag") != r.etag:
		resp.Body.Close()
		return fmt.Errorf("resume download %s: the resource changed while downloading (after %v)", stripQuery(r.req.url), cause)
	default: // the server ignored Range: skip what we already have
		if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
			resp.Body.Close()
			return fmt.Errorf("resume download at byte %d: %w", r.off, err)
		}
		r.body = resp.Body
	}
	return nil
}

func (r *resumingReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.body.Close()
}

// failingBody returns err on every read.
type failingBody struct{ err error }

func (f failingBody) Read([]byte) (int, error) { return 0, f.err }
func (f failingBody) Close() error             { return nil }
