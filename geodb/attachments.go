package geodb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Attachments live in a Related Tables Extension media table
// "<table>__ATTACH" (id, data, content_type + offlined's metadata columns)
// related to the feature table through the mapping table
// "<table>__ATTACHREL". Content up to chunkSize is stored in data, so other
// GeoPackage readers see it; larger content is streamed into
// gpkgext_offlined_attachment_chunks rows (data then holds an empty BLOB and
// chunked=1), which keeps memory at one chunk and lifts SQLite's 1 GB value
// limit.
const chunkSize = 1 << 20

// AttachmentMeta describes a stored attachment.
type AttachmentMeta struct {
	ID             int64
	GlobalID       string
	ParentGlobalID string
	Name           string
	ContentType    string
	Keywords       string
	Size           int64
	SHA256         string // hex
}

// Attachment errors.
var (
	ErrTooLarge       = errors.New("attachment exceeds the size limit")
	ErrChecksum       = errors.New("attachment content does not match its SHA-256")
	ErrNoFeature      = errors.New("no such feature")
	ErrNoAttachment   = errors.New("no such attachment")
	ErrNoAttachments  = errors.New("layer has no attachments")
	ErrBadAttachments = errors.New("bad attachment")
)

func createAttachTable(ctx context.Context, tx *sql.Tx, t *Table) error {
	media, rel := t.Name+"__ATTACH", t.Name+"__ATTACHREL"
	M := qid(media)
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS gpkgext_relations (id INTEGER PRIMARY KEY AUTOINCREMENT, base_table_name TEXT NOT NULL,
  base_primary_column TEXT NOT NULL DEFAULT 'id', related_table_name TEXT NOT NULL, related_primary_column TEXT NOT NULL DEFAULT 'id',
  relation_name TEXT NOT NULL, mapping_table_name TEXT NOT NULL UNIQUE)`,
		`INSERT INTO gpkg_extensions SELECT 'gpkgext_relations', NULL, 'gpkg_related_tables', 'http://www.geopackage.org/18-000.html', 'read-write' WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = 'gpkgext_relations' AND column_name IS NULL AND extension_name = 'gpkg_related_tables')`,
		fmt.Sprintf(`CREATE TABLE %s (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL, content_type TEXT NOT NULL,
  globalid TEXT(38) NOT NULL UNIQUE, rel_globalid TEXT(38) NOT NULL, att_name TEXT NOT NULL DEFAULT '', keywords TEXT,
  size INTEGER NOT NULL DEFAULT 0, sha256 TEXT(64) NOT NULL DEFAULT '', chunked BOOLEAN NOT NULL DEFAULT 0)`, M),
		fmt.Sprintf(`CREATE INDEX %s ON %s(rel_globalid)`, qid(media+"_rel"), M),
		fmt.Sprintf(`CREATE TABLE %s (id INTEGER PRIMARY KEY AUTOINCREMENT, base_id INTEGER NOT NULL, related_id INTEGER NOT NULL)`, qid(rel)),
		fmt.Sprintf(`CREATE INDEX %s ON %s(related_id)`, qid(rel+"_related"), qid(rel)),
		fmt.Sprintf(`CREATE TRIGGER %s AFTER DELETE ON %s BEGIN
 DELETE FROM %s WHERE related_id = OLD.id;
 DELETE FROM gpkgext_offlined_attachment_chunks WHERE media_table = %s AND media_id = OLD.id;
END`, qid("offlined_"+media+"_cleanup"), M, qid(rel), qstr(media)),
	}
	meta := func(p string) string {
		return fmt.Sprintf("json_object('globalid', %[1]s.globalid, 'rel_globalid', %[1]s.rel_globalid, 'att_name', %[1]s.att_name, 'content_type', %[1]s.content_type, 'size', %[1]s.size, 'sha256', %[1]s.sha256)", p)
	}
	stmts = append(stmts,
		fmt.Sprintf(`CREATE TRIGGER %s AFTER INSERT ON %s WHEN %s BEGIN INSERT INTO gpkgext_offlined_changes (table_name, globalid, op) VALUES (%s, NEW.globalid, 'insert'); END`,
			qid("offlined_"+media+"_ins"), M, notSuppressed, qstr(media)),
		fmt.Sprintf(`CREATE TRIGGER %s AFTER UPDATE ON %s WHEN %s BEGIN INSERT INTO gpkgext_offlined_changes (table_name, globalid, op, old_values) VALUES (%s, OLD.globalid, 'update', %s); END`,
			qid("offlined_"+media+"_upd"), M, notSuppressed, qstr(media), meta("OLD")),
		fmt.Sprintf(`CREATE TRIGGER %s AFTER DELETE ON %s WHEN %s BEGIN INSERT INTO gpkgext_offlined_changes (table_name, globalid, op, old_values) VALUES (%s, OLD.globalid, 'delete', %s); END`,
			qid("offlined_"+media+"_del"), M, notSuppressed, qstr(media), meta("OLD")),
	)
	if err := execAll(ctx, tx, "create attachment tables", stmts...); err != nil {
		return err
	}
	for _, name := range []string{media, rel} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO gpkg_contents (table_name, data_type, identifier, description) VALUES (?, 'attributes', ?, ?)`,
			name, name, "attachments of "+t.Name); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO gpkgext_relations (base_table_name, base_primary_column, related_table_name, related_primary_column, relation_name, mapping_table_name) VALUES (?,?,?,?,'media',?)`,
		t.Name, t.OIDCol, media, "id", rel); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO gpkg_extensions SELECT ?1, NULL, 'gpkg_related_tables', 'http://www.geopackage.org/18-000.html', 'read-write' WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = ?1 AND column_name IS NULL AND extension_name = 'gpkg_related_tables')`, rel); err != nil {
		return err
	}
	t.AttachTable = media
	return nil
}

