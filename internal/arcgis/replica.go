package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Replica parameter values.
const (
	SyncModelPerReplica = "perReplica"
	SyncModelPerLayer   = "perLayer"
	SyncModelNone       = "none"

	TransportURL      = "esriTransportTypeUrl"
	TransportEmbedded = "esriTransportTypeEmbedded"

	ResponseTypeData         = "esriReplicaResponseTypeData"
	ResponseTypeInfo         = "esriReplicaResponseTypeInfo"
	ResponseTypeEdits        = "esriReplicaResponseTypeEdits"
	ResponseTypeEditsAndData = "esriReplicaResponseTypeEditsAndData"
	ResponseTypeNoEdits      = "esriReplicaResponseTypeNoEdits"
)

// CreateReplicaParams are every createReplica parameter of docs §3.4.
// Zero values are left out so server defaults apply.
type CreateReplicaParams struct {
	ReplicaName string
	Layers      []int
	// LayerQueries is keyed by layer id.
	LayerQueries map[int]ReplicaLayerQuery
	Geometry     *Geometry
	// GeometryText is the "xmin,ymin,xmax,ymax" form, used when Geometry is nil.
	GeometryText string
	GeometryType string // defaults to Geometry.Type()
	// InSR and ReplicaSR are wkids; InSRJSON/ReplicaSRJSON send a full
	// spatial reference object instead.
	InSR                       int
	InSRJSON                   *SpatialReference
	ReplicaSR                  int
	ReplicaSRJSON              *SpatialReference
	DatumTransformation        json.RawMessage
	TransportType              string
	ReturnAttachments          *bool
	ReturnAttachmentsDataByURL *bool
	Async                      bool
	SyncModel                  string
	DataFormat                 string // json (default), sqlite, …
	TargetType                 string // client (default), server
	SyncDirection              string
	AttachmentsSyncDirection   string // none, upload, bidirectional
	// ReplicaOptions is sent as JSON, e.g. {"syncDataOptions":4}.
	ReplicaOptions map[string]any
	// SyncDataOptions is sent top-level (some servers want it there; Esri's
	// packager puts it in ReplicaOptions).
	SyncDataOptions            *int
	TimeReferenceUnknownClient bool
	// Extra holds any other parameter as sent on the wire.
	Extra url.Values
}

func (p *CreateReplicaParams) values() (url.Values, error) {
	q := url.Values{}
	setNonEmpty(q, "replicaName", p.ReplicaName)
	if len(p.Layers) > 0 {
		q.Set("layers", joinInts(p.Layers))
	}
	if len(p.LayerQueries) > 0 {
		m := make(map[string]ReplicaLayerQuery, len(p.LayerQueries))
		for id, lq := range p.LayerQueries {
			lq.ID = nil
			m[strconv.Itoa(id)] = lq
		}
		if err := setJSON(q, "layerQueries", m); err != nil {
			return nil, err
		}
	}
	switch {
	case p.Geometry != nil:
		if err := setGeometry(q, p.Geometry, p.GeometryType); err != nil {
			return nil, err
		}
	case p.GeometryText != "":
		q.Set("geometry", p.GeometryText)
		gt := p.GeometryType
		if gt == "" {
			gt = GeometryEnvelope
		}
		q.Set("geometryType", gt)
	}
	if err := setSR(q, "inSR", p.InSR, p.InSRJSON); err != nil {
		return nil, err
	}
	if err := setSR(q, "replicaSR", p.ReplicaSR, p.ReplicaSRJSON); err != nil {
		return nil, err
	}
	if err := setJSON(q, "datumTransformation", p.DatumTransformation); err != nil {
		return nil, err
	}
	setNonEmpty(q, "transportType", p.TransportType)
	setBool(q, "returnAttachments", p.ReturnAttachments)
	setBool(q, "returnAttachmentsDataByUrl", p.ReturnAttachmentsDataByURL)
	q.Set("async", strconv.FormatBool(p.Async))
	setNonEmpty(q, "syncModel", p.SyncModel)
	setNonEmpty(q, "dataFormat", p.DataFormat)
	setNonEmpty(q, "targetType", p.TargetType)
	setNonEmpty(q, "syncDirection", p.SyncDirection)
	setNonEmpty(q, "attachmentsSyncDirection", p.AttachmentsSyncDirection)
	if len(p.ReplicaOptions) > 0 {
		if err := setJSON(q, "replicaOptions", p.ReplicaOptions); err != nil {
			return nil, err
		}
	}
	setIntPtr(q, "syncDataOptions", p.SyncDataOptions)
	setTrue(q, "timeReferenceUnknownClient", p.TimeReferenceUnknownClient)
	return withExtra(q, p.Extra), nil
}

