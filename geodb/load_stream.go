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

func (l *loader) replica(r io.Reader) (*arcgis.Replica, error) {
	j := newJSONReader(r)
	top := map[string]json.RawMessage{}
	err := j.elems('{', func() error {
		key, err := j.key()
		if err != nil {
			return err
		}
		switch key {
		case "layers":
			return j.elems('[', func() error { return l.layerObject(j) })
		case "error":
			raw, err := j.raw()
			if err != nil {
				return err
			}
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				return err
			}
			return fmt.Errorf("server error %d: %s", e.Code, e.Message)
		default:
			raw, err := j.raw()
			if err != nil {
				return err
			}
			top[key] = append(json.RawMessage(nil), raw...)
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("replica members: %w", err)
	}
	var rep arcgis.Replica
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("replica members: %w", err)
	}
	return &rep, nil
}

func (l *loader) layerObject(j *jsonReader) error {
	var t *Table
	return j.elems('{', func() error {
		key, err := j.key()
		if err != nil {
			return err
		}
		switch key {
		case "id":
			raw, err := j.raw()
			if err != nil {
				return err
			}
			var id int
			if err := json.Unmarshal(raw, &id); err != nil {
				return fmt.Errorf("layer id: %w", err)
			}
			t, err = l.db.mustTable(id)
			return err
		case "features":
			if t == nil {
				return errors.New("layer \"id\" must precede \"features\"")
			}
			return l.features(j, t)
		case "attachments":
			if t == nil {
				return errors.New("layer \"id\" must precede \"attachments\"")
			}
			return l.attachments(j, t)
		default:
			return j.skip()
		}
	})
}

func (l *loader) featureSet(r io.Reader, layerID int) error {
	t, err := l.db.mustTable(layerID)
	if err != nil {
		return err
	}
	j := newJSONReader(r)
	return j.elems('{', func() error {
		key, err := j.key()
		if err != nil {
			return err
		}
		if key == "features" {
			return l.features(j, t)
		}
		return j.skip()
	})
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
func (l *loader) features(j *jsonReader, t *Table) error {
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
		fp := &featureParser{keys: map[string]string{}}
		err := j.elems('[', func() error {
			raw, err := j.raw()
			if err != nil {
				return fmt.Errorf("layer %d feature %d: %w", t.LayerID, n, err)
			}
			f, gerr, err := decodeFeature(fp, raw, len(t.Cols))
			if err != nil {
				return fmt.Errorf("layer %d feature %d: %w", t.LayerID, n, err)
			}
			args, g, ops, warns := tt.convert(&f)
			if gerr != nil {
				oid, gid := featureIDs(t, &f)
				warns = append(warns, LoadWarning{Table: t.Name, LayerID: t.LayerID, Field: t.GeomCol, ObjectID: oid, GlobalID: gid,
					Kind: WarnDroppedGeometry, Detail: gerr.Error()})
			}
			n++
			batch = append(batch, loadRow{args, g, ops, warns})
			if len(batch) == per && !send() {
				return ctx.Err()
			}
			return nil
		})
		if err == nil && len(batch) > 0 && !send() {
			err = ctx.Err()
		}
		errc <- err
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

func (l *loader) attachments(j *jsonReader, t *Table) error {
	return j.elems('[', func() error {
		raw, err := j.raw()
		if err != nil {
			return fmt.Errorf("layer %d attachment: %w", t.LayerID, err)
		}
		var a arcgis.AttachmentInfo
		if err := json.Unmarshal(raw, &a); err != nil {
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
			return nil
		}
		err = l.attachment(t, &a, src)
		if closer != nil {
			closer.Close()
		}
		if err != nil {
			return fmt.Errorf("layer %d attachment %s: %w", t.LayerID, a.GlobalID, err)
		}
		l.stats.Attachments++
		return nil
	})
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
	if !l.suppressed {
		// Loaded attachments are the server's: no change-log rows. The flag
		// stays set for the rest of the transaction (the loader writes
		// nothing else that logs) and commit clears it.
		if err := suppress(l.ctx, l.tx, true); err != nil {
			return err
		}
		l.suppressed = true
	}
	meta := AttachmentMeta{ParentGlobalID: a.ParentGlobalID, Name: a.Name, ContentType: a.ContentType, Keywords: a.Keywords}
	if err := l.db.normalizeAttachment(&meta, a.GlobalID); err != nil {
		return err
	}
	if err := l.db.putAttachmentTx(l.ctx, l.tx, t, &meta, src); err != nil {
		return err
	}
	l.inBatch++
	l.attBytes += meta.Size
	if l.inBatch >= min(l.opts.BatchSize, attachBatchCount) || l.attBytes >= attachBatchBytes {
		return l.commit()
	}
	return nil
}
