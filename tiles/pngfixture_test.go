package tiles

import (
	"bytes"
	"image/png"
	"testing"
)

func TestMakePNGDecodes(t *testing.T) {
	img, err := png.Decode(bytes.NewReader(makePNG(3, 4, 5)))
	if err != nil || img.Bounds().Dx() != 256 || bytes.Equal(makePNG(3, 4, 5), makePNG(3, 4, 6)) {
		t.Fatalf("test PNG: %v", err)
	}
}
