package tiles

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offlined/offlined/internal/outbound"
	"github.com/offlined/offlined/internal/redact"
)

// TileFetcher gets one tile. absent is true when the source says the tile
// does not exist (HTTP 404/204 or an ArcGIS 404 error body); such tiles are
// recorded and never asked for again. Errors of type *StatusError carry the
// HTTP status so the downloader can back off on 429/503.
type TileFetcher interface {
	FetchTile(ctx context.Context, k TileKey) (data []byte, absent bool, err error)
}

// Tilemapper reports which tiles exist in a window of a level (the ArcGIS
// tilemap resource): present[r*width+c] for rows row..row+height-1 and
// columns col..col+width-1.
type Tilemapper interface {
	Tilemap(ctx context.Context, level, row, col, width, height int) (present []bool, err error)
}

// StatusError is an unexpected HTTP status from a tile source.
type StatusError struct {
	URL        string
	Code       int
	RetryAfter time.Duration
	Message    string
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.Code, e.Message)
	}
	return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Code)
}

// Throttled reports whether the server asks the client to slow down.
func (e *StatusError) Throttled() bool { return e.Code == 429 || e.Code == 503 }

// Retryable reports whether the request may succeed if repeated.
func (e *StatusError) Retryable() bool {
	return e.Code == 429 || e.Code == 408 || e.Code >= 500
}

// NewTransport returns a keep-alive HTTP transport sized for conc
// concurrent tile requests; its dialer enforces the default outbound policy.
func NewTransport(conc int) *http.Transport {
	if conc < 1 {
		conc = 1
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// Link-local and cloud metadata addresses are refused at dial time.
		DialContext:           outbound.Policy{}.Dialer(&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conc * 4,
		MaxIdleConnsPerHost:   conc * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     true,
		// A tile answer (headers and a body of a few to tens of KB) is
		// taken in one read rather than 4 KiB at a time.
		ReadBufferSize: 64 << 10,
		// Keep tile bytes as served (vector tiles stay gzip-compressed).
		DisableCompression: true,
	}
}

// HTTPFetcher fetches tiles over HTTP from a URL template, adding the token
// Tokens gives for each tile URL as a query parameter. It is safe for
// concurrent use; Client and Tokens must not change after the first
// FetchTile.
type HTTPFetcher struct {
	Client   *http.Client
	Template *Template
	// Tokens, when set, gives the token per URL (none for hosts the
	// credential was not issued for).
	Tokens TokenSource
	// Header is added to every request (e.g. Referer for some tile servers).
	Header http.Header
	// HideQuery replaces the query string of tile URLs in errors by
	// "?…": open tile servers carry their API key there, under any name.
	HideQuery bool
	// Raster decodes a raster tile sent with Content-Encoding gzip (some
	// servers compress whatever the request asked); vector tiles are kept
	// gzipped as MBTiles stores them.
	Raster bool

	// bufs holds tile buffers handed back by RecycleTile.
	bufs tileBuffers
	// guard is Client with the redirect guard for Tokens, made once (a copy
	// of the client per request cost two allocations per tile).
	guardOnce sync.Once
	guard     *http.Client
}

// client returns Client with the redirect guard (see guarded).
func (f *HTTPFetcher) client() *http.Client {
	f.guardOnce.Do(func() { f.guard = guarded(f.Client, f.Tokens) })
	return f.guard
}

// TileRecycler is a TileFetcher whose tile buffers may be reused: Download
// hands a tile's bytes back through RecycleTile once they are committed, so
// a download does not allocate (and the GC does not sweep) a buffer per tile.
type TileRecycler interface {
	RecycleTile(b []byte)
}

// RecycleTile implements TileRecycler: b (from FetchTile) is no longer used.
func (f *HTTPFetcher) RecycleTile(b []byte) { f.bufs.put(b) }

// tileBuffers recycles buffers by size class, powers of two from 4 KiB to
// 1 MiB (larger tiles are rare and not kept). The zero value is ready.
type tileBuffers struct {
	pools [tileBufMaxShift - tileBufMinShift + 1]sync.Pool
}

const (
	tileBufMinShift = 12
	tileBufMaxShift = 20
)

// get returns a buffer of length n, recycled when one of its class is free.
func (t *tileBuffers) get(n int) []byte {
	if n <= 0 || n > 1<<tileBufMaxShift {
		return make([]byte, n)
	}
	c := max(0, bits.Len(uint(n-1))-tileBufMinShift)
	if v, ok := t.pools[c].Get().(*[]byte); ok {
		return (*v)[:n]
	}
	return make([]byte, n, 1<<(c+tileBufMinShift))
}

// put keeps b for a later get of up to cap(b) bytes.
func (t *tileBuffers) put(b []byte) {
	c := bits.Len(uint(cap(b))) - 1 - tileBufMinShift // largest class that fits
	if c < 0 || c >= len(t.pools) {
		return
	}
	b = b[:0]
	t.pools[c].Put(&b)
}

// shown is a tile URL as errors show it.
func (f *HTTPFetcher) shown(u string) string {
	if f.HideQuery {
		return HideQuery(u)
	}
	return u
}

// HideQuery returns u with its query string replaced by "?…" (a template's
// API key is never shown).
func HideQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// NewHTTPFetcher returns a fetcher with a keep-alive client sized for conc.
func NewHTTPFetcher(t *Template, tokens TokenSource, conc int) *HTTPFetcher {
	return &HTTPFetcher{Client: &http.Client{Transport: NewTransport(conc)}, Template: t, Tokens: tokens}
}

func withToken(u, token string) string {
	if token == "" {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "token=" + url.QueryEscape(token)
}

// FetchTile implements TileFetcher.
func (f *HTTPFetcher) FetchTile(ctx context.Context, k TileKey) ([]byte, bool, error) {
	u, err := authURL(ctx, f.Tokens, f.Template.URL(k))
	if err != nil {
		return nil, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	for h, v := range f.Header {
		req.Header[h] = v
	}
	resp, err := f.client().Do(req)
	if err != nil {
		err = redact.Error(err)
		var ue *url.Error
		if f.HideQuery && errors.As(err, &ue) {
			ue.URL = HideQuery(ue.URL)
		}
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent, http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, true, nil
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		se := &StatusError{URL: f.shown(f.Template.URL(k)), Code: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			if s, err := strconv.Atoi(ra); err == nil {
				se.RetryAfter = time.Duration(s) * time.Second
			}
		}
		return nil, false, se
	}
	if resp.ContentLength > MaxTileBytes {
		return nil, false, &FatalError{Err: &TooLargeError{What: "tile", URL: f.shown(f.Template.URL(k)), Limit: MaxTileBytes}}
	}
	var body io.Reader = resp.Body
	size := resp.ContentLength
	if f.Raster && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, false, fmt.Errorf("GET %s: gzip: %w", f.shown(f.Template.URL(k)), err)
		}
		defer zr.Close()
		body, size = zr, -1
	}
	b, err := readTileBody(body, size, &f.bufs, f.shown(f.Template.URL(k)))
	if err != nil {
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return nil, false, &FatalError{Err: err}
		}
		return nil, false, fmt.Errorf("GET %s: %w", f.shown(f.Template.URL(k)), err)
	}
	if len(b) == 0 {
		return nil, true, nil
	}
	// ArcGIS answers missing tiles and auth failures with JSON error bodies and HTTP 200.
	if b[0] == '{' && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if e := bodyError(b, ""); e != nil {
			if e.Code == 404 {
				return nil, true, nil
			}
			return nil, false, &StatusError{URL: f.shown(f.Template.URL(k)), Code: e.Code, Message: e.Message}
		}
	}
	return b, false, nil
}

