package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// ApplyAttachmentEdits is applyEdits' attachments parameter (needs
// useGlobalIds).
type ApplyAttachmentEdits struct {
	Adds    []AttachmentEdit `json:"adds,omitempty"`
	Updates []AttachmentEdit `json:"updates,omitempty"`
	Deletes []string         `json:"deletes,omitempty"`
}

// ApplyEditsParams are a layer's applyEdits parameters.
type ApplyEditsParams struct {
	Adds    []Feature
	Updates []Feature
	// DeleteIDs are object ids; DeleteGlobalIDs are used with UseGlobalIDs.
	DeleteIDs         []int64
	DeleteGlobalIDs   []string
	Attachments       *ApplyAttachmentEdits
	UseGlobalIDs      bool
	RollbackOnFailure *bool
	GDBVersion        string
	ReturnEditMoment  bool
	Extra             url.Values
}

// ApplyEditsResult is a layer's applyEdits answer.
type ApplyEditsResult struct {
	AddResults    []EditResult           `json:"addResults"`
	UpdateResults []EditResult           `json:"updateResults"`
	DeleteResults []EditResult           `json:"deleteResults"`
	Attachments   *AttachmentEditResults `json:"attachments,omitempty"`
	EditMoment    int64                  `json:"editMoment,omitempty"`
}

// Failed returns the results that did not succeed.
func (r *ApplyEditsResult) Failed() []EditResult {
	var out []EditResult
	sets := [][]EditResult{r.AddResults, r.UpdateResults, r.DeleteResults}
	if r.Attachments != nil {
		sets = append(sets, r.Attachments.AddResults, r.Attachments.UpdateResults, r.Attachments.DeleteResults)
	}
	for _, set := range sets {
		for _, e := range set {
			if !e.Success {
				out = append(out, e)
			}
		}
	}
	return out
}

func checkEditsShape(body []byte) error {
	if !hasKey(body, "addResults", "updateResults", "deleteResults") {
		return &UnexpectedResponseError{Want: "applyEdits results (addResults, updateResults, deleteResults)"}
	}
	return nil
}

// ApplyEdits POSTs layerURL/applyEdits. It is never retried after the
// request may have reached the server (adds would be duplicated); a
// 498/499 answer renews the token and repeats it once.
func (c *Client) ApplyEdits(ctx context.Context, layerURL string, p ApplyEditsParams) (*ApplyEditsResult, error) {
	q := url.Values{}
	if err := setList(q, "adds", p.Adds); err != nil {
		return nil, err
	}
	if err := setList(q, "updates", p.Updates); err != nil {
		return nil, err
	}
	switch {
	case len(p.DeleteGlobalIDs) > 0:
		if err := setJSON(q, "deletes", p.DeleteGlobalIDs); err != nil {
			return nil, err
		}
	case len(p.DeleteIDs) > 0:
		q.Set("deletes", joinInts(p.DeleteIDs))
	}
	if p.Attachments != nil {
		if err := setJSON(q, "attachments", p.Attachments); err != nil {
			return nil, err
		}
	}
	setTrue(q, "useGlobalIds", p.UseGlobalIDs)
	setBool(q, "rollbackOnFailure", p.RollbackOnFailure)
	setNonEmpty(q, "gdbVersion", p.GDBVersion)
	setTrue(q, "returnEditMoment", p.ReturnEditMoment)
	withExtra(q, p.Extra)
	var out ApplyEditsResult
	if err := c.postJSON(ctx, "applyEdits", joinURL(layerURL, "applyEdits"), q, false, &out, checkEditsShape); err != nil {
		return nil, fmt.Errorf("apply edits %s: %w", layerURL, err)
	}
	return &out, nil
}

// LayerEdits is one element of the service-level applyEdits edits array.
type LayerEdits struct {
	ID          int                   `json:"id"`
	Adds        []Feature             `json:"adds,omitempty"`
	Updates     []Feature             `json:"updates,omitempty"`
	Deletes     []any                 `json:"deletes,omitempty"`
	Attachments *ApplyAttachmentEdits `json:"attachments,omitempty"`
}

// LayerEditResults is one layer of the service-level applyEdits answer.
type LayerEditResults struct {
	ID int `json:"id"`
	ApplyEditsResult
}

// ApplyServiceEdits POSTs svcURL/applyEdits with edits for several layers.
// Same retry rule as ApplyEdits.
func (c *Client) ApplyServiceEdits(ctx context.Context, svcURL string, edits []LayerEdits, useGlobalIDs bool, rollbackOnFailure *bool) ([]LayerEditResults, error) {
	q := url.Values{}
	if err := setJSON(q, "edits", edits); err != nil {
		return nil, err
	}
	setTrue(q, "useGlobalIds", useGlobalIDs)
	setBool(q, "rollbackOnFailure", rollbackOnFailure)
	var raw json.RawMessage
	if err := c.postJSON(ctx, "applyEdits", joinURL(svcURL, "applyEdits"), q, false, &raw, nil); err != nil {
		return nil, fmt.Errorf("apply edits %s: %w", svcURL, err)
	}
	var out []LayerEditResults
	if !strings.HasPrefix(strings.TrimSpace(string(raw)), "[") || json.Unmarshal(raw, &out) != nil {
		return nil, fmt.Errorf("apply edits %s: %w", svcURL, &UnexpectedResponseError{Op: "applyEdits", URL: joinURL(svcURL, "applyEdits"), Want: "array of per-layer results", Body: snippet(raw)})
	}
	return out, nil
}
