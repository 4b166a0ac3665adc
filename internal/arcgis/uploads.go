package arcgis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// UploadItem is an uploaded file's item (uploads/upload, register, commit).
type UploadItem struct {
	ItemID      string `json:"itemID"`
	ItemName    string `json:"itemName,omitempty"`
	Description string `json:"description,omitempty"`
	Date        int64  `json:"date,omitempty"`
	Committed   bool   `json:"committed"`
}

// UploadResponse is the {"success","item"} answer of the upload operations.
type UploadResponse struct {
	Success bool        `json:"success"`
	Item    *UploadItem `json:"item,omitempty"`
}

// DefaultPartSize is the part size of UploadLarge (ArcREST switches to
// parts above 10 MB).
const DefaultPartSize = 10 << 20

// multipartBody streams fields then a file part through a pipe; the
// writer goroutine ends when the body is consumed or closed.
func multipartBody(fields url.Values, fileField, fileName string, r io.Reader) (io.ReadCloser, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for k, vs := range fields {
				for _, v := range vs {
					if err := mw.WriteField(k, v); err != nil {
						return err
					}
				}
			}
			h := make(textproto.MIMEHeader)
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, fileField, escapeQuotes(fileName)))
			h.Set("Content-Type", "application/octet-stream")
			part, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			if _, err := io.Copy(part, r); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

