package offline

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// Step statuses recorded in the journal. Every step goes pending → done or
// failed; the fields of a step record how far its server work got, so a
// restarted job continues instead of starting over.
const (
	stepPending = "pending"
	stepDone    = "done"
	stepFailed  = "failed"
)

// Replica phases of a feature service step.
const (
	replicaNone      = ""          // nothing sent
	replicaRequested = "requested" // createReplica about to be sent (name recorded)
	replicaSubmitted = "submitted" // statusUrl saved
	replicaCreated   = "created"   // replica id, gens and result URL saved
	replicaFetched   = "fetched"   // result file fully downloaded
)

// journal is the job's persistent state, dir/.offlined-job.json, rewritten
// atomically after every step transition.
type journal struct {
	mu   sync.Mutex
	path string

	Version int    `json:"version"`
	ID      string `json:"id"`
	// Fingerprint identifies the inputs of a version 1 journal (which kept
	// nothing else); version 2 keeps the inputs themselves.
	Fingerprint string `json:"fingerprint"`
	// Source, Parameters and Overrides are the job's inputs as resolved when
	// it started: a resume runs with these, not with values recomputed from
	// a server that may have changed meanwhile (version 2).
	Source     *Source     `json:"source,omitempty"`
	Parameters *Parameters `json:"parameters,omitempty"`
	Overrides  *Overrides  `json:"overrides,omitempty"`
	// WebMap is the web map as loaded when the job started, and Resolved
	// the VectorTileServer each vector tile layer led to (by entry id): a
	// resume writes map.json and titles from them, not from a web map that
	// may have changed since (version 2).
	WebMap   json.RawMessage       `json:"webMap,omitempty"`
	Resolved map[string]ServiceRef `json:"resolved,omitempty"`
	Created  time.Time             `json:"created"`
	State    JobState              `json:"state"`
	Steps    map[string]*stepInfo  `json:"steps"`
	// Replicas lists every replica this job registered (to unregister on
	// cancel or failure cleanup), by service URL.
	Replicas []journalReplica `json:"replicas,omitempty"`
}

type journalReplica struct {
	ServiceURL string `json:"serviceUrl"`
	ID         string `json:"id"`
}

// stepInfo is one step's record.
type stepInfo struct {
	Key    Key    `json:"key"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	// Store is the local file relative to the package directory.
	Store      string `json:"store"`
	ServiceURL string `json:"serviceUrl,omitempty"`

	// Feature services.
	ReplicaPhase     string             `json:"replicaPhase,omitempty"`
	ReplicaName      string             `json:"replicaName,omitempty"`
	StatusURL        string             `json:"statusUrl,omitempty"`
	ReplicaID        string             `json:"replicaId,omitempty"`
	ResultURL        string             `json:"resultUrl,omitempty"`
	ReplicaServerGen int64              `json:"replicaServerGen,omitempty"`
	ServerGens       []arcgis.ServerGen `json:"serverGens,omitempty"`
	LayerFeatures    map[int]int64      `json:"layerFeatures,omitempty"`

	// Tile layers.
	ExportJobURL string `json:"exportJobUrl,omitempty"`
	Tiles        int64  `json:"tiles,omitempty"`

	Features int64       `json:"features,omitempty"`
	Bytes    int64       `json:"bytes,omitempty"`
	Error    *LayerError `json:"error,omitempty"`
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// fingerprint identifies a job's inputs so that a restart with the same
// inputs resumes and one with different inputs is refused.
func fingerprint(src Source, p *Parameters, o *Overrides) (string, error) {
	h := sha256.New()
	for _, v := range []any{src, p, o} {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// journalVersion is the version of journals written now.
const journalVersion = 2

// loadJournal reads dir's journal; (nil, nil) when there is none.
func loadJournal(dir string) (*journal, error) {
	p := filepath.Join(dir, JournalFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	j := &journal{}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, fmt.Errorf("job journal %s: %w", p, err)
	}
	j.path = p
	if j.Steps == nil {
		j.Steps = map[string]*stepInfo{}
	}
	return j, nil
}

// save writes the journal (the caller holds no lock).
func (j *journal) save() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.saveLocked()
}

func (j *journal) saveLocked() error {
	if err := writeJSONAtomic(j.path, j); err != nil {
		return fmt.Errorf("save job journal: %w", err)
	}
	return nil
}

// update changes the journal under its lock and saves it.
func (j *journal) update(fn func()) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn()
	return j.saveLocked()
}

// updateStep changes the record of step id with fn and saves the journal.
func (j *journal) updateStep(id string, fn func(*stepInfo)) error {
	return j.update(func() { fn(j.Steps[id]) })
}

// step returns a copy of a step's record.
func (j *journal) step(id string) stepInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	return *j.Steps[id]
}

func (j *journal) addReplica(svcURL, id string) {
	for _, r := range j.Replicas {
		if r.ID == id {
			return
		}
	}
	j.Replicas = append(j.Replicas, journalReplica{ServiceURL: svcURL, ID: id})
}
