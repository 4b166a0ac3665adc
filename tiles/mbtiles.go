package tiles

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// mbtilesApplicationID is "MPBX", the SQLite application_id of MBTiles files.
const mbtilesApplicationID = 0x4d504258

// Metadata keys offlined adds beside the MBTiles 1.3 ones.
const (
	// MetaTileInfo holds the ArcGIS tileInfo JSON of the store's grid.
	MetaTileInfo = "offlined_tileinfo"
	// MetaGrid is "xyz" when rows are TMS-flipped XYZ zooms, "tileinfo" when
	// zoom_level/tile_column/tile_row are the ArcGIS level/col/row as is.
	MetaGrid = "offlined_grid"
)

// TileKey addresses a tile in a scheme's grid: level id, row from the top, column.
type TileKey struct {
	Level, Row, Col int
}

func (k TileKey) String() string { return fmt.Sprintf("%d/%d/%d", k.Level, k.Row, k.Col) }

// TileRecord is one downloaded tile (Data) or a tile the source says does not exist (Absent).
type TileRecord struct {
	Key    TileKey
	Data   []byte
	Absent bool
}

// ErrTileNotFound is returned by readers for a tile the store does not hold.
var ErrTileNotFound = errors.New("tile not found")

// Store is an MBTiles 1.3 file. Writes are serialised; reads are safe from
// many goroutines. The grid mapping (XYZ with TMS rows, or ArcGIS level/row/col
// as is) is fixed by Configure and read back from metadata on open.
type Store struct {
	db   *sql.DB
	path string
	wmu  sync.Mutex
	// wconn is the connection Put writes through (guarded by wmu), opened
	// by the first Put with a page cache that holds a batch.
	wconn *sql.Conn
	// put holds Put's statements prepared on wconn (guarded by wmu).
	put putStmts
	// planned is the tile count given to Plan until the first Put with
	// tiles has set the page size by their size (guarded by wmu).
	planned int64

	mu     sync.RWMutex
	scheme *Scheme
	xyz    bool
	// tileStmt reads one tile; prepared once (parsing the SELECT on every
	// request was a tenth of the tile route's CPU). nil: not preparable.
	tileStmt *sql.Stmt
	// readers are AppendTile's connections, format Format's cache
	// (mbtiles_read.go).
	readers *tileReaders
	format  formatCache
}

// tileSQL reads one tile by its MBTiles (TMS) address.
const tileSQL = `SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?`

// readTile reads the tile at the MBTiles address z/x/row.
func (s *Store) readTile(ctx context.Context, z, x, row int) ([]byte, error) {
	var b []byte
	var err error
	if s.tileStmt != nil {
		err = s.tileStmt.QueryRowContext(ctx, z, x, row).Scan(&b)
	} else {
		err = s.db.QueryRowContext(ctx, tileSQL, z, x, row).Scan(&b)
	}
	return b, err
}

// readerConns is how many connections a store opens and keeps idle.
const readerConns = 8

// OpenStore opens or creates an MBTiles file with WAL journaling.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	return openStore(ctx, path, "WAL")
}

// openStore opens path; journal is the journal_mode to set on every
// connection, or "" to keep the file's own (rollback for a new file).
func openStore(ctx context.Context, path, journal string) (*Store, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	if journal != "" {
		dsn += "&_pragma=journal_mode(" + journal + ")"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open mbtiles %s: %w", path, err)
	}
	db.SetMaxOpenConns(readerConns)
	// Keep the readers open under load: with database/sql's default of 2
	// idle connections, concurrent tile reads closed and reopened SQLite
	// connections (open, pragmas, prepare) ~6% of the tile route's CPU.
	db.SetMaxIdleConns(readerConns)
	db.SetConnMaxIdleTime(time.Minute)
	s := &Store{db: db, path: path, readers: newTileReaders(path, time.Now)}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open mbtiles %s: %w", path, err)
	}
	if st, err := db.PrepareContext(ctx, tileSQL); err == nil {
		s.tileStmt = st
	}
	return s, nil
}

