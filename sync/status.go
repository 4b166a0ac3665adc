package sync

import (
	"context"
	"encoding/json"
	"time"

	"github.com/offlined/offlined/geodb"
)

// State is where a package's sync stands.
type State string

// States.
const (
	StateIdle      State = "idle"
	StateSyncing   State = "syncing"
	StateNeedsAuth State = "needsAuth" // credentials cannot be renewed; edits are kept
	StateOffline   State = "offline"   // the server is unreachable; waiting for connectivity
	StateError     State = "error"
)

// EditFailure is one edit the server rejected. It stays in the change log
// (and is sent again) until it succeeds or the user changes it.
type EditFailure struct {
	Layer       int       `json:"layer"`
	GlobalID    string    `json:"globalId"`
	Op          string    `json:"op"` // add, update, delete
	Attachment  bool      `json:"attachment,omitempty"`
	Code        int       `json:"code,omitempty"`
	Description string    `json:"description"`
	At          time.Time `json:"at"`
}

// Report summarises one sync.
type Report struct {
	Uploaded          int   `json:"uploaded"`
	AttachmentsSent   int   `json:"attachmentsSent"`
	ChunkedUploads    int   `json:"chunkedUploads"`
	Downloaded        int   `json:"downloaded"`
	Conflicts         int   `json:"conflicts"`
	Failed            int   `json:"failed"`
	Recovered         bool  `json:"recovered,omitempty"` // a journal from an interrupted sync was reconciled
	ReplayedLanded    int   `json:"replayedLanded,omitempty"`
	AckedThrough      int64 `json:"ackedThrough,omitempty"`
	SchemaChanged     []int `json:"schemaChanged,omitempty"`
	DownloadFirstCall bool  `json:"downloadFirstCall,omitempty"`
	// Snapshot counts the refresh of read-only snapshot layers (snapshot
	// mode only; see snapshot_refresh.go).
	Snapshot *SnapshotReport `json:"snapshot,omitempty"`

	resumed bool // a journal left by an earlier attempt was finished
}

func (r *Report) merge(o *Report) {
	r.Uploaded += o.Uploaded
	r.AttachmentsSent += o.AttachmentsSent
	r.ChunkedUploads += o.ChunkedUploads
	r.Downloaded += o.Downloaded
	r.Conflicts += o.Conflicts
	r.Failed += o.Failed
	r.AckedThrough = max(r.AckedThrough, o.AckedThrough)
	r.SchemaChanged = append(r.SchemaChanged, o.SchemaChanged...)
	r.DownloadFirstCall = r.DownloadFirstCall || o.DownloadFirstCall
}

// Status is the persisted sync status of one package.
type Status struct {
	State       State         `json:"state"`
	LastAttempt time.Time     `json:"lastAttempt,omitzero"`
	LastSuccess time.Time     `json:"lastSuccess,omitzero"`
	LastError   string        `json:"lastError,omitempty"`
	EditErrors  []EditFailure `json:"editErrors,omitempty"`
	LastReport  *Report       `json:"lastReport,omitempty"`
	// Computed when read:
	PendingEdits     int64 `json:"pendingEdits"`
	Conflicts        int   `json:"conflicts"`
	PendingConflicts int   `json:"pendingConflicts"`
	JournalOpen      bool  `json:"journalOpen"`
}

// StatusKey is the offlined_meta key of the persisted status.
const StatusKey = "offlined_sync_status"

// ReadStatus returns the sync status of a GeoPackage.
func ReadStatus(ctx context.Context, db *geodb.DB) (Status, error) {
	var st Status
	v, ok, err := db.Meta(ctx, StatusKey)
	if err != nil {
		return st, err
	}
	if ok {
		_ = json.Unmarshal([]byte(v), &st)
	}
	if st.State == "" {
		st.State = StateIdle
	}
	if st.PendingEdits, err = db.PendingChanges(ctx); err != nil {
		return st, err
	}
	cs, err := db.Conflicts(ctx)
	if err != nil {
		return st, err
	}
	st.Conflicts = len(cs)
	for _, c := range cs {
		if c.Resolution == ResolutionPending {
			st.PendingConflicts++
		}
	}
	_, st.JournalOpen, err = db.Meta(ctx, JournalKey)
	return st, err
}

func writeStatus(ctx context.Context, db *geodb.DB, st Status) error {
	st.PendingEdits, st.Conflicts, st.PendingConflicts, st.JournalOpen = 0, 0, 0, false
	b, _ := json.Marshal(st)
	return db.SetMeta(ctx, StatusKey, string(b))
}
