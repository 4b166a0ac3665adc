package arcgis

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// QueryAttachmentsParams are the parameters of a layer's queryAttachments.
type QueryAttachmentsParams struct {
	ObjectIDs            []int64
	GlobalIDs            []string
	DefinitionExpression string
	AttachmentTypes      []string
	Keywords             string
	ReturnMetadata       bool
	ReturnURL            bool
}

// AttachmentGroup is one feature's attachments in queryAttachments.
type AttachmentGroup struct {
	ParentObjectID  int64            `json:"parentObjectId"`
	ParentGlobalID  string           `json:"parentGlobalId,omitempty"`
	AttachmentInfos []AttachmentInfo `json:"attachmentInfos"`
}

// QueryAttachments runs layerURL/queryAttachments (idempotent).
func (c *Client) QueryAttachments(ctx context.Context, layerURL string, p QueryAttachmentsParams) ([]AttachmentGroup, error) {
	q := url.Values{}
	if len(p.ObjectIDs) > 0 {
		q.Set("objectIds", joinInts(p.ObjectIDs))
	}
	if len(p.GlobalIDs) > 0 {
		q.Set("globalIds", strings.Join(p.GlobalIDs, ","))
	}
	if p.DefinitionExpression != "" {
		q.Set("definitionExpression", p.DefinitionExpression)
	} else if len(p.ObjectIDs) == 0 && len(p.GlobalIDs) == 0 {
		q.Set("definitionExpression", "1=1")
	}
	if len(p.AttachmentTypes) > 0 {
		q.Set("attachmentTypes", strings.Join(p.AttachmentTypes, ","))
	}
	setNonEmpty(q, "keywords", p.Keywords)
	setTrue(q, "returnMetadata", p.ReturnMetadata)
	setTrue(q, "returnUrl", p.ReturnURL)
	var out struct {
		AttachmentGroups []AttachmentGroup `json:"attachmentGroups"`
	}
	req := &request{op: "queryAttachments", method: http.MethodGet, url: joinURL(layerURL, "queryAttachments"), form: withF(q), idempotent: true}
	if err := c.doJSON(ctx, req, &out, requireKeys("attachmentGroups", "attachmentGroups")); err != nil {
		return nil, fmt.Errorf("query attachments %s: %w", layerURL, err)
	}
	return out.AttachmentGroups, nil
}

// Attachments lists one feature's attachments ({layer}/{oid}/attachments).
func (c *Client) Attachments(ctx context.Context, layerURL string, objectID int64) ([]AttachmentInfo, error) {
	var out struct {
		AttachmentInfos []AttachmentInfo `json:"attachmentInfos"`
	}
	u := joinURL(layerURL, strconv.FormatInt(objectID, 10), "attachments")
	if err := c.getJSON(ctx, "attachments", u, nil, &out, requireKeys("attachmentInfos", "attachmentInfos")); err != nil {
		return nil, fmt.Errorf("attachments of %d: %w", objectID, err)
	}
	return out.AttachmentInfos, nil
}

// AttachmentData streams an attachment's bytes
// ({layer}/{oid}/attachments/{id}) and returns its content type. The
// caller closes the reader.
func (c *Client) AttachmentData(ctx context.Context, layerURL string, objectID, attachmentID int64) (io.ReadCloser, string, error) {
	u := joinURL(layerURL, strconv.FormatInt(objectID, 10), "attachments", strconv.FormatInt(attachmentID, 10))
	rc, ct, err := c.GetRaw(ctx, u, nil)
	if err != nil {
		return nil, "", fmt.Errorf("attachment %d of %d: %w", attachmentID, objectID, err)
	}
	return rc, ct, nil
}
