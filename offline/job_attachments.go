package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// attachmentPrefetcher downloads the attachments a replica file lists by
// URL ahead of the GeoPackage loader, several at a time, into temporary
// files: the loader asks for them one by one in file order, and a round
// trip per attachment would dominate a large replica. At most lookahead
// files wait on disk.
type attachmentPrefetcher struct {
	c       *arcgis.Client
	dir     string
	workers int

	mu    stdsync.Mutex
	slots map[string]*attSlot
	ahead chan struct{}
	stop  context.CancelFunc
	wg    stdsync.WaitGroup
}

type attSlot struct {
	done chan struct{}
	path string
	err  error
}

func newAttachmentPrefetcher(ctx context.Context, c *arcgis.Client, replicaFile, dir string, workers, lookahead int) *attachmentPrefetcher {
	ctx, cancel := context.WithCancel(ctx)
	p := &attachmentPrefetcher{c: c, dir: dir, workers: workers, slots: map[string]*attSlot{},
		ahead: make(chan struct{}, lookahead), stop: cancel}
	urls := make(chan string)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(urls)
		scanAttachmentURLs(ctx, replicaFile, func(u string) bool {
			select {
			case p.ahead <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			p.mu.Lock()
			if _, dup := p.slots[u]; dup {
				p.mu.Unlock()
				<-p.ahead
				return true
			}
			p.slots[u] = &attSlot{done: make(chan struct{})}
			p.mu.Unlock()
			select {
			case urls <- u:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	os.MkdirAll(dir, 0o755)
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for u := range urls {
				p.mu.Lock()
				s := p.slots[u]
				p.mu.Unlock()
				s.path, s.err = p.download(ctx, u, i)
				close(s.done)
			}
		}()
	}
	return p
}

func (p *attachmentPrefetcher) download(ctx context.Context, u string, worker int) (string, error) {
	rc, err := p.c.Download(ctx, u)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	f, err := os.CreateTemp(p.dir, "att-"+strconv.Itoa(worker)+"-*")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// Fetch implements geodb.LoadOptions.FetchAttachment.
func (p *attachmentPrefetcher) Fetch(ctx context.Context, layerID int, a *arcgis.AttachmentInfo) (io.ReadCloser, error) {
	if a.URL == "" {
		return nil, errors.New("attachment " + a.GlobalID + " has no URL")
	}
	p.mu.Lock()
	s := p.slots[a.URL]
	p.mu.Unlock()
	if s == nil {
		return p.c.Download(ctx, a.URL)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	delete(p.slots, a.URL)
	p.mu.Unlock()
	<-p.ahead
	if s.err != nil {
		// One more round of attempts before the attachment fails the load.
		var err error
		for attempt, wait := 0, 500*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*3 {
			var rc io.ReadCloser
			if rc, err = p.c.Download(ctx, a.URL); err == nil {
				return rc, nil
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, fmt.Errorf("attachment %s: %w", a.GlobalID, err)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	return &removeOnClose{File: f}, nil
}

// Close stops the prefetcher and removes what it downloaded.
func (p *attachmentPrefetcher) Close() {
	p.stop()
	p.wg.Wait()
	os.RemoveAll(p.dir)
}

type removeOnClose struct{ *os.File }

func (r *removeOnClose) Close() error {
	err := r.File.Close()
	os.Remove(r.File.Name())
	return err
}

// scanAttachmentURLs streams a replica JSON file and calls fn with the url
// of every element of every "attachments" array, in file order, until fn
// returns false.
func scanAttachmentURLs(ctx context.Context, path string, fn func(string) bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	type level struct {
		obj       bool
		expectKey bool
	}
	var stack []level
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].expectKey = true
		}
	}
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return
		}
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{obj: true, expectKey: true})
			case '[':
				stack = append(stack, level{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			top := len(stack) - 1
			if top >= 0 && stack[top].obj && stack[top].expectKey {
				stack[top].expectKey = false
				if t != "attachments" {
					continue
				}
				open, err := dec.Token()
				if err != nil {
					return
				}
				if d, ok := open.(json.Delim); !ok || d != '[' {
					valueDone()
					if ok {
						stack = append(stack, level{obj: d == '{', expectKey: d == '{'})
					}
					continue
				}
				for dec.More() {
					var a arcgis.AttachmentInfo
					if err := dec.Decode(&a); err != nil {
						return
					}
					if a.URL != "" && a.Data == "" && !fn(a.URL) {
						return
					}
				}
				dec.Token() // ]
				valueDone()
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// attachmentDir is the prefetch directory of a store.
func attachmentDir(storePath string) string {
	return filepath.Join(filepath.Dir(storePath), "."+filepath.Base(storePath)+".attachments")
}
