package geodb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// expectDelim reads the next JSON token and checks it is want.
func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, got %v", want, tok)
	}
	return nil
}

func (l *loader) replica(r io.Reader) (*arcgis.Replica, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	top := map[string]json.RawMessage{}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch key {
		case "layers":
			if err := expectDelim(dec, '['); err != nil {
				return nil, err
			}
			for dec.More() {
				if err := l.layerObject(dec); err != nil {
					return nil, err
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, err
			}
		case "error":
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := dec.Decode(&e); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("server error %d: %s", e.Code, e.Message)
		default:
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			top[fmt.Sprint(key)] = raw
		}
	}
	b, _ := json.Marshal(top)
	var rep arcgis.Replica
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("replica members: %w", err)
	}
	return &rep, nil
}

func (l *loader) layerObject(dec *json.Decoder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var t *Table
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		switch key {
		case "id":
			var id int
			if err := dec.Decode(&id); err != nil {
				return fmt.Errorf("layer id: %w", err)
			}
			if t, err = l.db.mustTable(id); err != nil {
				return err
			}
		case "features":
			if t == nil {
				return errors.New("layer \"id\" must precede \"features\"")
			}
			if err := l.features(dec, t); err != nil {
				return err
			}
		case "attachments":
			if t == nil {
				return errors.New("layer \"id\" must precede \"attachments\"")
			}
			if err := l.attachments(dec, t); err != nil {
				return err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
	}
	return expectDelim(dec, '}')
}

func (l *loader) featureSet(r io.Reader, layerID int) error {
	t, err := l.db.mustTable(layerID)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		if key == "features" {
			if err := l.features(dec, t); err != nil {
				return err
			}
			continue
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

type loadRow struct {
	args  []any // nil: the feature is skipped (see warns)
	geom  *Geom
	ops   []widenOp
	warns []LoadWarning
}

// features streams one features array: a goroutine decodes and converts
// features (JSON and geometry work) while this goroutine writes them to
// SQLite, so the two halves use two cores. At most a few small batches are
// in flight, so memory stays flat.
func (l *loader) features(dec *json.Decoder, t *Table) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	batches := make(chan []loadRow, 4)
	errc := make(chan error, 1)
	base := l.stats.PerLayer[t.LayerID]
	tt := newTolerantTable(t)
	go func() {
		defer close(batches)
		const per = 256
		batch := make([]loadRow, 0, per)
		n := base
		send := func() bool {
			select {
			case batches <- batch:
				batch = make([]loadRow, 0, per)
				return true
			case <-ctx.Done():
				return false
			}
		}
		for dec.More() {
			var w wireFeature
			if err := dec.Decode(&w); err != nil {
				errc <- fmt.Errorf("layer %d feature %d: %w", t.LayerID, n, err)
				return
			}
			eg, gerr := decodeGeometry(w.Geometry)
			f := arcgis.Feature{Attributes: w.Attributes, Geometry: eg}
			args, g, ops, warns := tt.convert(&f)
			if gerr != nil {
				oid, gid := featureIDs(t, &f)
				warns = append(warns, LoadWarning{Table: t.Name, LayerID: t.LayerID, Field: t.GeomCol, ObjectID: oid, GlobalID: gid,
					Kind: WarnDroppedGeometry, Detail: gerr.Error()})
			}
			n++
			batch = append(batch, loadRow{args, g, ops, warns})
			if len(batch) == per && !send() {
				errc <- ctx.Err()
				return
			}
		}
		if len(batch) > 0 && !send() {
			errc <- ctx.Err()
			return
		}
		errc <- expectDelim(dec, ']')
	}()
	for batch := range batches {
		for _, r := range batch {
			err := l.widen(t, r.ops)
			l.warn(r.warns)
			if err == nil && r.args != nil {
				err = l.insertArgs(t, r.args, r.geom)
			}
			if err != nil {
				cancel()
				for range batches { // let the decoder exit
				}
				return err
			}
		}
	}
	return <-errc
}

// widen makes the schema changes a row needs, in the loader's transaction.
func (l *loader) widen(t *Table, ops []widenOp) error {
	if len(ops) == 0 {
		return nil
	}
	if err := l.touch(t); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	// Rows queued before the change are written under the old schema.
	if err := l.flush(); err != nil {
		return err
	}
	for _, op := range ops {
		if err := l.db.applyWiden(l.ctx, l.tx, t, op); err != nil {
			return err
		}
	}
	// Statements prepared before the change are re-prepared by SQLite; drop
	// ours so the next insert prepares against the new schema.
	if b := l.ins[t]; b != nil {
		b.discard()
		delete(l.ins, t)
	}
	return nil
}

// warn records warnings (logged once per kind and field, all counted).
func (l *loader) warn(ws []LoadWarning) {
	for _, w := range ws {
		l.stats.Warnings = append(l.stats.Warnings, w)
		key := w.Table + "." + w.Field + "." + w.Kind
		if !l.warned[key] {
			l.warned[key] = true
			slog.Warn("geodb: load kept going past a value the server declared differently", "table", w.Table, "field", w.Field, "kind", w.Kind, "objectId", w.ObjectID, "detail", w.Detail)
		}
	}
}

func (l *loader) attachments(dec *json.Decoder, t *Table) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for dec.More() {
		var a arcgis.AttachmentInfo
		if err := dec.Decode(&a); err != nil {
			return fmt.Errorf("layer %d attachment: %w", t.LayerID, err)
		}
		var src io.Reader
		var closer io.Closer
		switch {
		case a.Data != "":
			src = base64.NewDecoder(base64.StdEncoding, strings.NewReader(a.Data))
		case a.URL != "" && l.opts.FetchAttachment != nil:
			rc, err := l.opts.FetchAttachment(l.ctx, t.LayerID, &a)
			if err != nil {
				return fmt.Errorf("layer %d attachment %s: %w", t.LayerID, a.GlobalID, err)
			}
			src, closer = rc, rc
		default:
			l.stats.AttachmentsSkipped++
			continue
		}
		err := l.attachment(t, &a, src)
		if closer != nil {
			closer.Close()
		}
		if err != nil {
			return fmt.Errorf("layer %d attachment %s: %w", t.LayerID, a.GlobalID, err)
		}
		l.stats.Attachments++
	}
	return expectDelim(dec, ']')
}

// attachment writes one attachment in the loader's transaction. Parents are
// found through the GlobalID index, rebuilt now if the load dropped it.
func (l *loader) attachment(t *Table, a *arcgis.AttachmentInfo, src io.Reader) error {
	if t.AttachTable == "" {
		return ErrNoAttachments
	}
	if err := l.begin(); err != nil {
		return err
	}
	// Parents queued for insert must be in the table first.
	if err := l.flush(); err != nil {
		return err
	}
	if !l.gidIndexed[t] {
		if err := ensureGIDIndex(l.ctx, l.tx, t); err != nil {
			return err
		}
		l.gidIndexed[t] = true
	}
	if err := suppress(l.ctx, l.tx, true); err != nil {
		return err
	}
	meta := AttachmentMeta{ParentGlobalID: a.ParentGlobalID, Name: a.Name, ContentType: a.ContentType, Keywords: a.Keywords}
	if err := l.db.normalizeAttachment(&meta, a.GlobalID); err != nil {
		return err
	}
	if err := l.db.putAttachmentTx(l.ctx, l.tx, t, &meta, src); err != nil {
		return err
	}
	if err := suppress(l.ctx, l.tx, false); err != nil {
		return err
	}
	l.inBatch++
	l.attBytes += meta.Size
	if l.inBatch >= min(l.opts.BatchSize, attachBatchCount) || l.attBytes >= attachBatchBytes {
		return l.commit()
	}
	return nil
}
