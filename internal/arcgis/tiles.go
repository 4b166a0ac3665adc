package arcgis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Tile is a fetched tile: its bytes exactly as served (vector tiles are
// usually gzip-compressed MVT; ContentEncoding is then "gzip" — the client
// asks for gzip itself so the transport does not decompress) and its type.
type Tile struct {
	Data            []byte
	ContentType     string
	ContentEncoding string
}

// maxTileBytes bounds one tile response.
const maxTileBytes = 64 << 20

// fetchTile GETs a tile URL (idempotent, retried). HTTP 404/204 and
// ArcGIS 404 bodies become *TileAbsentError.
func (c *Client) fetchTile(ctx context.Context, tileURL string) (*Tile, error) {
	req := &request{op: "tile", method: http.MethodGet, url: tileURL, idempotent: true,
		header: http.Header{"Accept-Encoding": {"gzip"}}}
	resp, _, err := c.exchange(ctx, req, true)
	if err != nil {
		var ae *Error
		var he *HTTPError
		switch {
		case errors.As(err, &ae) && (ae.Code == 404 || ae.HTTPStatus == 404):
			return nil, &TileAbsentError{URL: stripQuery(tileURL), StatusCode: 404}
		case errors.As(err, &he) && he.StatusCode == 404:
			return nil, &TileAbsentError{URL: stripQuery(tileURL), StatusCode: 404}
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, &TileAbsentError{URL: stripQuery(tileURL), StatusCode: resp.StatusCode}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tile %s: read: %w", stripQuery(tileURL), err)
	}
	if len(data) > maxTileBytes {
		return nil, fmt.Errorf("tile %s: larger than %d bytes", stripQuery(tileURL), maxTileBytes)
	}
	if len(data) == 0 {
		return nil, &TileAbsentError{URL: stripQuery(tileURL), StatusCode: resp.StatusCode}
	}
	return &Tile{Data: data, ContentType: resp.Header.Get("Content-Type"), ContentEncoding: resp.Header.Get("Content-Encoding")}, nil
}

// TilemapLocation is the window a tilemap answer covers.
type TilemapLocation struct {
	Left   int `json:"left"`
	Top    int `json:"top"`
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Tilemap is a tilemap answer: row-major presence flags for the window.
type Tilemap struct {
	Adjusted bool            `json:"adjusted"`
	Location TilemapLocation `json:"location"`
	Data     []int           `json:"data"`
}

// Has reports whether the tile at (row, col) exists according to the
// tilemap; tiles outside the window report false.
func (t *Tilemap) Has(row, col int) bool {
	r, c := row-t.Location.Top, col-t.Location.Left
	if r < 0 || c < 0 || r >= t.Location.Height || c >= t.Location.Width {
		return false
	}
	i := r*t.Location.Width + c
	return i < len(t.Data) && t.Data[i] != 0
}

// fetchTilemap GETs svcURL/tilemap/{level}/{row}/{col}/{w}/{h}.
func (c *Client) fetchTilemap(ctx context.Context, svcURL string, level, row, col, width, height int) (*Tilemap, error) {
	u := joinURL(svcURL, "tilemap", itoa(level), itoa(row), itoa(col), itoa(width), itoa(height))
	var tm Tilemap
	err := c.getJSON(ctx, "tilemap", u, nil, &tm, func(body []byte) error {
		if !hasKey(body, "data") || tm.Location.Width <= 0 || tm.Location.Height <= 0 {
			return &UnexpectedResponseError{Want: "tilemap (location, data)"}
		}
		if len(tm.Data) != tm.Location.Width*tm.Location.Height {
			return &UnexpectedResponseError{Want: fmt.Sprintf("tilemap data of %dx%d entries, got %d", tm.Location.Width, tm.Location.Height, len(tm.Data))}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tilemap %d/%d/%d: %w", level, row, col, err)
	}
	return &tm, nil
}

func itoa(n int) string { return fmt.Sprint(n) }
