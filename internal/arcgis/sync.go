package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// Sync directions.
const (
	SyncBidirectional = "bidirectional"
	SyncDownload      = "download"
	SyncUpload        = "upload"
	SyncSnapshot      = "snapshot"
	SyncNone          = "none"
)

// SyncLayer is one syncLayers entry (perLayer replicas).
type SyncLayer struct {
	ID            int    `json:"id"`
	ServerGen     int64  `json:"serverGen,omitempty"`
	ServerSibGen  int64  `json:"serverSibGen,omitempty"`
	SyncDirection string `json:"syncDirection,omitempty"`
}

// Changes are adds, updates and deletes (deleteIds), the shape of
// synchronizeReplica's feature and attachment edits, uploaded and
// downloaded.
type Changes[T, ID any] struct {
	Adds      []T  `json:"adds,omitempty"`
	Updates   []T  `json:"updates,omitempty"`
	DeleteIDs []ID `json:"deleteIds,omitempty"`
}

// FeatureChanges are feature adds, updates and deletes by GlobalID.
type FeatureChanges = Changes[Feature, any]

// AttachmentEdit is an attachment add or update (applyEdits and
// synchronizeReplica): data is base64, or UploadID/URL names a
// pre-uploaded file.
type AttachmentEdit struct {
	GlobalID       string `json:"globalId"`
	ParentGlobalID string `json:"parentGlobalId,omitempty"`
	ContentType    string `json:"contentType,omitempty"`
	Name           string `json:"name,omitempty"`
	Keywords       string `json:"keywords,omitempty"`
	UploadID       string `json:"uploadId,omitempty"`
	Data           string `json:"data,omitempty"`
	URL            string `json:"url,omitempty"`
}

// SyncAttachmentChanges are attachment edits in synchronizeReplica edits
// (deletes by GlobalID).
type SyncAttachmentChanges = Changes[AttachmentEdit, string]

// SyncLayerEdits is one element of synchronizeReplica's edits.
type SyncLayerEdits struct {
	ID          int                    `json:"id"`
	Features    *FeatureChanges        `json:"features,omitempty"`
	Attachments *SyncAttachmentChanges `json:"attachments,omitempty"`
}

// SyncReplicaParams are the synchronizeReplica parameters of docs §3.6.
type SyncReplicaParams struct {
	ReplicaID           string
	ReplicaServerGen    *int64
	ReplicaServerSibGen *int64
	SyncLayers          []SyncLayer
	SyncDirection       string
	// Edits are uploaded inline; EditsRaw sends a prepared JSON array instead.
	Edits                      []SyncLayerEdits
	EditsRaw                   json.RawMessage
	EditsUploadID              string
	EditsUploadFormat          string // sqlite or json
	ReturnIDsForAdds           bool
	RollbackOnFailure          *bool
	CloseReplica               bool
	TransportType              string
	ReturnAttachmentsDataByURL *bool
	Async                      bool
	DataFormat                 string // json or sqlite
	ReconcileBranchVersion     *bool
	Extra                      url.Values
}

func (p *SyncReplicaParams) values() (url.Values, error) {
	if p.ReplicaID == "" {
		return nil, fmt.Errorf("replicaID is required")
	}
	q := url.Values{"replicaID": {p.ReplicaID}}
	setIntPtr(q, "replicaServerGen", p.ReplicaServerGen)
	setIntPtr(q, "replicaServerSibGen", p.ReplicaServerSibGen)
	if err := setList(q, "syncLayers", p.SyncLayers); err != nil {
		return nil, err
	}
	setNonEmpty(q, "syncDirection", p.SyncDirection)
	switch {
	case len(p.EditsRaw) > 0:
		q.Set("edits", string(p.EditsRaw))
	case p.Edits != nil:
		if err := setJSON(q, "edits", p.Edits); err != nil {
			return nil, err
		}
	}
	setNonEmpty(q, "editsUploadID", p.EditsUploadID)
	setNonEmpty(q, "editsUploadFormat", p.EditsUploadFormat)
	setTrue(q, "returnIdsForAdds", p.ReturnIDsForAdds)
	setBool(q, "rollbackOnFailure", p.RollbackOnFailure)
	setTrue(q, "closeReplica", p.CloseReplica)
	setNonEmpty(q, "transportType", p.TransportType)
	setBool(q, "returnAttachmentsDataByUrl", p.ReturnAttachmentsDataByURL)
	q.Set("async", strconv.FormatBool(p.Async))
	setNonEmpty(q, "dataFormat", p.DataFormat)
	setBool(q, "reconcileBranchVersion", p.ReconcileBranchVersion)
	return withExtra(q, p.Extra), nil
}

// EditError is the error of one failed edit.
type EditError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// EditResult is one per-edit result of applyEdits or synchronizeReplica.
type EditResult struct {
	ObjectID int64      `json:"objectId,omitempty"`
	GlobalID string     `json:"globalId,omitempty"`
	Success  bool       `json:"success"`
	Error    *EditError `json:"error,omitempty"`
}

// AttachmentEditResults are the attachment results of an edit call.
type AttachmentEditResults struct {
	AddResults    []EditResult `json:"addResults,omitempty"`
	UpdateResults []EditResult `json:"updateResults,omitempty"`
	DeleteResults []EditResult `json:"deleteResults,omitempty"`
}

