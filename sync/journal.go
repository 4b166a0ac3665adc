package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// JournalKey is the offlined_meta key of the open sync journal.
const JournalKey = "offlined_sync_journal"

// Journal phases.
const (
	phasePrepared = "prepared" // batch recorded; attachments may be uploading
	phaseSent     = "sent"     // the edits may have reached the server
)

// journal records one upload batch before any network call.
type journal struct {
	ID      string    `json:"id"`
	UpTo    int64     `json:"upTo"`
	Phase   string    `json:"phase"`
	Started time.Time `json:"started"`
	// Edits name what is (or was) sent.
	Edits []layerEdits `json:"edits"`
	// KeepTables are tables whose rows ≤ UpTo are not acknowledged
	// (download-only layers, attachments that are not uploaded).
	KeepTables []string `json:"keepTables,omitempty"`
	// Uploads tracks attachment content uploads by attachment GlobalID.
	Uploads map[string]*upload `json:"uploads,omitempty"`
	// Readd are GlobalIDs whose update must be sent as an add (DeviceWins
	// after a server delete).
	Attempts int `json:"attempts"`
	// Skipped are change-log keys left out of what is sent (an attachment
	// deleted before its content went up): their rows are kept so the
	// next batch nets the add and the delete to nothing.
	Skipped []geodb.ChangeKey `json:"skipped,omitempty"`
}

// layerEdits is one layer of a journaled batch: the GlobalIDs to add,
// update and delete (the features are read from the GeoPackage and
// streamed out when sent, so memory does not grow with the batch) and the
// attachment edits.
type layerEdits struct {
	ID          int                           `json:"id"`
	Adds        []string                      `json:"adds,omitempty"`
	Updates     []string                      `json:"updates,omitempty"`
	Deletes     []string                      `json:"deletes,omitempty"`
	Attachments *arcgis.SyncAttachmentChanges `json:"attachments,omitempty"`
}

func (l *layerEdits) count() int { return len(l.Adds) + len(l.Updates) + len(l.Deletes) }

// upload is the state of one attachment's content upload.
type upload struct {
	Layer   int    `json:"layer"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	ItemID  string `json:"itemId,omitempty"`
	Chunked bool   `json:"chunked,omitempty"`
	Parts   []int  `json:"parts,omitempty"` // parts uploaded (1-based)
	Done    bool   `json:"done,omitempty"`  // committed / uploaded
}

func loadJournal(ctx context.Context, db *geodb.DB) (*journal, error) {
	v, ok, err := db.Meta(ctx, JournalKey)
	if err != nil || !ok {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal([]byte(v), &j); err != nil {
		return nil, fmt.Errorf("sync journal of %s: %w", db.Path(), err)
	}
	return &j, nil
}

func saveJournal(ctx context.Context, db *geodb.DB, j *journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := db.SetMeta(ctx, JournalKey, string(b)); err != nil {
		return fmt.Errorf("write sync journal: %w", err)
	}
	return nil
}

func (j *journal) empty() bool {
	for _, e := range j.Edits {
		if e.count() > 0 {
			return false
		}
		if e.Attachments != nil && len(e.Attachments.Adds)+len(e.Attachments.Updates)+len(e.Attachments.DeleteIDs) > 0 {
			return false
		}
	}
	return true
}