func (db *DB) attachTable(layerID int) (*Table, error) {
	t, err := db.mustTable(layerID)
	if err != nil {
		return nil, err
	}
	if t.AttachTable == "" {
		return nil, fmt.Errorf("layer %d: %w", layerID, ErrNoAttachments)
	}
	return t, nil
}

// PutAttachment adds an attachment to a feature, or replaces the content
// and metadata of the attachment with meta.GlobalID when it exists. The
// content is streamed from r in chunks (never held whole), its size and
// SHA-256 recorded; a missing GlobalID is generated. The change log records
// the add or update.
func (db *DB) PutAttachment(ctx context.Context, layerID int, meta AttachmentMeta, r io.Reader) (AttachmentMeta, error) {
	t, err := db.attachTable(layerID)
	if err != nil {
		return meta, err
	}
	if meta.GlobalID == "" {
		meta.GlobalID = NewGlobalID()
	}
	if err := db.normalizeAttachment(&meta, meta.GlobalID); err != nil {
		return meta, fmt.Errorf("put attachment %s on layer %d: %w", meta.GlobalID, layerID, err)
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		// The change is logged: clear any suppression flag left set.
		if err := suppress(ctx, tx, false); err != nil {
			return err
		}
		return db.putAttachmentTx(ctx, tx, t, &meta, r)
	})
	if err != nil {
		return meta, fmt.Errorf("put attachment %s on layer %d: %w", meta.GlobalID, layerID, err)
	}
	return meta, nil
}

// normalizeAttachment checks and normalises the GlobalIDs of meta (gid is
// its GlobalID) and fills a default content type.
func (db *DB) normalizeAttachment(meta *AttachmentMeta, gid string) error {
	g, ok := NormalizeGlobalID(gid)
	if !ok {
		return fmt.Errorf("%w: GlobalID %q", ErrBadAttachments, gid)
	}
	meta.GlobalID = g
	pgid, ok := NormalizeGlobalID(meta.ParentGlobalID)
	if !ok {
		return fmt.Errorf("%w: parent GlobalID %q", ErrBadAttachments, meta.ParentGlobalID)
	}
	meta.ParentGlobalID = pgid
	if meta.ContentType == "" {
		meta.ContentType = "application/octet-stream"
	}
	return nil
}

func (db *DB) putAttachmentTx(ctx context.Context, tx *sql.Tx, t *Table, meta *AttachmentMeta, r io.Reader) error {
	M := qid(t.AttachTable)
	var baseID int64
	if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s = ?`, qid(t.OIDCol), qid(t.Name), qid(t.GIDCol)), meta.ParentGlobalID).Scan(&baseID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("parent %s: %w", meta.ParentGlobalID, ErrNoFeature)
		}
		return err
	}
	h := sha256.New()
	bp, _ := db.chunkBufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, chunkSize)
		bp = &b
	}
	defer db.chunkBufs.Put(bp)
	buf := *bp
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read content: %w", err)
	}
	first := buf[:n]
	more := err == nil
	if more { // exactly chunkSize read: peek whether anything follows
		var one [1]byte
		k, perr := io.ReadFull(r, one[:])
		if perr != nil && !errors.Is(perr, io.EOF) {
			return fmt.Errorf("read content: %w", perr)
		}
		more = k == 1
		r = io.MultiReader(bytesReader(one[:k]), r)
	}
	var id int64
	err = tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT id FROM %s WHERE globalid = ?`, M), meta.GlobalID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (data, content_type, globalid, rel_globalid, att_name, keywords, size, sha256, chunked) VALUES (X'', ?, ?, ?, ?, ?, 0, '', ?)`, M),
			meta.ContentType, meta.GlobalID, meta.ParentGlobalID, meta.Name, meta.Keywords, more)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (base_id, related_id) VALUES (?, ?)`, qid(t.Name+"__ATTACHREL")), baseID, id); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if _, err := tx.ExecContext(ctx, `DELETE FROM gpkgext_offlined_attachment_chunks WHERE media_table = ? AND media_id = ?`, t.AttachTable, id); err != nil {
			return err
		}
	}
	size := int64(len(first))
	h.Write(first)
	if !more {
		if size > db.opts.MaxAttachmentSize {
			return ErrTooLarge
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET data = ?, content_type = ?, rel_globalid = ?, att_name = ?, keywords = ?, size = ?, sha256 = ?, chunked = 0 WHERE id = ?`, M),
			first, meta.ContentType, meta.ParentGlobalID, meta.Name, meta.Keywords, size, hex.EncodeToString(h.Sum(nil)), id)
		meta.ID, meta.Size, meta.SHA256 = id, size, hex.EncodeToString(h.Sum(nil))
		return err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO gpkgext_offlined_attachment_chunks (media_table, media_id, seq, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.ExecContext(ctx, t.AttachTable, id, 0, first); err != nil {
		return err
	}
	for seq := 1; ; seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			size += int64(n)
			if size > db.opts.MaxAttachmentSize {
				return fmt.Errorf("%w (%d bytes)", ErrTooLarge, db.opts.MaxAttachmentSize)
			}
			h.Write(buf[:n])
			if _, err := st.ExecContext(ctx, t.AttachTable, id, seq, buf[:n]); err != nil {
				return err
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			return fmt.Errorf("read content: %w", rerr)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET data = X'', content_type = ?, rel_globalid = ?, att_name = ?, keywords = ?, size = ?, sha256 = ?, chunked = 1 WHERE id = ?`, M),
		meta.ContentType, meta.ParentGlobalID, meta.Name, meta.Keywords, size, sum, id)
	meta.ID, meta.Size, meta.SHA256 = id, size, sum
	return err
}