// readTileBody reads a tile body of size bytes (its Content-Length; -1 when
// unknown) into one buffer of that size (recycled when bufs has one), up to
// MaxTileBytes. Growing a buffer from 512 bytes, as io.ReadAll does,
// allocated and copied a ~13 KB tile five times over. A body longer than
// announced is read on.
func readTileBody(r io.Reader, size int64, bufs *tileBuffers, shown string) ([]byte, error) {
	if size < 0 || size > MaxTileBytes {
		return readCapped(r, MaxTileBytes, "tile", shown)
	}
	b := bufs.get(int(size))
	if _, err := io.ReadFull(r, b); err != nil {
		bufs.put(b)
		return nil, err
	}
	var probe [1]byte
	switch _, err := io.ReadFull(r, probe[:]); {
	case err == io.EOF:
		return b, nil
	case err != nil:
		return nil, err
	}
	rest, err := readCapped(r, MaxTileBytes-size-1, "tile", shown)
	if err != nil {
		var tl *TooLargeError
		if errors.As(err, &tl) {
			tl.Limit = MaxTileBytes
		}
		return nil, err
	}
	return append(append(b, probe[0]), rest...), nil
}

// HTTPTilemap reads an ArcGIS tilemap resource:
// serviceURL/tilemap/{level}/{row}/{col}/{width}/{height}?f=json.
type HTTPTilemap struct {
	Client     *http.Client
	ServiceURL string
	Tokens     TokenSource
}

type tilemapDoc struct {
	Adjusted bool `json:"adjusted"`
	Location struct {
		Left, Top, Width, Height int
	} `json:"location"`
	Data  []int `json:"data"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ParseTilemap decodes a tilemap response and returns presence for the
// requested window (the server may answer an enlarged, "adjusted" window).
func ParseTilemap(b []byte, row, col, width, height int) ([]bool, error) {
	var d tilemapDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("tilemap: %w", err)
	}
	if d.Error != nil {
		return nil, fmt.Errorf("tilemap: error %d: %s", d.Error.Code, d.Error.Message)
	}
	loc := d.Location
	if loc.Width == 0 && loc.Height == 0 {
		loc.Left, loc.Top, loc.Width, loc.Height = col, row, width, height
	}
	if loc.Width <= 0 || loc.Height <= 0 || loc.Width > 1<<16 || loc.Height > 1<<16 || len(d.Data) != loc.Width*loc.Height {
		return nil, fmt.Errorf("tilemap: %d values for a %dx%d window", len(d.Data), loc.Width, loc.Height)
	}
	out := make([]bool, width*height)
	for r := 0; r < height; r++ {
		for c := 0; c < width; c++ {
			rr, cc := row+r-loc.Top, col+c-loc.Left
			if rr < 0 || cc < 0 || rr >= loc.Height || cc >= loc.Width {
				// Outside the answered window: unknown, so fetch it.
				out[r*width+c] = true
				continue
			}
			out[r*width+c] = d.Data[rr*loc.Width+cc] != 0
		}
	}
	return out, nil
}

// Tilemap implements Tilemapper.
func (t *HTTPTilemap) Tilemap(ctx context.Context, level, row, col, width, height int) ([]bool, error) {
	u := fmt.Sprintf("%s/tilemap/%d/%d/%d/%d/%d?f=json", strings.TrimRight(t.ServiceURL, "/"), level, row, col, width, height)
	au, err := authURL(ctx, t.Tokens, u)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, au, nil)
	if err != nil {
		return nil, err
	}
	resp, err := do(t.Client, t.Tokens, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{URL: u, Code: resp.StatusCode}
	}
	b, err := readCapped(resp.Body, MaxDocumentBytes, "tilemap", u)
	if err != nil {
		return nil, err
	}
	return ParseTilemap(b, row, col, width, height)
}