func setSR(q url.Values, key string, wkid int, sr *SpatialReference) error {
	if sr != nil {
		return setJSON(q, key, sr)
	}
	if wkid != 0 {
		q.Set(key, strconv.Itoa(wkid))
	}
	return nil
}

// ReplicaResponse is the answer to createReplica: exactly one of StatusURL
// (async), Replica (embedded JSON data) or ResultURL (a file to download)
// is the payload.
type ReplicaResponse struct {
	StatusURL string
	ResultURL string
	Replica   *Replica
	// Raw is the response body.
	Raw json.RawMessage
}

// CreateReplica POSTs createReplica to svcURL (…/FeatureServer). It is not
// retried after the request may have reached the server (a retry could
// register a second replica); a 498/499 answer renews the token and
// repeats it once. An answer that is neither replica JSON, a result URL
// nor a statusUrl (e.g. the service JSON from a server without Sync) is an
// *UnexpectedResponseError.
func (c *Client) CreateReplica(ctx context.Context, svcURL string, p CreateReplicaParams) (*ReplicaResponse, error) {
	q, err := p.values()
	if err != nil {
		return nil, fmt.Errorf("create replica %s: %w", svcURL, err)
	}
	var body json.RawMessage
	if err := c.postJSON(ctx, "createReplica", joinURL(svcURL, "createReplica"), q, false, &body, nil); err != nil {
		return nil, fmt.Errorf("create replica %s: %w", svcURL, err)
	}
	out, err := parseReplicaResponse(body)
	if err != nil {
		return nil, fmt.Errorf("create replica %s: %w", svcURL, &UnexpectedResponseError{Op: "createReplica", URL: joinURL(svcURL, "createReplica"), Want: err.Error(), Body: snippet(body)})
	}
	return out, nil
}

// resultURLOf returns the result link of a replica or sync body, under any
// of its spellings.
func resultURLOf(m map[string]json.RawMessage) string {
	for _, k := range []string{"resultUrl", "responseUrl", "URL", "url"} {
		if s := jsonString(m[k]); s != "" && strings.Contains(s, "/") {
			return s
		}
	}
	return ""
}

func parseReplicaResponse(body []byte) (*ReplicaResponse, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("a JSON object")
	}
	out := &ReplicaResponse{Raw: body}
	if s := jsonString(m["statusUrl"]); s != "" {
		out.StatusURL = s
		return out, nil
	}
	_, hasID := m["replicaID"]
	_, hasLayers := m["layers"]
	if u := resultURLOf(m); u != "" {
		out.ResultURL = u
		if hasID {
			var r Replica
			if err := json.Unmarshal(body, &r); err == nil {
				out.Replica = &r
			}
		}
		return out, nil
	}
	if hasID && (hasLayers || jsonString(m["responseType"]) != "") {
		var r Replica
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("replica JSON (%v)", err)
		}
		out.Replica = &r
		return out, nil
	}
	return nil, fmt.Errorf("replica JSON with replicaID, a result URL or a statusUrl")
}

