package sync

import (
	"context"
	"io"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// Client is the part of the ArcGIS REST client the engine uses;
// *arcgis.Client implements it.
type Client interface {
	SynchronizeReplica(ctx context.Context, svcURL string, p arcgis.SyncReplicaParams) (*arcgis.SyncResult, error)
	WaitReplicaJob(ctx context.Context, statusURL string, interval time.Duration, progress func(*arcgis.ReplicaJobStatus)) (*arcgis.ReplicaJobStatus, error)
	UnregisterReplica(ctx context.Context, svcURL, replicaID string) error
	Query(ctx context.Context, layerURL string, p arcgis.QueryParams) (*arcgis.FeatureSet, error)
	QueryAll(ctx context.Context, layerURL string, layer *arcgis.Layer, p arcgis.QueryParams, fn func(*arcgis.FeatureSet) error) error
	QueryAttachments(ctx context.Context, layerURL string, p arcgis.QueryAttachmentsParams) ([]arcgis.AttachmentGroup, error)
	AttachmentData(ctx context.Context, layerURL string, objectID, attachmentID int64) (io.ReadCloser, string, error)
	Upload(ctx context.Context, svcURL, fileName string, r io.Reader, description string) (*arcgis.UploadItem, error)
	RegisterUpload(ctx context.Context, svcURL, itemName, description string) (*arcgis.UploadItem, error)
	UploadPart(ctx context.Context, svcURL, itemID string, partID int, r io.Reader) error
	CommitUpload(ctx context.Context, svcURL, itemID string, parts []int) (*arcgis.UploadItem, error)
	Download(ctx context.Context, fileURL string) (io.ReadCloser, error)
	ApplyServiceEdits(ctx context.Context, svcURL string, edits []arcgis.LayerEdits, useGlobalIDs bool, rollbackOnFailure *bool) ([]arcgis.LayerEditResults, error)
	Layer(ctx context.Context, layerURL string) (*arcgis.Layer, error)
}

var _ Client = (*arcgis.Client)(nil)
