package tiles

import (
	"bytes"
	"container/list"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"sync"
)

// tileKey identifies one tile of a service.
type tileKey struct{ level, row, col int }

// tileHash mixes a seed and a tile key into 64 well-spread bits.
func tileHash(seed int64, k tileKey) uint64 {
	h := uint64(seed)*0x9e3779b97f4a7c15 ^ uint64(k.level)<<56 ^ uint64(k.row)<<28 ^ uint64(k.col)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// tileRenderer draws deterministic tiles and keeps recent encodings in a
// bounded LRU cache.
type tileRenderer struct {
	size    int
	format  string // "PNG" or "JPEG"
	quality int
	seed    int64
	png     *png.Encoder // BestSpeed with a concurrency-safe buffer pool

	mu    sync.Mutex
	cap   int
	ll    *list.List
	items map[tileKey]*list.Element
}

type cachedTile struct {
	key  tileKey
	data []byte
}

func newTileRenderer(size int, format string, quality int, seed int64, capacity int) *tileRenderer {
	return &tileRenderer{size: size, format: format, quality: quality, seed: seed, cap: capacity,
		png: &png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}},
		ll:  list.New(), items: map[tileKey]*list.Element{}}
}

type pngPool struct{ p sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer {
	b, _ := p.p.Get().(*png.EncoderBuffer)
	return b
}
func (p *pngPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }

// tile returns the encoded bytes of tile k (the same bytes every time).
func (t *tileRenderer) tile(k tileKey) ([]byte, error) {
	t.mu.Lock()
	if e, ok := t.items[k]; ok {
		t.ll.MoveToFront(e)
		data := e.Value.(*cachedTile).data
		t.mu.Unlock()
		return data, nil
	}
	t.mu.Unlock()
	data, err := t.render(k)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.items[k]; !ok {
		t.items[k] = t.ll.PushFront(&cachedTile{key: k, data: data})
		for t.ll.Len() > t.cap {
			old := t.ll.Back()
			t.ll.Remove(old)
			delete(t.items, old.Value.(*cachedTile).key)
		}
	}
	return data, nil
}

// render draws tile k: a seeded background, a border, a diagonal and the
// 64-bit tile code as an 8×8 block pattern, so every tile's pixels differ.
func (t *tileRenderer) render(k tileKey) ([]byte, error) {
	h := tileHash(t.seed, k)
	bg := color.RGBA{uint8(200 + h%48), uint8(210 + (h>>8)%40), uint8(190 + (h>>16)%60), 255}
	pal := color.Palette{bg, color.RGBA{90, 90, 110, 255}, color.RGBA{200, 60, 40, 255}, color.RGBA{40, 90, 160, 255}}
	// pad to 17 entries so image/png writes 8-bit indices straight from
	// Pix (its 1/2/4-bit packing goes pixel by pixel and is 3× slower)
	for len(pal) < 17 {
		pal = append(pal, color.RGBA{uint8(len(pal)) * 15, 0, 0, 255})
	}
	n := t.size
	img := image.NewPaletted(image.Rect(0, 0, n, n), pal)
	for i := 0; i < n; i++ { // border and diagonal
		img.Pix[i] = 1
		img.Pix[(n-1)*n+i] = 1
		img.Pix[i*n] = 1
		img.Pix[i*n+n-1] = 1
		img.Pix[i*n+i] = 3
	}
	code := uint64(k.level)<<58 | uint64(k.row&0x1fffffff)<<29 | uint64(k.col&0x1fffffff)
	cell := n / 16 // 8×8 cells of n/16 px in the middle half of the tile
	for bit := 0; bit < 64; bit++ {
		if code>>(63-bit)&1 == 0 {
			continue
		}
		x0, y0 := n/4+(bit%8)*cell, n/4+(bit/8)*cell
		for y := y0; y < y0+cell-1; y++ {
			row := img.Pix[y*n+x0 : y*n+x0+cell-1]
			for i := range row {
				row[i] = 2
			}
		}
	}
	var buf bytes.Buffer
	switch t.format {
	case "JPEG":
		q := t.quality
		if q <= 0 {
			q = 75
		}
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("encode jpeg tile %v: %w", k, err)
		}
	default:
		if err := t.png.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("encode png tile %v: %w", k, err)
		}
	}
	return buf.Bytes(), nil
}

// etag returns a strong ETag for tile bytes.
func etag(data []byte) string {
	h := fnv.New64a()
	h.Write(data)
	return fmt.Sprintf("\"%016x\"", h.Sum64())
}
