package localapi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
)

// discardResponse is a ResponseWriter that keeps only the byte count.
type discardResponse struct {
	h    http.Header
	code int
	n    int64
}

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) WriteHeader(code int)        { d.code = code }
func (d *discardResponse) Write(b []byte) (int, error) { d.n += int64(len(b)); return len(b), nil }

// BenchmarkFeatureQueryCPU is BenchmarkFeatureQueryBBox's query (~1,000
// of 1M points, GeoJSON) served in process, without HTTP or a client: it
// reports the process CPU per query (GC included) and, with -benchmem, the
// allocations of one query.
func BenchmarkFeatureQueryCPU(b *testing.B) {
	srv, _, side := benchQueryServer(b)
	frac := math.Sqrt(1000 / float64(side*side))
	w, h := frac*(benchE-benchW), frac*(benchN-benchS)
	const boxes = 256
	reqs := make([]*http.Request, boxes)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range reqs {
		x0 := benchW + rng.Float64()*(benchE-benchW-w)
		y0 := benchS + rng.Float64()*(benchN-benchS-h)
		u := fmt.Sprintf("http://127.0.0.1/api/v1/maps/bench/layers/0/features?limit=5000&bbox=%f,%f,%f,%f", x0, y0, x0+w, y0+h)
		reqs[i], _ = http.NewRequest("GET", u, nil)
		reqs[i].Header.Set("Authorization", "Bearer "+testToken)
		reqs[i].Host = "127.0.0.1"
	}
	run := func(r *http.Request) int64 {
		rw := &discardResponse{h: http.Header{}}
		srv.ServeHTTP(rw, r)
		if rw.code != 0 && rw.code != http.StatusOK {
			b.Fatalf("status %d", rw.code)
		}
		return rw.n
	}
	run(reqs[0]) // opens the store, prepares the statement
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	i := 0
	for b.Loop() {
		bytes += run(reqs[i%boxes])
		i++
	}
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(i), "cpu-ms/query")
	b.ReportMetric(float64(bytes)/float64(i), "bytes/query")
}
