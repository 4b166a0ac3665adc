package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// QueryParams are the parameters of a layer query (…/FeatureServer/{id}/query).
// Zero values are left out so the server defaults apply (where 1=1,
// outFields *, returnGeometry true).
type QueryParams struct {
	Where     string
	ObjectIDs []int64
	// Geometry is the filter geometry (envelope, polygon, …); GeometryType
	// defaults to Geometry.Type().
	Geometry     *Geometry
	GeometryType string
	InSR         int
	SpatialRel   string // esriSpatialRelIntersects (server default), …
	OutFields    []string
	// ReturnGeometry nil means the server default (true).
	ReturnGeometry    *bool
	OutSR             int
	OrderByFields     string
	ResultOffset      int
	ResultRecordCount int
	ReturnZ           bool
	ReturnM           bool
	// ReturnIDsOnly and ReturnCountOnly change the answer's shape: use
	// QueryIDs and QueryCount, which set them (Query rejects them).
	ReturnIDsOnly   bool
	ReturnCountOnly bool
	// Extra holds any other parameter as sent on the wire.
	Extra url.Values
}

func (p QueryParams) values() (url.Values, error) {
	q := url.Values{}
	where := p.Where
	if where == "" {
		where = "1=1"
	}
	q.Set("where", where)
	if len(p.ObjectIDs) > 0 {
		q.Set("objectIds", joinInts(p.ObjectIDs))
	}
	if p.Geometry != nil {
		if err := setGeometry(q, p.Geometry, p.GeometryType); err != nil {
			return nil, err
		}
		if p.SpatialRel == "" {
			q.Set("spatialRel", "esriSpatialRelIntersects")
		}
	}
	if p.InSR != 0 {
		q.Set("inSR", strconv.Itoa(p.InSR))
	}
	setNonEmpty(q, "spatialRel", p.SpatialRel)
	if len(p.OutFields) > 0 {
		q.Set("outFields", strings.Join(p.OutFields, ","))
	} else {
		q.Set("outFields", "*")
	}
	setBool(q, "returnGeometry", p.ReturnGeometry)
	if p.OutSR != 0 {
		q.Set("outSR", strconv.Itoa(p.OutSR))
	}
	setNonEmpty(q, "orderByFields", p.OrderByFields)
	setPositive(q, "resultOffset", p.ResultOffset)
	setPositive(q, "resultRecordCount", p.ResultRecordCount)
	setTrue(q, "returnZ", p.ReturnZ)
	setTrue(q, "returnM", p.ReturnM)
	setTrue(q, "returnIdsOnly", p.ReturnIDsOnly)
	setTrue(q, "returnCountOnly", p.ReturnCountOnly)
	return withExtra(q, p.Extra), nil
}

// query runs a query request; it is idempotent (a long URL becomes a POST
// and is still retried).
func (c *Client) query(ctx context.Context, layerURL string, q url.Values, v any, check func([]byte) error) error {
	return c.doJSON(ctx, &request{op: "query", method: http.MethodGet, url: joinURL(layerURL, "query"), form: withF(q), idempotent: true}, v, check)
}

// Query runs one query and returns the feature set (one page: check
// ExceededTransferLimit, or use QueryAll).
func (c *Client) Query(ctx context.Context, layerURL string, p QueryParams) (*FeatureSet, error) {
	if p.ReturnIDsOnly || p.ReturnCountOnly {
		return nil, fmt.Errorf("query %s: use QueryIDs or QueryCount for returnIdsOnly/returnCountOnly", layerURL)
	}
	q, err := p.values()
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", layerURL, err)
	}
	var fs FeatureSet
	if err := c.query(ctx, layerURL, q, &fs, requireKeys("feature set (features)", "features")); err != nil {
		return nil, fmt.Errorf("query %s: %w", layerURL, err)
	}
	return &fs, nil
}

// QueryCount returns the number of features matching p (returnCountOnly).
func (c *Client) QueryCount(ctx context.Context, layerURL string, p QueryParams) (int, error) {
	p.ResultOffset, p.ResultRecordCount, p.OrderByFields = 0, 0, ""
	p.ReturnIDsOnly, p.ReturnCountOnly = false, true
	q, err := p.values()
	if err != nil {
		return 0, fmt.Errorf("query count %s: %w", layerURL, err)
	}
	q.Del("outFields")
	var out struct {
		Count *int `json:"count"`
	}
	if err := c.query(ctx, layerURL, q, &out, requireKeys("count", "count")); err != nil {
		return 0, fmt.Errorf("query count %s: %w", layerURL, err)
	}
	return *out.Count, nil
}

// IDsResult is a returnIdsOnly answer.
type IDsResult struct {
	ObjectIDFieldName string  `json:"objectIdFieldName"`
	ObjectIDs         []int64 `json:"objectIds"`
}

