// Command tileserve serves a synthetic tile pyramid on loopback for the
// tile download benchmark: GET /tile/{z}/{y}/{x}.png answers a PNG (one of
// 256 pre-rendered tiles of realistic size) for every tile of levels 0..30.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tileserve:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tiles := renderTiles(256)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	os.Stdout.Sync()
	srv := &http.Server{Handler: handler(tiles), ErrorLog: slog.NewLogLogger(slog.NewTextHandler(os.Stderr, nil), slog.LevelError)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func handler(tiles [][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/tile/"), ".png")
		parts := strings.Split(p, "/")
		if len(parts) != 3 {
			http.NotFound(w, r)
			return
		}
		var v [3]int
		for i, s := range parts {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				http.NotFound(w, r)
				return
			}
			v[i] = n
		}
		z, y, x := v[0], v[1], v[2]
		if z > 30 || x >= 1<<z || y >= 1<<z {
			http.NotFound(w, r)
			return
		}
		h := fnv.New32a()
		fmt.Fprintf(h, "%d/%d/%d", z, y, x)
		b := tiles[h.Sum32()%uint32(len(tiles))]
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
}

// renderTiles makes n noisy 256×256 PNGs (a few KB to tens of KB each).
func renderTiles(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		img := image.NewPaletted(image.Rect(0, 0, 256, 256), palette())
		noise := 1 + i%16
		for j := range img.Pix {
			if rng.IntN(noise) == 0 {
				img.Pix[j] = uint8(rng.IntN(16))
			} else {
				img.Pix[j] = uint8(i % 16)
			}
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		out[i] = b.Bytes()
	}
	return out
}

func palette() color.Palette {
	p := make(color.Palette, 16)
	for i := range p {
		p[i] = color.RGBA{uint8(i * 16), uint8(255 - i*16), uint8(i * 8), 255}
	}
	return p
}