// Path returns the file path of the store.
func (s *Store) Path() string { return s.path }

func (s *Store) init(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name='tiles'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		stmts := []string{
			fmt.Sprintf(`PRAGMA application_id = %d`, mbtilesApplicationID),
			`CREATE TABLE IF NOT EXISTS metadata (name text, value text)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS metadata_name ON metadata (name)`,
			`CREATE TABLE IF NOT EXISTS tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)`,
			// Rows before columns: the order a download inserts tiles in
			// (row by row, each row's columns ascending). With columns first
			// a row's tiles land one per column all over the level's index,
			// and every commit rewrites (and journals) most of its pages.
			// Lookups by all three columns, the MBTiles readers' query
			// (GDAL's too), use either order.
			`CREATE UNIQUE INDEX IF NOT EXISTS tile_index ON tiles (zoom_level, tile_row, tile_column)`,
		}
		for _, q := range stmts {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS offlined_tile_state (zoom_level integer, tile_column integer, tile_row integer, state text,
			PRIMARY KEY (zoom_level, tile_column, tile_row)) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS offlined_progress (zoom_level integer PRIMARY KEY, planned integer, complete integer)`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	md, err := s.Metadata(ctx)
	if err != nil {
		return err
	}
	if ti := md[MetaTileInfo]; ti != "" {
		var sch Scheme
		if err := json.Unmarshal([]byte(ti), &sch.Info); err != nil {
			return fmt.Errorf("metadata %s: %w", MetaTileInfo, err)
		}
		if sc, err := NewScheme(sch.Info); err == nil {
			s.scheme = sc
		}
	}
	s.xyz = md[MetaGrid] != "tileinfo"
	return nil
}

// Configure records the grid of the store: the scheme's tileInfo, whether rows
// are XYZ/TMS, and the MBTiles format ("png", "jpg", "pbf", …). A store
// configured before keeps its grid; a different grid is an error.
func (s *Store) Configure(ctx context.Context, sc *Scheme, format string) error {
	ti, err := json.Marshal(sc.Info)
	if err != nil {
		return err
	}
	grid := "tileinfo"
	if sc.XYZ() {
		grid = "xyz"
	}
	md, err := s.Metadata(ctx)
	if err != nil {
		return err
	}
	if old := md[MetaGrid]; old != "" && old != grid {
		return fmt.Errorf("mbtiles %s: store holds a %s grid, not %s", s.path, old, grid)
	}
	set := map[string]string{MetaTileInfo: string(ti), MetaGrid: grid}
	if format != "" {
		set["format"] = format
	}
	if grid == "xyz" {
		set["scheme"] = "tms"
	}
	if err := s.SetMetadata(ctx, set); err != nil {
		return err
	}
	s.mu.Lock()
	s.scheme, s.xyz = sc, grid == "xyz"
	s.mu.Unlock()
	return nil
}

// FormatFor maps an ArcGIS tileInfo format to the MBTiles format value.
func FormatFor(arcgisFormat string) string {
	f := strings.ToUpper(arcgisFormat)
	switch {
	case strings.HasPrefix(f, "PNG"):
		return "png"
	case f == "JPEG" || f == "JPG":
		return "jpg"
	case f == "PBF" || f == "MVT":
		return "pbf"
	case f == "WEBP":
		return "webp"
	case f == "MIXED":
		return "png"
	}
	return strings.ToLower(arcgisFormat)
}

// SniffFormat returns the MBTiles format of tile bytes: png, jpg, webp, pbf (gzip), or "".
func SniffFormat(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		return "png"
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "jpg"
	case len(b) > 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "pbf"
	}
	return ""
}

// dbAddr maps a grid key to the MBTiles (zoom_level, tile_column, tile_row).
func (s *Store) dbAddr(k TileKey) (z, x, y int, err error) {
	s.mu.RLock()
	sc, xyz := s.scheme, s.xyz
	s.mu.RUnlock()
	if sc == nil {
		return 0, 0, 0, fmt.Errorf("mbtiles %s: grid not configured", s.path)
	}
	if !xyz {
		return k.Level, k.Col, k.Row, nil
	}
	zoom, ok := sc.ZoomOf(k.Level)
	if !ok {
		return 0, 0, 0, fmt.Errorf("mbtiles %s: level %d has no XYZ zoom", s.path, k.Level)
	}
	return zoom, k.Col, (1 << zoom) - 1 - k.Row, nil
}

// SetMetadata upserts metadata rows.
func (s *Store) SetMetadata(ctx context.Context, kv map[string]string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	conn, err := s.writer(ctx)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for k, v := range kv {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO metadata (name, value) VALUES (?, ?)`, k, v); err != nil {
			return fmt.Errorf("mbtiles metadata %s: %w", k, err)
		}
	}
	defer s.format.invalidate()
	return tx.Commit()
}