func escapeQuotes(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// uploadRequest builds a multipart request whose file is r. When r is an
// io.Seeker the body can be rebuilt for a retry after a token renewal.
func (c *Client) uploadRequest(op, u string, fields url.Values, fileField, fileName string, r io.Reader) *request {
	seeker, canSeek := r.(io.Seeker)
	first := true
	return &request{
		op: op, method: http.MethodPost, url: u, replayable: canSeek,
		multipart: func(token string) (io.ReadCloser, string, error) {
			if !first {
				if !canSeek {
					return nil, "", errors.New("upload body cannot be replayed")
				}
				if _, err := seeker.Seek(0, io.SeekStart); err != nil {
					return nil, "", fmt.Errorf("rewind upload: %w", err)
				}
			}
			first = false
			f := url.Values{"f": {"json"}}
			for k, v := range fields {
				f[k] = v
			}
			if token != "" {
				f.Set("token", token)
			}
			body, ct := multipartBody(f, fileField, fileName, r)
			return body, ct, nil
		},
	}
}

func checkUploadSuccess(out *UploadResponse, needItem bool) func([]byte) error {
	return func([]byte) error {
		if !out.Success {
			return &UnexpectedResponseError{Want: `{"success":true}`}
		}
		if needItem && (out.Item == nil || out.Item.ItemID == "") {
			return &UnexpectedResponseError{Want: "item with itemID"}
		}
		return nil
	}
}

// Upload streams r as one file to svcURL/uploads/upload (multipart, never
// held in memory). Not retried after the request may have reached the
// server; a 498/499 answer is retried once after renewing the token only
// when r is an io.Seeker.
func (c *Client) Upload(ctx context.Context, svcURL, fileName string, r io.Reader, description string) (*UploadItem, error) {
	fields := url.Values{}
	setNonEmpty(fields, "description", description)
	var out UploadResponse
	req := c.uploadRequest("upload", joinURL(svcURL, "uploads", "upload"), fields, "file", fileName, r)
	if err := c.doJSON(ctx, req, &out, checkUploadSuccess(&out, true)); err != nil {
		return nil, fmt.Errorf("upload %s to %s: %w", fileName, svcURL, err)
	}
	return out.Item, nil
}

// RegisterUpload starts a multi-part upload (uploads/register).
func (c *Client) RegisterUpload(ctx context.Context, svcURL, itemName, description string) (*UploadItem, error) {
	q := url.Values{"itemName": {itemName}}
	setNonEmpty(q, "description", description)
	var out UploadResponse
	if err := c.postJSON(ctx, "upload register", joinURL(svcURL, "uploads", "register"), q, false, &out, checkUploadSuccess(&out, true)); err != nil {
		return nil, fmt.Errorf("register upload %s: %w", itemName, err)
	}
	return out.Item, nil
}

// UploadPart sends part partID (1-based) of a registered upload.
func (c *Client) UploadPart(ctx context.Context, svcURL, itemID string, partID int, r io.Reader) error {
	var out UploadResponse
	req := c.uploadRequest("upload part", joinURL(svcURL, "uploads", url.PathEscape(itemID), "uploadPart"),
		url.Values{"partId": {strconv.Itoa(partID)}}, "file", "part"+strconv.Itoa(partID), r)
	if err := c.doJSON(ctx, req, &out, checkUploadSuccess(&out, false)); err != nil {
		return fmt.Errorf("upload part %d of %s: %w", partID, itemID, err)
	}
	return nil
}

// CommitUpload assembles the parts of a registered upload in order.
func (c *Client) CommitUpload(ctx context.Context, svcURL, itemID string, parts []int) (*UploadItem, error) {
	var out UploadResponse
	q := url.Values{"parts": {joinInts(parts)}}
	if err := c.postJSON(ctx, "upload commit", joinURL(svcURL, "uploads", url.PathEscape(itemID), "commit"), q, false, &out, checkUploadSuccess(&out, false)); err != nil {
		return nil, fmt.Errorf("commit upload %s: %w", itemID, err)
	}
	if out.Item == nil {
		out.Item = &UploadItem{ItemID: itemID, Committed: true}
	}
	return out.Item, nil
}

// DeleteUpload deletes an uploaded item.
func (c *Client) DeleteUpload(ctx context.Context, svcURL, itemID string) error {
	var out UploadResponse
	if err := c.postJSON(ctx, "upload delete", joinURL(svcURL, "uploads", url.PathEscape(itemID), "delete"), nil, true, &out, checkUploadSuccess(&out, false)); err != nil {
		return fmt.Errorf("delete upload %s: %w", itemID, err)
	}
	return nil
}

// UploadLarge uploads r with register + uploadPart + commit, reading at
// most partSize bytes (0: DefaultPartSize) into memory at a time. On
// failure it tries to delete the registered item.
func (c *Client) UploadLarge(ctx context.Context, svcURL, fileName string, r io.Reader, partSize int, description string) (*UploadItem, error) {
	if partSize <= 0 {
		partSize = DefaultPartSize
	}
	item, err := c.RegisterUpload(ctx, svcURL, fileName, description)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*UploadItem, error) {
		if derr := c.DeleteUpload(context.WithoutCancel(ctx), svcURL, item.ItemID); derr != nil {
			c.logger.Warn("arcgis: could not delete failed upload", "item", item.ItemID, "err", derr)
		}
		return nil, err
	}
	buf := make([]byte, partSize)
	var parts []int
	for part := 1; ; part++ {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := c.UploadPart(ctx, svcURL, item.ItemID, part, &sliceReader{b: buf[:n]}); err != nil {
				return fail(err)
			}
			parts = append(parts, part)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(fmt.Errorf("read %s: %w", fileName, rerr))
		}
	}
	if len(parts) == 0 {
		return fail(fmt.Errorf("upload %s: empty file", fileName))
	}
	committed, err := c.CommitUpload(ctx, svcURL, item.ItemID, parts)
	if err != nil {
		return fail(err)
	}
	if committed.ItemName == "" {
		committed.ItemName = item.ItemName
	}
	return committed, nil
}

// sliceReader is a seekable reader over a byte slice (so a part can be
// resent after a token renewal).
type sliceReader struct {
	b   []byte
	off int64
}

func (s *sliceReader) Read(p []byte) (int, error) {
	if s.off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p, s.b[s.off:])
	s.off += int64(n)
	return n, nil
}

func (s *sliceReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		s.off = off
	case io.SeekCurrent:
		s.off += off
	case io.SeekEnd:
		s.off = int64(len(s.b)) + off
	}
	if s.off < 0 {
		s.off = 0
	}
	return s.off, nil
}
