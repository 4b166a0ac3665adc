package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// answer is a synchronizeReplica answer. Result holds everything but the
// downloaded features (results, attachment changes, generations); when the
// answer came as a file, the features stay on disk and Stream applies them
// chunk by chunk.
type answer struct {
	Result *arcgis.SyncResult
	file   string                            // spooled file, removed by Close
	open   func() (io.ReadSeekCloser, error) // the answer's bytes
	layers []layerRef                        // where each layer's "features" value starts
}

func fileOpener(path string) func() (io.ReadSeekCloser, error) {
	return func() (io.ReadSeekCloser, error) { return os.Open(path) }
}

type layerRef struct {
	id     int
	offset int64 // -1: no features
}

const streamChunk = 1000

// Close removes the downloaded file.
func (a *answer) Close() {
	if a.file != "" {
		os.Remove(a.file)
	}
}

// spool downloads a result file next to the GeoPackage and scans it once
// for everything but the features.
func (e *Engine) spool(ctx context.Context, url string, top *arcgis.SyncResult) (*answer, error) {
	rc, err := e.c.Download(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("download sync result %s: %w", url, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(dirOf(e.db.Path()), ".offlined-sync-*.json")
	if err != nil {
		return nil, err
	}
	a := &answer{file: f.Name(), open: fileOpener(f.Name())}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		a.Close()
		return nil, fmt.Errorf("download sync result %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.scan(); err != nil {
		a.Close()
		return nil, fmt.Errorf("read sync result %s: %w", url, err)
	}
	if a.Result.ReplicaServerGen == 0 && top != nil {
		a.Result.ReplicaServerGen = top.ReplicaServerGen
	}
	if len(a.Result.LayerServerGens) == 0 && top != nil {
		a.Result.LayerServerGens = top.LayerServerGens
	}
	return a, nil
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == os.PathSeparator {
			return p[:i]
		}
	}
	return "."
}

// scan reads the file once: top-level members and, per edits element,
// every member but "features", whose offset is recorded.
func (a *answer) scan() error {
	f, err := a.open()
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	if err := expect(dec, json.Delim('{')); err != nil {
		return err
	}
	top := map[string]json.RawMessage{}
	var layers []arcgis.SyncLayerResult
	for dec.More() {
		k, err := key(dec)
		if err != nil {
			return err
		}
		if k != "edits" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return err
			}
			top[k] = v
			continue
		}
		if err := expect(dec, json.Delim('[')); err != nil {
			return err
		}
		for dec.More() {
			if err := expect(dec, json.Delim('{')); err != nil {
				return err
			}
			rest := map[string]json.RawMessage{}
			ref := layerRef{offset: -1}
			for dec.More() {
				lk, err := key(dec)
				if err != nil {
					return err
				}
				if lk == "features" {
					ref.offset = dec.InputOffset()
					if err := skip(dec); err != nil {
						return err
					}
					continue
				}
				if lk == "addResults" || lk == "updateResults" || lk == "deleteResults" {
					// only failures matter; 100k successes are not kept
					failed, err := failedResults(dec)
					if err != nil {
						return err
					}
					b, _ := json.Marshal(failed)
					rest[lk] = b
					continue
				}
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					return err
				}
				rest[lk] = v
			}
			if err := expect(dec, json.Delim('}')); err != nil {
				return err
			}
			b, _ := json.Marshal(rest)
			var lr arcgis.SyncLayerResult
			if err := json.Unmarshal(b, &lr); err != nil {
				return err
			}
			ref.id = lr.ID
			layers = append(layers, lr)
			a.layers = append(a.layers, ref)
		}
		if err := expect(dec, json.Delim(']')); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(top)
	res, err := arcgis.ParseSyncResult(b)
	if err != nil {
		var r arcgis.SyncResult
		if jerr := json.Unmarshal(b, &r); jerr != nil {
			return err
		}
		res = &r
	}
	res.Edits = layers
	a.Result = res
	return nil
}