// QueryIDs returns the object ids matching p (returnIdsOnly; not capped by
// maxRecordCount), sorted ascending.
func (c *Client) QueryIDs(ctx context.Context, layerURL string, p QueryParams) (*IDsResult, error) {
	p.ResultOffset, p.ResultRecordCount, p.OrderByFields = 0, 0, ""
	p.ReturnIDsOnly, p.ReturnCountOnly = true, false
	q, err := p.values()
	if err != nil {
		return nil, fmt.Errorf("query ids %s: %w", layerURL, err)
	}
	q.Del("outFields")
	var out IDsResult
	if err := c.query(ctx, layerURL, q, &out, requireKeys("objectIds", "objectIds", "objectIdFieldName")); err != nil {
		return nil, fmt.Errorf("query ids %s: %w", layerURL, err)
	}
	slices.Sort(out.ObjectIDs)
	return &out, nil
}

// QueryAll streams every feature matching p to fn, one page at a time.
// layer may be nil (it is then fetched). With supportsPagination it pages
// by resultOffset/resultRecordCount ordered by the object id (page size
// p.ResultRecordCount, else the layer's maxRecordCount); otherwise it
// asks for the ids first (returnIdsOnly) and queries them in objectIds
// batches. p.ResultOffset is ignored.
func (c *Client) QueryAll(ctx context.Context, layerURL string, layer *Layer, p QueryParams, fn func(*FeatureSet) error) error {
	if layer == nil {
		l, err := c.Layer(ctx, layerURL)
		if err != nil {
			return err
		}
		layer = l
	}
	size := p.ResultRecordCount
	if size <= 0 {
		size = layer.MaxRecordCount
	}
	if size <= 0 {
		size = 1000
	}
	p.ReturnIDsOnly, p.ReturnCountOnly = false, false
	if layer.AdvancedQueryCapabilities != nil && layer.AdvancedQueryCapabilities.SupportsPagination {
		return c.queryAllByOffset(ctx, layerURL, layer, p, size, fn)
	}
	return c.queryAllByIDs(ctx, layerURL, p, size, fn)
}

func (c *Client) queryAllByOffset(ctx context.Context, layerURL string, layer *Layer, p QueryParams, size int, fn func(*FeatureSet) error) error {
	if p.OrderByFields == "" {
		oid := layer.ObjectIDField
		if oid == "" {
			oid = "OBJECTID"
		}
		p.OrderByFields = oid + " ASC"
	}
	p.ResultRecordCount = size
	offset := 0
	oidField := layer.ObjectIDField
	var prevFirst any
	for {
		p.ResultOffset = offset
		fs, err := c.Query(ctx, layerURL, p)
		if err != nil {
			return fmt.Errorf("page at offset %d: %w", offset, err)
		}
		if len(fs.Features) == 0 {
			return nil
		}
		if oidField == "" {
			oidField = fs.ObjectIDFieldName
		}
		first := fs.Features[0].Attributes[oidField]
		if offset > 0 && first != nil && first == prevFirst {
			return fmt.Errorf("query %s: server ignored resultOffset %d (page repeats object id %v)", layerURL, offset, first)
		}
		prevFirst = first
		if err := fn(fs); err != nil {
			return err
		}
		offset += len(fs.Features)
		if !fs.ExceededTransferLimit && len(fs.Features) < size {
			return nil
		}
	}
}

func (c *Client) queryAllByIDs(ctx context.Context, layerURL string, p QueryParams, size int, fn func(*FeatureSet) error) error {
	ids, err := c.QueryIDs(ctx, layerURL, p)
	if err != nil {
		return err
	}
	base := p
	base.Where, base.Geometry, base.GeometryType, base.SpatialRel, base.InSR = "", nil, "", "", 0
	base.ResultOffset, base.ResultRecordCount = 0, 0
	base.ReturnIDsOnly, base.ReturnCountOnly = false, false
	for start := 0; start < len(ids.ObjectIDs); start += size {
		end := min(start+size, len(ids.ObjectIDs))
		base.ObjectIDs = ids.ObjectIDs[start:end]
		fs, err := c.Query(ctx, layerURL, base)
		if err != nil {
			return fmt.Errorf("objectIds batch %d-%d: %w", start, end, err)
		}
		if err := fn(fs); err != nil {
			return err
		}
	}
	return nil
}

// RawQuery runs a query with wire parameters as given (f=json added) and
// returns the body, for formats this package does not model.
func (c *Client) RawQuery(ctx context.Context, layerURL string, q url.Values) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.query(ctx, layerURL, q, &raw, nil); err != nil {
		return nil, fmt.Errorf("query %s: %w", layerURL, err)
	}
	return raw, nil
}
