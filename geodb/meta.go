package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/offlined/offlined/internal/arcgis"
)

// Keys of gpkgext_offlined_meta.
const (
	metaService          = "service_json"
	metaReplica          = "replica_json"
	metaReplicaServerGen = "replica_server_gen"
)

// SetMeta stores a value under key in gpkgext_offlined_meta.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error { return setMetaTx(ctx, tx, key, value) })
}

func setMetaTx(ctx context.Context, tx *sql.Tx, key, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO gpkgext_offlined_meta (key, value) VALUES (?, ?)`, key, value)
	return err
}

// Meta returns the value under key ("" and false when absent).
func (db *DB) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM gpkgext_offlined_meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, true, nil
}

// SaveService keeps the service JSON (verbatim) for later use.
func (db *DB) SaveService(ctx context.Context, raw json.RawMessage) error {
	var svc arcgis.FeatureService
	if err := json.Unmarshal(raw, &svc); err != nil {
		return fmt.Errorf("save service json: %w", err)
	}
	return db.SetMeta(ctx, metaService, string(raw))
}

// Service returns the stored service JSON, or nil.
func (db *DB) Service(ctx context.Context) (json.RawMessage, error) {
	v, ok, err := db.Meta(ctx, metaService)
	if !ok || err != nil {
		return nil, err
	}
	return json.RawMessage(v), nil
}

// LayerJSON returns the stored layer JSON of a layer id.
func (db *DB) LayerJSON(ctx context.Context, layerID int) (json.RawMessage, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT layer_json FROM gpkgext_offlined_layers WHERE layer_id = ?`, layerID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("layer %d: %w", layerID, ErrNoLayer)
	}
	return json.RawMessage(v), err
}

// SaveReplica stores the replica info (id, name, sync model, …) and its
// server generations.
func (db *DB) SaveReplica(ctx context.Context, r *arcgis.Replica) error {
	cp := *r
	cp.Layers = nil
	b, err := json.Marshal(&cp)
	if err != nil {
		return err
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := setMetaTx(ctx, tx, metaReplica, string(b)); err != nil {
			return err
		}
		return storeGensTx(ctx, tx, r.ReplicaServerGen, r.LayerServerGens)
	})
}

// Replica returns the stored replica info with its current server
// generations, or nil when none is stored.
func (db *DB) Replica(ctx context.Context) (*arcgis.Replica, error) {
	v, ok, err := db.Meta(ctx, metaReplica)
	if !ok || err != nil {
		return nil, err
	}
	var r arcgis.Replica
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return nil, fmt.Errorf("stored replica: %w", err)
	}
	gen, gens, err := db.ServerGens(ctx)
	if err != nil {
		return nil, err
	}
	r.ReplicaServerGen, r.LayerServerGens = gen, gens
	return &r, nil
}

// ServerGens returns the stored replica and per-layer server generations.
func (db *DB) ServerGens(ctx context.Context) (int64, []arcgis.ServerGen, error) {
	var gen int64
	if v, ok, err := db.Meta(ctx, metaReplicaServerGen); err != nil {
		return 0, nil, err
	} else if ok {
		gen, _ = strconv.ParseInt(v, 10, 64)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT layer_id, server_gen, server_sib_gen FROM gpkgext_offlined_server_gens ORDER BY layer_id`)
	if err != nil {
		return 0, nil, err
	}
	gens, err := scanRows(rows, func(rows *sql.Rows) (g arcgis.ServerGen, err error) {
		err = rows.Scan(&g.ID, &g.ServerGen, &g.ServerSibGen)
		return g, err
	})
	if err != nil {
		return 0, nil, err
	}
	return gen, gens, nil
}

func storeGensTx(ctx context.Context, tx *sql.Tx, replicaGen int64, gens []arcgis.ServerGen) error {
	if replicaGen != 0 {
		if err := setMetaTx(ctx, tx, metaReplicaServerGen, strconv.FormatInt(replicaGen, 10)); err != nil {
			return err
		}
	}
	for _, g := range gens {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO gpkgext_offlined_server_gens (layer_id, server_gen, server_sib_gen) VALUES (?,?,?)`, g.ID, g.ServerGen, g.ServerSibGen); err != nil {
			return err
		}
	}
	return nil
}
