package offline

import (
	"errors"
	"fmt"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// JobState is where an offline map job stands.
type JobState string

// Job states.
const (
	JobPending   JobState = "pending"
	JobRunning   JobState = "running"
	JobPaused    JobState = "paused"
	JobNeedsAuth JobState = "needsAuth" // waiting for credentials; Resume after fixing them
	JobSucceeded JobState = "succeeded"
	JobFailed    JobState = "failed"
	JobCanceled  JobState = "canceled"
)

// Step kinds (the Kind of a package layer entry).
const (
	KindReplica          = string(MethodReplica)
	KindSnapshot         = string(MethodSnapshot)
	KindRasterTiles      = string(MethodRasterTiles)
	KindVectorTiles      = string(MethodVectorTiles)
	KindReferenceBasemap = string(MethodReferenceBasemap)
	KindOnlineOnly       = string(MethodOnlineOnly)
	KindEmbedded         = string(MethodEmbedded)
	// KindNone is a web map entry left out of the package; its Reason says
	// why.
	KindNone = string(MethodNone)
)

// LayerError says why one layer or table did not go offline: the layer,
// its service, the call that failed and the server's message.
type LayerError struct {
	Key     Key    `json:"key"`
	Layer   string `json:"layer"`
	Service string `json:"service"`
	Call    string `json:"call"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
	// Reason is the capability's reason for a layer that was left out
	// before the job (Call "capabilities").
	Reason Reason `json:"reason,omitempty"`
}

func (e *LayerError) Error() string {
	return fmt.Sprintf("layer %q (%s): %s: %s", e.Layer, e.Service, e.Call, e.Message)
}

// StepError is a failed step of a job: the service or tile layer, the call
// and the underlying error.
type StepError struct {
	Key     Key
	Service string
	Call    string
	Err     error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Call, e.Service, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

func stepErr(k Key, svc, call string, err error) error {
	if err == nil {
		return nil
	}
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	return &StepError{Key: k, Service: svc, Call: call, Err: err}
}

// serverMessage returns the server's message for an error (the ArcGIS error
// body when there is one) and its code.
func serverMessage(err error) (string, int) {
	var ae *arcgis.Error
	if errors.As(err, &ae) {
		msg := ae.Message
		for _, d := range ae.Details {
			msg += "; " + d
		}
		return msg, ae.Code
	}
	var je *arcgis.ReplicaJobError
	if errors.As(err, &je) {
		return je.Error(), 0
	}
	var he *arcgis.HTTPError
	if errors.As(err, &he) {
		return he.Error(), he.StatusCode
	}
	return err.Error(), 0
}

// LayerProgress is one step's progress (a feature service, a tile layer).
type LayerProgress struct {
	Key          Key    `json:"key"`
	Title        string `json:"title"`
	Kind         string `json:"kind"`
	Phase        string `json:"phase"`
	Features     int64  `json:"features"`
	Tiles        int64  `json:"tiles"`
	TilesPlanned int64  `json:"tilesPlanned,omitempty"`
	Bytes        int64  `json:"bytes"`
	Done         bool   `json:"done"`
	Error        string `json:"error,omitempty"`
}

// Progress is a snapshot of a job's progress, overall and per step.
type Progress struct {
	State JobState `json:"state"`
	// Percent is the share of steps done, refined by tile counts.
	Percent  float64          `json:"percent"`
	Features int64            `json:"features"`
	Tiles    int64            `json:"tiles"`
	Bytes    int64            `json:"bytes"`
	Layers   []*LayerProgress `json:"layers"`
	// Message is the last notable event ("needs authentication: …").
	Message string `json:"message,omitempty"`
	// Estimate is the job's package estimate, when it has one.
	Estimate *PackageEstimate `json:"estimate,omitempty"`
	// Resumed is true when the job continues an interrupted run (its
	// journal was found in the directory): finished steps are not redone.
	Resumed bool `json:"resumed,omitempty"`
}

// Result is what a finished (or stopped) job produced.
type Result struct {
	Dir         string              `json:"dir"`
	State       JobState            `json:"state"`
	HasErrors   bool                `json:"hasErrors"`
	Canceled    bool                `json:"canceled"`
	LayerErrors map[Key]*LayerError `json:"layerErrors"`
	TableErrors map[Key]*LayerError `json:"tableErrors"`
	// Warnings are the manifest's per-layer warnings (a layer that came out
	// empty).
	Warnings []LayerWarning `json:"warnings,omitempty"`
	// Manifest is the package manifest (nil when no package was written).
	Manifest *Manifest    `json:"manifest,omitempty"`
	Elapsed  JSONDuration `json:"elapsed"`
}

// JSONDuration marshals as a duration string ("1.5s").
type JSONDuration time.Duration

// MarshalJSON writes the duration as a string.
func (d JSONDuration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads a duration string.
func (d *JSONDuration) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' {
		return fmt.Errorf("duration: want a string")
	}
	v, err := time.ParseDuration(string(b[1 : len(b)-1]))
	*d = JSONDuration(v)
	return err
}