// Metadata returns all metadata rows.
func (s *Store) Metadata(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM metadata`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k.String] = v.String
	}
	return out, rows.Err()
}

// Known returns the grid keys (row, col packed as row<<32|col) of level that
// are stored or recorded absent, so a resumed download skips them.
func (s *Store) Known(ctx context.Context, level int) (map[uint64]struct{}, error) {
	z, _, _, err := s.dbAddr(TileKey{Level: level})
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	xyz := s.xyz
	s.mu.RUnlock()
	out := map[uint64]struct{}{}
	for _, q := range []string{
		`SELECT tile_column, tile_row FROM tiles WHERE zoom_level = ?`,
		`SELECT tile_column, tile_row FROM offlined_tile_state WHERE zoom_level = ?`,
	} {
		rows, err := s.db.QueryContext(ctx, q, z)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var x, y int
			if err := rows.Scan(&x, &y); err != nil {
				rows.Close()
				return nil, err
			}
			row := y
			if xyz {
				row = (1 << z) - 1 - y
			}
			out[packRC(row, x)] = struct{}{}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func packRC(row, col int) uint64 { return uint64(uint32(row))<<32 | uint64(uint32(col)) }

// MarkLevelComplete records that every tile of level was fetched or found absent.
func (s *Store) MarkLevelComplete(ctx context.Context, level int, planned int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	conn, err := s.writer(ctx)
	if err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, markComplete, level, planned)
	return err
}

// LevelComplete reports whether MarkLevelComplete was recorded for level.
func (s *Store) LevelComplete(ctx context.Context, level int) (bool, error) {
	var c int
	err := s.db.QueryRowContext(ctx, `SELECT complete FROM offlined_progress WHERE zoom_level = ?`, level).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return c == 1, err
}

// Tile returns the tile at XYZ address z/x/y (y from the top, as web maps ask);
// the TMS row flip is applied for XYZ stores. For tileinfo stores z/x/y are the
// ArcGIS level/col/row.
func (s *Store) Tile(ctx context.Context, z, x, y int) ([]byte, error) {
	row, ok := s.tileRow(z, x, y)
	if !ok {
		return nil, ErrTileNotFound
	}
	b, err := s.readTile(ctx, z, x, row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrTileNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("mbtiles %s: tile %d/%d/%d: %w", s.path, z, x, y, err)
	}
	return b, nil
}

// TileByKey returns the tile at a grid key.
func (s *Store) TileByKey(ctx context.Context, k TileKey) ([]byte, error) {
	z, x, row, err := s.dbAddr(k)
	if err != nil {
		return nil, err
	}
	b, err := s.readTile(ctx, z, x, row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrTileNotFound
	}
	return b, err
}

// Count returns the number of stored tiles and absent records.
func (s *Store) Count(ctx context.Context) (tiles, absent int64, err error) {
	if err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM tiles`).Scan(&tiles); err != nil {
		return
	}
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM offlined_tile_state`).Scan(&absent)
	return
}

// TileJSON returns a TileJSON 3.0 document for the store, with tilesURL (a
// template containing {z}/{x}/{y}) as the tile endpoint.
func (s *Store) TileJSON(ctx context.Context, tilesURL string) (map[string]any, error) {
	md, err := s.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	tj := map[string]any{"tilejson": "3.0.0", "tiles": []string{tilesURL}, "scheme": "xyz"}
	for _, k := range []string{"name", "description", "attribution", "version", "format"} {
		if v := md[k]; v != "" {
			tj[k] = v
		}
	}
	for _, k := range []string{"minzoom", "maxzoom"} {
		if v, err := strconv.Atoi(md[k]); err == nil {
			tj[k] = v
		}
	}
	for _, k := range []string{"bounds", "center"} {
		if nums := parseFloats(md[k]); nums != nil {
			tj[k] = nums
		}
	}
	if md["json"] != "" {
		var j map[string]any
		if err := json.Unmarshal([]byte(md["json"]), &j); err == nil {
			if vl, ok := j["vector_layers"]; ok {
				tj["vector_layers"] = vl
			}
		}
	}
	return tj, nil
}

func parseFloats(s string) []float64 {
	if s == "" {
		return nil
	}
	var out []float64
	for _, p := range strings.Split(s, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) {
			return nil
		}
		out = append(out, f)
	}
	return out
}

// Finalize writes the summary metadata (name, format sniffed when unset,
// bounds/center of the AOI, minzoom/maxzoom from the stored tiles), checkpoints
// the WAL and switches the journal to DELETE so other programs (GDAL, QGIS) can
// open the single file.
func (s *Store) Finalize(ctx context.Context, name string, bounds *[4]float64) error {
	md, err := s.Metadata(ctx)
	if err != nil {
		return err
	}
	set := map[string]string{}
	if md["name"] == "" {
		set["name"] = name
	}
	if md["type"] == "" {
		set["type"] = "baselayer"
	}
	if md["version"] == "" {
		set["version"] = "1.1"
	}
	if md["format"] == "" {
		var b []byte
		if err := s.db.QueryRowContext(ctx, `SELECT tile_data FROM tiles LIMIT 1`).Scan(&b); err == nil {
			set["format"] = SniffFormat(b)
		}
	}
	var zmin, zmax sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(zoom_level), max(zoom_level) FROM tiles`).Scan(&zmin, &zmax); err != nil {
		return err
	}
	if zmin.Valid {
		set["minzoom"] = strconv.FormatInt(zmin.Int64, 10)
		set["maxzoom"] = strconv.FormatInt(zmax.Int64, 10)
	}
	if bounds != nil {
		b := *bounds
		set["bounds"] = fmt.Sprintf("%.6f,%.6f,%.6f,%.6f", b[0], b[1], b[2], b[3])
		z := int64(0)
		if zmin.Valid {
			z = zmin.Int64
		}
		set["center"] = fmt.Sprintf("%.6f,%.6f,%d", (b[0]+b[2])/2, (b[1]+b[3])/2, z)
	}
	if err := s.SetMetadata(ctx, set); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("mbtiles %s: checkpoint: %w", s.path, err)
	}
	return nil
}

// Close checkpoints and closes the store. The file is left in DELETE journal
// mode so it is one self-contained file.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.readers.Close()
	if s.tileStmt != nil {
		s.tileStmt.Close()
	}
	s.closeWriter()
	// Switching journal mode needs the only connection.
	s.db.SetMaxOpenConns(1)
	_, _ = s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	_, _ = s.db.Exec(`PRAGMA journal_mode=DELETE`)
	return s.db.Close()
}

// ReadLocalStyle reads the style saved under resourceDir (styles/root.json)
// and returns it rewritten to serve from base (see Style.LocalStyle).
func ReadLocalStyle(resourceDir, base string, minzoom, maxzoom int) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(resourceDir, "styles", "root.json"))
	if err != nil {
		return nil, fmt.Errorf("local style: %w", err)
	}
	st, err := ParseStyle(raw)
	if err != nil {
		return nil, err
	}
	return json.Marshal(st.LocalStyle(base, minzoom, maxzoom))
}