// SyncLayerResult is one layer of a synchronizeReplica result: results of
// the uploaded edits and the server changes downloaded.
type SyncLayerResult struct {
	ID            int                    `json:"id"`
	AddResults    []EditResult           `json:"addResults,omitempty"`
	UpdateResults []EditResult           `json:"updateResults,omitempty"`
	DeleteResults []EditResult           `json:"deleteResults,omitempty"`
	Attachments   *AttachmentEditResults `json:"attachments,omitempty"`
	Features      *FeatureChanges        `json:"features,omitempty"`
	// AttachmentChanges are downloaded attachment changes, when the server
	// sends them as "attachments" with adds/updates/deleteIds.
	AttachmentChanges *SyncAttachmentChanges `json:"-"`
}

// UnmarshalJSON reads "attachments" as results or as changes (or both).
func (r *SyncLayerResult) UnmarshalJSON(b []byte) error {
	type plain SyncLayerResult
	var aux struct {
		plain
		Attachments json.RawMessage `json:"attachments"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = SyncLayerResult(aux.plain)
	if len(aux.Attachments) > 0 && string(aux.Attachments) != "null" {
		var res AttachmentEditResults
		if err := json.Unmarshal(aux.Attachments, &res); err != nil {
			return fmt.Errorf("attachments: %w", err)
		}
		if res.AddResults != nil || res.UpdateResults != nil || res.DeleteResults != nil {
			r.Attachments = &res
		}
		var ch SyncAttachmentChanges
		if json.Unmarshal(aux.Attachments, &ch) == nil && (ch.Adds != nil || ch.Updates != nil || ch.DeleteIDs != nil) {
			r.AttachmentChanges = &ch
		}
	}
	return nil
}

// SyncResult is a synchronizeReplica answer: embedded results, a result
// file URL, or (async) a statusUrl.
type SyncResult struct {
	ReplicaID        string            `json:"replicaID,omitempty"`
	ReplicaName      string            `json:"replicaName,omitempty"`
	ResponseType     string            `json:"responseType,omitempty"`
	TransportType    string            `json:"transportType,omitempty"`
	ReplicaServerGen int64             `json:"replicaServerGen,omitempty"`
	LayerServerGens  []ServerGen       `json:"layerServerGens,omitempty"`
	Edits            []SyncLayerResult `json:"edits,omitempty"`
	// StatusURL is set for async calls; ResultURL when the results are in a
	// file (responseUrl/resultUrl/URL).
	StatusURL string          `json:"statusUrl,omitempty"`
	ResultURL string          `json:"-"`
	Raw       json.RawMessage `json:"-"`
}

// Failed returns the per-edit results that did not succeed.
func (r *SyncResult) Failed() []EditResult {
	var out []EditResult
	for _, l := range r.Edits {
		for _, set := range [][]EditResult{l.AddResults, l.UpdateResults, l.DeleteResults} {
			for _, e := range set {
				if !e.Success {
					out = append(out, e)
				}
			}
		}
		if l.Attachments != nil {
			for _, set := range [][]EditResult{l.Attachments.AddResults, l.Attachments.UpdateResults, l.Attachments.DeleteResults} {
				for _, e := range set {
					if !e.Success {
						out = append(out, e)
					}
				}
			}
		}
	}
	return out
}

// SynchronizeReplica POSTs synchronizeReplica to svcURL. It is never
// retried after the request may have reached the server (edits could be
// applied twice); a 498/499 answer renews the token and repeats it once.
// An answer without replica/sync keys is an *UnexpectedResponseError.
func (c *Client) SynchronizeReplica(ctx context.Context, svcURL string, p SyncReplicaParams) (*SyncResult, error) {
	q, err := p.values()
	if err != nil {
		return nil, fmt.Errorf("synchronize replica %s: %w", svcURL, err)
	}
	var body json.RawMessage
	if err := c.postJSON(ctx, "synchronizeReplica", joinURL(svcURL, "synchronizeReplica"), q, false, &body, nil); err != nil {
		return nil, fmt.Errorf("synchronize replica %s: %w", p.ReplicaID, err)
	}
	res, err := ParseSyncResult(body)
	if err != nil {
		return nil, fmt.Errorf("synchronize replica %s: %w", p.ReplicaID, &UnexpectedResponseError{Op: "synchronizeReplica", URL: joinURL(svcURL, "synchronizeReplica"), Want: err.Error(), Body: snippet(body)})
	}
	return res, nil
}

// ParseSyncResult decodes a synchronizeReplica answer or result file.
func ParseSyncResult(body []byte) (*SyncResult, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("a JSON object")
	}
	var res SyncResult
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("sync result JSON (%v)", err)
	}
	res.Raw = body
	res.ResultURL = resultURLOf(m)
	_, hasEdits := m["edits"]
	if res.StatusURL == "" && res.ResultURL == "" && res.ReplicaID == "" && res.ResponseType == "" && !hasEdits {
		return nil, fmt.Errorf("sync result with replicaID, edits, a result URL or a statusUrl")
	}
	return &res, nil
}

// ReadSyncResult downloads and decodes a JSON sync result file.
func (c *Client) ReadSyncResult(ctx context.Context, fileURL string) (*SyncResult, error) {
	rc, err := c.Download(ctx, fileURL)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(rc).Decode(&raw); err != nil {
		return nil, fmt.Errorf("sync result file %s: %w", stripQuery(fileURL), err)
	}
	res, err := ParseSyncResult(raw)
	if err != nil {
		return nil, &UnexpectedResponseError{Op: "sync result file", URL: stripQuery(fileURL), Want: err.Error(), Body: snippet(raw)}
	}
	return res, nil
}
