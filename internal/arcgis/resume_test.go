package arcgis

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestDownloadResumesWithRange(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	for _, tc := range []struct {
		name      string
		cuts      int64
		wantRange int64
		honour    bool
	}{{"range honoured", 2, 2, true}, {"range ignored", 1, 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			var n atomic.Int64
			var ranges atomic.Int64
			f.handle("/svc/FeatureServer/replicafiles/r.geodatabase", func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Range") != "" {
					ranges.Add(1)
				}
				i := n.Add(1)
				if i <= tc.cuts {
					// send 10000 bytes from the requested offset, then drop the connection
					start := 0
					status := http.StatusOK
					if rg := r.Header.Get("Range"); rg != "" {
						start, _ = strconv.Atoi(rg[len("bytes=") : len(rg)-1])
						status = http.StatusPartialContent
						w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(len(content)-1)+"/"+strconv.Itoa(len(content)))
					}
					w.Header().Set("ETag", `"v1"`)
					w.Header().Set("Content-Type", "application/octet-stream")
					w.Header().Set("Content-Length", strconv.Itoa(len(content)-start))
					w.WriteHeader(status)
					_, _ = w.Write(content[start : start+10000])
					w.(http.Flusher).Flush()
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
					return
				}
				w.Header().Set("Content-Type", "application/octet-stream")
				if !tc.honour {
					w.Header().Set("ETag", `"v1"`)
					_, _ = w.Write(content)
					return
				}
				w.Header().Set("ETag", `"v1"`)
				http.ServeContent(w, r, "r.geodatabase", time.Time{}, bytes.NewReader(content))
			})
			c := newTestClient(t, "")
			rc, err := c.Download(context.Background(), f.URL+"/svc/FeatureServer/replicafiles/r.geodatabase")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("got %d bytes, want %d identical bytes", len(got), len(content))
			}
			if ranges.Load() != tc.wantRange || n.Load() != tc.cuts+1 {
				t.Errorf("%d requests, %d with Range; want %d and %d", n.Load(), ranges.Load(), tc.cuts+1, tc.wantRange)
			}
		})
	}
}

func TestDownloadResourceChanged(t *testing.T) {
	content := bytes.Repeat([]byte("x"), 50000)
	f := newFakeServer(t)
	var n atomic.Int64
	f.handle("/f.tpkx", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.Header().Set("Content-Type", "application/zip")
			w.WriteHeader(200)
			_, _ = w.Write(content[:20000])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.Header().Set("ETag", `"v2"`) // a new version: If-Range fails, full body
		w.Header().Set("Content-Type", "application/zip")
		http.ServeContent(w, r, "f.tpkx", time.Time{}, bytes.NewReader(content))
	})
	c := newTestClient(t, "")
	rc, err := c.Download(context.Background(), f.URL+"/f.tpkx")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("changed")) {
		t.Fatalf("err = %v, want resource-changed error", err)
	}
}