// Replica job statuses (the feature-service vocabulary, not esriJob*).
const (
	ReplicaStatusCompleted           = "Completed"
	ReplicaStatusCompletedWithErrors = "CompletedWithErrors"
	ReplicaStatusFailed              = "Failed"
)

// ReplicaJobStatus is the statusUrl resource of an async createReplica or
// synchronizeReplica.
type ReplicaJobStatus struct {
	Status           string          `json:"status"`
	TransportType    string          `json:"transportType,omitempty"`
	ResponseType     string          `json:"responseType,omitempty"`
	ReplicaName      string          `json:"replicaName,omitempty"`
	ReplicaID        string          `json:"replicaID,omitempty"`
	ReplicaServerGen int64           `json:"replicaServerGen,omitempty"`
	LayerServerGens  []ServerGen     `json:"layerServerGens,omitempty"`
	ResultURL        string          `json:"resultUrl,omitempty"`
	SubmissionTime   int64           `json:"submissionTime,omitempty"`
	LastUpdatedTime  int64           `json:"lastUpdatedTime,omitempty"`
	Messages         []JobMessage    `json:"messages,omitempty"`
	Error            json.RawMessage `json:"error,omitempty"`
}

// Done reports whether the status is terminal.
func (s *ReplicaJobStatus) Done() bool {
	for _, t := range []string{ReplicaStatusCompleted, ReplicaStatusCompletedWithErrors, ReplicaStatusFailed} {
		if strings.EqualFold(s.Status, t) {
			return true
		}
	}
	return false
}

// ReplicaJobError is a replica job that ended Failed or CompletedWithErrors.
type ReplicaJobError struct {
	StatusURL string
	Status    *ReplicaJobStatus
	// Cause is the job's error body, if it had one.
	Cause *Error
}

// Error names the status and the reason.
func (e *ReplicaJobError) Error() string {
	s := fmt.Sprintf("replica job %s ended %s", stripQuery(e.StatusURL), e.Status.Status)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	for _, m := range e.Status.Messages {
		if m.Type == JobMessageError {
			s += ": " + m.Description
		}
	}
	return s
}

// Unwrap returns the job's error body.
func (e *ReplicaJobError) Unwrap() error {
	if e.Cause == nil {
		return nil
	}
	return e.Cause
}

// ReplicaStatus polls a statusUrl once (idempotent, retried).
func (c *Client) ReplicaStatus(ctx context.Context, statusURL string) (*ReplicaJobStatus, error) {
	return getStatus[ReplicaJobStatus](ctx, c, "replica status", statusURL, "status")
}

// WaitReplicaJob polls statusURL every interval (0: the client's poll
// interval) until the job is Completed, or returns a *ReplicaJobError for
// Failed/CompletedWithErrors, or ctx's error when it ends. progress, if
// not nil, sees every status.
func (c *Client) WaitReplicaJob(ctx context.Context, statusURL string, interval time.Duration, progress func(*ReplicaJobStatus)) (*ReplicaJobStatus, error) {
	st, err := poll(ctx, c.pollEvery(interval), "wait for replica job "+stripQuery(statusURL), func(ctx context.Context) (*ReplicaJobStatus, error) {
		return c.ReplicaStatus(ctx, statusURL)
	}, progress)
	if err != nil || strings.EqualFold(st.Status, ReplicaStatusCompleted) {
		return st, err
	}
	je := &ReplicaJobError{StatusURL: statusURL, Status: st}
	if len(st.Error) > 0 {
		if e, ok := ParseError([]byte(`{"error":` + string(st.Error) + `}`)); ok {
			je.Cause = e
		}
	}
	return st, je
}

// Download streams a result file (resultUrl, responseUrl, outputUrl…),
// appending the token when the URL is on a secured server and not
// pre-signed. The request is idempotent and retried until the body starts;
// the caller closes the reader.
func (c *Client) Download(ctx context.Context, fileURL string) (io.ReadCloser, error) {
	rc, _, err := c.GetRaw(ctx, fileURL, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", stripQuery(fileURL), err)
	}
	return rc, nil
}

