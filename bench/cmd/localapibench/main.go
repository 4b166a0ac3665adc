// Command localapibench prepares the local API benchmarks: an MBTiles file
// of PNG tiles, a data root with offline maps registered, and the tile path
// list wrk requests.
//
//	localapibench mbtiles -out F.mbtiles -maxzoom 7 -paths paths.txt
//	localapibench dataroot -root DIR -mbtiles F.mbtiles -maps 3
//	localapibench bboxloop -base URL -token T -duration 10s
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"github.com/offlined/offlined/tiles"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localapibench:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: localapibench mbtiles|dataroot|bboxloop [flags]")
	}
	switch args[0] {
	case "mbtiles":
		fs := flag.NewFlagSet("mbtiles", flag.ContinueOnError)
		outPath := fs.String("out", "", "MBTiles file to write")
		maxZoom := fs.Int("maxzoom", 7, "deepest zoom (every tile of z0..maxzoom)")
		paths := fs.String("paths", "", "write the z/x/y list here")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *outPath == "" {
			return errors.New("-out: required")
		}
		return writeMBTiles(ctx, *outPath, *maxZoom, *paths)
	case "dataroot":
		fs := flag.NewFlagSet("dataroot", flag.ContinueOnError)
		root := fs.String("root", "", "data root to create")
		src := fs.String("mbtiles", "", "MBTiles file each map gets")
		pkg := fs.String("package", "", "package directory to copy as every map (instead of -mbtiles)")
		n := fs.Int("maps", 1, "number of maps")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *root == "" || (*src == "") == (*pkg == "") {
			return errors.New("-root and one of -mbtiles or -package are required")
		}
		for i := 1; i <= *n; i++ {
			dir := filepath.Join(*root, "packages", fmt.Sprintf("map%d", i))
			var err error
			if *pkg != "" {
				err = copyTree(*pkg, dir)
			} else {
				err = copyFile(*src, filepath.Join(dir, "tiles", "basemap.mbtiles"))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, "package.json"), []byte(fmt.Sprintf(`{"formatVersion":1,"id":"map%d","title":"Bench %d"}`, i, i)), 0o600)
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	case "bboxloop":
		return bboxLoop(ctx, args[1:], out)
	}
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// writeMBTiles writes every tile of z0..maxZoom as a small distinct PNG.
func writeMBTiles(ctx context.Context, path string, maxZoom int, pathsFile string) error {
	os.Remove(path)
	st, err := tiles.OpenStore(ctx, path)
	if err != nil {
		return err
	}
	if err := st.Configure(ctx, tiles.WebMercatorScheme(256, 0, maxZoom), "png"); err != nil {
		return err
	}
	var list bytes.Buffer
	var batch []tiles.TileRecord
	for z := 0; z <= maxZoom; z++ {
		for x := 0; x < 1<<z; x++ {
			for y := 0; y < 1<<z; y++ {
				img := image.NewPaletted(image.Rect(0, 0, 256, 256), color.Palette{color.RGBA{uint8(x * 37), uint8(y * 53), uint8(z * 29), 255}, color.Black})
				for i := 0; i < 256; i++ {
					img.SetColorIndex(i, (i*7+x+y)%256, 1)
				}
				var b bytes.Buffer
				if err := png.Encode(&b, img); err != nil {
					return err
				}
				batch = append(batch, tiles.TileRecord{Key: tiles.TileKey{Level: z, Row: y, Col: x}, Data: b.Bytes()})
				fmt.Fprintf(&list, "%d/%d/%d\n", z, x, y)
				if len(batch) == 2000 {
					if err := st.Put(ctx, batch); err != nil {
						return err
					}
					batch = batch[:0]
				}
			}
		}
	}
	if err := st.Put(ctx, batch); err != nil {
		return err
	}
	if err := st.Finalize(ctx, "bench", &[4]float64{-180, -85.0511, 180, 85.0511}); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	if pathsFile != "" {
		return os.WriteFile(pathsFile, list.Bytes(), 0o644)
	}
	return nil
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
}