// stream calls fn with the downloaded changes of every layer fn accepts,
// at most streamChunk features at a time, decoding them one by one.
func (a *answer) stream(ctx context.Context, want func(layer int) bool, fn func(geodb.LayerChanges) error) error {
	if a.open == nil {
		return nil
	}
	f, err := a.open()
	if err != nil {
		return err
	}
	defer f.Close()
	for _, ref := range a.layers {
		if ref.offset < 0 || !want(ref.id) {
			continue
		}
		if _, err := f.Seek(ref.offset, io.SeekStart); err != nil {
			return err
		}
		// The offset is the end of the "features" name: skip to the colon.
		one := make([]byte, 1)
		for {
			if _, err := io.ReadFull(f, one); err != nil {
				return err
			}
			if one[0] == ':' {
				break
			}
		}
		dec := json.NewDecoder(f)
		if err := expect(dec, json.Delim('{')); err != nil {
			return err
		}
		for dec.More() {
			k, err := key(dec)
			if err != nil {
				return err
			}
			switch k {
			case "adds", "updates":
				if err := expect(dec, json.Delim('[')); err != nil {
					return err
				}
				chunk := make([]arcgis.Feature, 0, streamChunk)
				flush := func() error {
					if len(chunk) == 0 {
						return nil
					}
					lc := geodb.LayerChanges{LayerID: ref.id}
					if k == "adds" {
						lc.Adds = chunk
					} else {
						lc.Updates = chunk
					}
					err := fn(lc)
					chunk = make([]arcgis.Feature, 0, streamChunk)
					return err
				}
				for dec.More() {
					if err := ctx.Err(); err != nil {
						return err
					}
					var ft arcgis.Feature
					if err := dec.Decode(&ft); err != nil {
						return err
					}
					chunk = append(chunk, ft)
					if len(chunk) == streamChunk {
						if err := flush(); err != nil {
							return err
						}
					}
				}
				if err := flush(); err != nil {
					return err
				}
				if err := expect(dec, json.Delim(']')); err != nil {
					return err
				}
			case "deleteIds":
				var ids []any
				if err := dec.Decode(&ids); err != nil {
					return err
				}
				lc := geodb.LayerChanges{LayerID: ref.id}
				for _, d := range ids {
					lc.Deletes = append(lc.Deletes, fmt.Sprint(d))
				}
				if len(lc.Deletes) > 0 {
					if err := fn(lc); err != nil {
						return err
					}
				}
			default:
				if err := skip(dec); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func expect(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("sync result: got %v, want %v", tok, want)
	}
	return nil
}

func key(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	k, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("sync result: got %v, want a member name", tok)
	}
	return k, nil
}

// skip consumes one JSON value token by token (nothing is retained).
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// applyFunc returns the ApplySync stream of an answer: the downloaded
// features (from the spooled file, or embedded), then attachment changes
// (their parents exist by then). rep counts what comes down.
func (e *Engine) applyFunc(cfg *Config, a *answer, rep *Report) func(ctx context.Context, apply func(geodb.LayerChanges) error) error {
	return func(ctx context.Context, apply func(geodb.LayerChanges) error) error {
		count := func(lc geodb.LayerChanges) error {
			rep.Downloaded += len(lc.Adds) + len(lc.Updates) + len(lc.Deletes) + len(lc.AttachmentAdds) + len(lc.AttachmentUpdates) + len(lc.AttachmentDeletes)
			return apply(lc)
		}
		if err := a.stream(ctx, cfg.downloads, count); err != nil {
			return fmt.Errorf("apply downloaded features: %w", err)
		}
		for _, lc := range e.toLayerChanges(cfg, a.Result) {
			if err := count(lc); err != nil {
				return err
			}
		}
		return nil
	}
}

// failedResults streams an array of per-edit results and keeps the failed
// ones.
func failedResults(dec *json.Decoder) ([]arcgis.EditResult, error) {
	if err := expect(dec, json.Delim('[')); err != nil {
		return nil, err
	}
	var out []arcgis.EditResult
	for dec.More() {
		var r arcgis.EditResult
		if err := dec.Decode(&r); err != nil {
			return nil, err
		}
		if !r.Success {
			out = append(out, r)
		}
	}
	if out == nil {
		out = []arcgis.EditResult{}
	}
	return out, expect(dec, json.Delim(']'))
}
