package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// Area (lon/lat) of the 1M-point layer BenchmarkFeatureQueryBBox builds
// (localapi/bench_test.go): the boxes are drawn inside it.
const bboxW, bboxS, bboxE, bboxN = -117.25, 33.98, -117.10, 34.10

// bboxLoop runs GET …/features?bbox= queries back to back for d (or n
// queries), each a random box holding about perBox of the layer's total
// points, and prints the latency percentiles and the features per box.
func bboxLoop(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bboxloop", flag.ContinueOnError)
	base := fs.String("base", "", "daemon base URL")
	token := fs.String("token", "", "API token")
	layerURL := fs.String("layer", "/api/v1/maps/bench/layers/0", "layer path")
	total := fs.Int("total", 1000000, "features in the layer (a square grid over the bench area)")
	perBox := fs.Int("per-box", 1000, "features a box holds")
	d := fs.Duration("duration", 0, "query for this long (0: -n queries)")
	n := fs.Int("n", 300, "queries (when -duration is 0)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *token == "" {
		return errors.New("-base and -token are required")
	}
	frac := math.Sqrt(float64(*perBox) / float64(*total))
	w, h := frac*(bboxE-bboxW), frac*(bboxN-bboxS)
	rng := rand.New(rand.NewPCG(3, 4))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	var lat []time.Duration
	var counted, features int
	end := time.Now().Add(*d)
	for i := 0; (*d > 0 && time.Now().Before(end)) || (*d == 0 && i < *n); i++ {
		x0 := bboxW + rng.Float64()*(bboxE-bboxW-w)
		y0 := bboxS + rng.Float64()*(bboxN-bboxS-h)
		u := fmt.Sprintf("%s%s/features?limit=5000&bbox=%f,%f,%f,%f", *base, *layerURL, x0, y0, x0+w, y0+h)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+*token)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("query %d: %w", i, err)
		}
		// The first queries' features are counted (decoding costs the
		// client time, so only a sample).
		var body struct{ Features []json.RawMessage }
		if i < 10 {
			err = json.NewDecoder(resp.Body).Decode(&body)
			counted, features = counted+1, features+len(body.Features)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("query %d: status %d: %v", i, resp.StatusCode, err)
		}
	}
	if len(lat) == 0 {
		return errors.New("no query ran")
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	fmt.Fprintf(out, "queries=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f features_per_box=%d\n",
		len(lat), pct(0.50), pct(0.99), pct(1), features/max(counted, 1))
	return nil
}