type byteSliceReader struct{ b []byte }

func (r *byteSliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &byteSliceReader{b: append([]byte(nil), b...)} }

// Attachments lists the attachments of a feature (all of the layer's when
// parentGlobalID is "").
func (db *DB) Attachments(ctx context.Context, layerID int, parentGlobalID string) ([]AttachmentMeta, error) {
	t, err := db.attachTable(layerID)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`SELECT id, globalid, rel_globalid, att_name, content_type, coalesce(keywords,''), size, sha256 FROM %s`, qid(t.AttachTable))
	var args []any
	if parentGlobalID != "" {
		g, _ := NormalizeGlobalID(parentGlobalID)
		q += " WHERE rel_globalid = ?"
		args = append(args, g)
	}
	rows, err := db.r.QueryContext(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("list attachments of layer %d: %w", layerID, err)
	}
	return scanRows(rows, func(rows *sql.Rows) (m AttachmentMeta, err error) {
		err = rows.Scan(&m.ID, &m.GlobalID, &m.ParentGlobalID, &m.Name, &m.ContentType, &m.Keywords, &m.Size, &m.SHA256)
		return m, err
	})
}

// ReadAttachment streams an attachment's content to w chunk by chunk and
// verifies its size and SHA-256 at the end (ErrChecksum when they differ;
// by then w has received the bad bytes, so buffer or discard on error).
func (db *DB) ReadAttachment(ctx context.Context, layerID int, globalID string, w io.Writer) (AttachmentMeta, error) {
	var m AttachmentMeta
	t, err := db.attachTable(layerID)
	if err != nil {
		return m, err
	}
	gid, _ := NormalizeGlobalID(globalID)
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return m, err
	}
	defer tx.Rollback()
	var chunked bool
	err = tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT id, globalid, rel_globalid, att_name, content_type, coalesce(keywords,''), size, sha256, chunked FROM %s WHERE globalid = ?`, qid(t.AttachTable)), gid).
		Scan(&m.ID, &m.GlobalID, &m.ParentGlobalID, &m.Name, &m.ContentType, &m.Keywords, &m.Size, &m.SHA256, &chunked)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("attachment %s: %w", globalID, ErrNoAttachment)
	}
	if err != nil {
		return m, err
	}
	h := sha256.New()
	var n int64
	var rows *sql.Rows
	if chunked {
		rows, err = tx.QueryContext(ctx, `SELECT data FROM gpkgext_offlined_attachment_chunks WHERE media_table = ? AND media_id = ? ORDER BY seq`, t.AttachTable, m.ID)
	} else {
		rows, err = tx.QueryContext(ctx, fmt.Sprintf(`SELECT data FROM %s WHERE id = ?`, qid(t.AttachTable)), m.ID)
	}
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for rows.Next() {
		var b sql.RawBytes
		if err := rows.Scan(&b); err != nil {
			return m, err
		}
		h.Write(b)
		n += int64(len(b))
		if _, err := w.Write(b); err != nil {
			return m, fmt.Errorf("write attachment %s: %w", gid, err)
		}
	}
	if err := rows.Err(); err != nil {
		return m, err
	}
	if n != m.Size || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
		return m, fmt.Errorf("attachment %s: %w", gid, ErrChecksum)
	}
	return m, nil
}

// DeleteAttachment removes an attachment and its content.
func (db *DB) DeleteAttachment(ctx context.Context, layerID int, globalID string) error {
	t, err := db.attachTable(layerID)
	if err != nil {
		return err
	}
	gid, _ := NormalizeGlobalID(globalID)
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE globalid = ?`, qid(t.AttachTable)), gid)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete attachment %s: %w", globalID, ErrNoAttachment)
		}
		return nil
	})
}