// ReadReplicaJSON downloads and decodes a JSON replica result file.
func (c *Client) ReadReplicaJSON(ctx context.Context, fileURL string) (*Replica, error) {
	rc, err := c.Download(ctx, fileURL)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var r Replica
	if err := json.NewDecoder(rc).Decode(&r); err != nil {
		return nil, fmt.Errorf("replica file %s: %w", stripQuery(fileURL), err)
	}
	if r.ReplicaID == "" && len(r.Layers) == 0 {
		return nil, &UnexpectedResponseError{Op: "replica file", URL: stripQuery(fileURL), Want: "replica JSON (replicaID, layers)"}
	}
	return &r, nil
}

// ReplicaRef is one entry of the replicas list.
type ReplicaRef struct {
	ReplicaName string `json:"replicaName"`
	ReplicaID   string `json:"replicaID"`
}

// Replicas lists the replicas of svcURL visible to the user.
func (c *Client) Replicas(ctx context.Context, svcURL string) ([]ReplicaRef, error) {
	var raw json.RawMessage
	if err := c.getJSON(ctx, "replicas", joinURL(svcURL, "replicas"), nil, &raw, nil); err != nil {
		return nil, fmt.Errorf("replicas of %s: %w", svcURL, err)
	}
	var out []ReplicaRef
	if err := json.Unmarshal(raw, &out); err != nil {
		var wrapped struct {
			Replicas *[]ReplicaRef `json:"replicas"`
		}
		if json.Unmarshal(raw, &wrapped) != nil || wrapped.Replicas == nil {
			return nil, &UnexpectedResponseError{Op: "replicas", URL: joinURL(svcURL, "replicas"), Want: "array of replicas", Body: snippet(raw)}
		}
		out = *wrapped.Replicas
	}
	return out, nil
}

// ReplicaInfo fetches the replica resource replicas/{id}.
func (c *Client) ReplicaInfo(ctx context.Context, svcURL, replicaID string) (*Replica, error) {
	var r Replica
	u := joinURL(svcURL, "replicas", url.PathEscape(replicaID))
	if err := c.getJSON(ctx, "replica info", u, nil, &r, requireKeys("replica info (replicaID)", "replicaID")); err != nil {
		return nil, fmt.Errorf("replica %s: %w", replicaID, err)
	}
	return &r, nil
}

// UnregisterReplica POSTs unRegisterReplica. Not retried except after a
// token renewal; unregistering twice is harmless but an error answer on
// the repeat would hide the first success.
func (c *Client) UnregisterReplica(ctx context.Context, svcURL, replicaID string) error {
	var out struct {
		Success *bool `json:"success"`
	}
	err := c.postJSON(ctx, "unRegisterReplica", joinURL(svcURL, "unRegisterReplica"), url.Values{"replicaID": {replicaID}}, false, &out, func([]byte) error {
		if out.Success == nil {
			return &UnexpectedResponseError{Want: `{"success":true}`}
		}
		if !*out.Success {
			return fmt.Errorf("server answered success=false")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unregister replica %s: %w", replicaID, err)
	}
	return nil
}

// LayerQueries decodes the replica resource's layers array (per-layer
// query settings).
func (r *Replica) LayerQueries() ([]ReplicaLayerQuery, error) {
	return decodeLayers[ReplicaLayerQuery](r.Layers)
}

// LayerData decodes a replica result file's layers array (per-layer
// features and attachments).
func (r *Replica) LayerData() ([]ReplicaLayerData, error) {
	return decodeLayers[ReplicaLayerData](r.Layers)
}

// decodeLayers decodes a replica's layers array as []T (nil when absent).
func decodeLayers[T any](raw json.RawMessage) ([]T, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var out []T
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("replica layers: %w", err)
	}
	return out, nil
}
