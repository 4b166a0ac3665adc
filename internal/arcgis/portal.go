package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
)

// PortalInfo is GET /sharing/rest/info: where tokens come from.
type PortalInfo struct {
	OwningSystemURL string `json:"owningSystemUrl,omitempty"`
	AuthInfo        struct {
		TokenServicesURL     string `json:"tokenServicesUrl"`
		IsTokenBasedSecurity bool   `json:"isTokenBasedSecurity"`
	} `json:"authInfo"`
}

// PortalUser is the signed-in user in portals/self.
type PortalUser struct {
	Username   string   `json:"username"`
	FullName   string   `json:"fullName,omitempty"`
	Email      string   `json:"email,omitempty"`
	OrgID      string   `json:"orgId,omitempty"`
	Role       string   `json:"role,omitempty"`
	Privileges []string `json:"privileges,omitempty"`
	UserType   string   `json:"userType,omitempty"`
}

// HelperService is one helperServices entry with a URL.
type HelperService struct {
	URL string `json:"url"`
}

// ExportTilesMapping rewrites a tile service host to its export host
// (helperServices.packaging.exportTilesMap).
type ExportTilesMapping struct {
	Source string `json:"source"`
	Export string `json:"export"`
}

// HelperServices is the subset of portals/self helperServices offlined uses.
type HelperServices struct {
	Geometry  *HelperService  `json:"geometry,omitempty"`
	PrintTask *HelperService  `json:"printTask,omitempty"`
	Elevation *HelperService  `json:"elevation,omitempty"`
	Geocode   []HelperService `json:"geocode,omitempty"`
	Packaging *struct {
		URL            string               `json:"url,omitempty"`
		ExportTilesMap []ExportTilesMapping `json:"exportTilesMap,omitempty"`
	} `json:"packaging,omitempty"`
}

// PortalSelf is GET /sharing/rest/portals/self.
type PortalSelf struct {
	ID                        string          `json:"id"`
	Name                      string          `json:"name"`
	URLKey                    string          `json:"urlKey,omitempty"`
	CustomBaseURL             string          `json:"customBaseUrl,omitempty"`
	PortalHostname            string          `json:"portalHostname,omitempty"`
	PortalName                string          `json:"portalName,omitempty"`
	IsPortal                  bool            `json:"isPortal"`
	AllSSL                    bool            `json:"allSSL"`
	SupportsOAuth             bool            `json:"supportsOAuth,omitempty"`
	CanSignInArcGIS           *bool           `json:"canSignInArcGIS,omitempty"` // built-in accounts (generateToken)
	CanSignInIDP              bool            `json:"canSignInIDP,omitempty"`    // SAML enterprise logins
	CanSignInOIDC             bool            `json:"canSignInOIDC,omitempty"`   // OpenID Connect logins
	CanSignInSocial           bool            `json:"canSignInSocial,omitempty"` // social logins
	MaxTokenExpirationMinutes int             `json:"maxTokenExpirationMinutes,omitempty"`
	Units                     string          `json:"units,omitempty"`
	Culture                   string          `json:"culture,omitempty"`
	CurrentVersion            string          `json:"currentVersion,omitempty"`
	DefaultBasemap            json.RawMessage `json:"defaultBasemap,omitempty"`
	DefaultVectorBasemap      json.RawMessage `json:"defaultVectorBasemap,omitempty"`
	DefaultExtent             *Envelope       `json:"defaultExtent,omitempty"`
	HelperServices            HelperServices  `json:"helperServices"`
	User                      *PortalUser     `json:"user,omitempty"`
}

// Item is a portal item (content/items/{id}, search results).
type Item struct {
	ID                string          `json:"id"`
	Owner             string          `json:"owner"`
	OrgID             string          `json:"orgId,omitempty"`
	Created           int64           `json:"created"`
	Modified          int64           `json:"modified"`
	GUID              string          `json:"guid,omitempty"`
	Name              string          `json:"name,omitempty"`
	Title             string          `json:"title"`
	Type              string          `json:"type"`
	TypeKeywords      []string        `json:"typeKeywords,omitempty"`
	Description       string          `json:"description,omitempty"`
	Snippet           string          `json:"snippet,omitempty"`
	Tags              []string        `json:"tags,omitempty"`
	Thumbnail         string          `json:"thumbnail,omitempty"`
	Documentation     string          `json:"documentation,omitempty"`
	Extent            [][]float64     `json:"extent,omitempty"`
	SpatialReference  any             `json:"spatialReference,omitempty"`
	AccessInformation string          `json:"accessInformation,omitempty"`
	LicenseInfo       string          `json:"licenseInfo,omitempty"`
	Culture           string          `json:"culture,omitempty"`
	Properties        json.RawMessage `json:"properties,omitempty"`
	URL               string          `json:"url,omitempty"`
	Access            string          `json:"access,omitempty"`
	Size              int64           `json:"size,omitempty"`
	Protected         bool            `json:"protected,omitempty"`
	OwnerFolder       string          `json:"ownerFolder,omitempty"`
	NumViews          int64           `json:"numViews,omitempty"`
	ItemControl       string          `json:"itemControl,omitempty"`
}

// HasTypeKeyword reports whether the item carries keyword (case-insensitive).
func (it *Item) HasTypeKeyword(keyword string) bool {
	for _, k := range it.TypeKeywords {
		if strings.EqualFold(k, keyword) {
			return true
		}
	}
	return false
}

// SearchParams are the parameters of /sharing/rest/search.
type SearchParams struct {
	Q         string
	Num       int // page size (default 10, max 100)
	Start     int // 1-based first result (default 1)
	SortField string
	SortOrder string // asc or desc
	BBox      string
	Filter    string
}

// SearchResult is one page of /sharing/rest/search.
type SearchResult struct {
	Query     string `json:"query"`
	Total     int    `json:"total"`
	Start     int    `json:"start"`
	Num       int    `json:"num"`
	NextStart int    `json:"nextStart"`
	Results   []Item `json:"results"`
}

func (c *Client) portal(op string) (string, error) {
	if c.portalURL == "" {
		return "", fmt.Errorf("%s: client has no portal URL", op)
	}
	return c.portalURL, nil
}

// PortalInfo fetches /sharing/rest/info.
func (c *Client) PortalInfo(ctx context.Context) (*PortalInfo, error) {
	p, err := c.portal("portal info")
	if err != nil {
		return nil, err
	}
	var out PortalInfo
	if err := c.doJSON(ctx, &request{op: "portal info", method: http.MethodGet, url: p + "/info", form: withF(nil), idempotent: true, noAuth: true}, &out, requireKeys("authInfo", "authInfo", "owningSystemUrl")); err != nil {
		return nil, err
	}
	return &out, nil
}

// PortalSelf fetches /sharing/rest/portals/self.
func (c *Client) PortalSelf(ctx context.Context) (*PortalSelf, error) {
	p, err := c.portal("portals/self")
	if err != nil {
		return nil, err
	}
	var out PortalSelf
	if err := c.getJSON(ctx, "portals/self", p+"/portals/self", nil, &out, requireKeys("portal JSON", "id", "name", "isPortal", "helperServices")); err != nil {
		return nil, err
	}
	return &out, nil
}

// Item fetches content/items/{id}.
func (c *Client) Item(ctx context.Context, id string) (*Item, error) {
	p, err := c.portal("item")
	if err != nil {
		return nil, err
	}
	var out Item
	err = c.getJSON(ctx, "item", p+"/content/items/"+url.PathEscape(id), nil, &out, func(body []byte) error {
		if !hasKey(body, "id") || out.Type == "" {
			return &UnexpectedResponseError{Want: "item with id and type"}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	return &out, nil
}

// ItemData fetches content/items/{id}/data as raw JSON (a web map, for
// instance). Non-JSON payloads are an *UnexpectedResponseError; use
// ItemDataReader for files.
func (c *Client) ItemData(ctx context.Context, id string) (json.RawMessage, error) {
	p, err := c.portal("item data")
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, "item data", p+"/content/items/"+url.PathEscape(id)+"/data", nil, &raw, nil); err != nil {
		return nil, fmt.Errorf("item %s data: %w", id, err)
	}
	return raw, nil
}

// ItemDataInto decodes content/items/{id}/data into v.
func (c *Client) ItemDataInto(ctx context.Context, id string, v any) error {
	raw, err := c.ItemData(ctx, id)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("item %s data: decode: %w", id, err)
	}
	return nil
}

// ItemDataReader streams content/items/{id}/data (any payload).
func (c *Client) ItemDataReader(ctx context.Context, id string) (io.ReadCloser, string, error) {
	p, err := c.portal("item data")
	if err != nil {
		return nil, "", err
	}
	return c.GetRaw(ctx, p+"/content/items/"+url.PathEscape(id)+"/data", nil)
}

// Thumbnail streams an item's thumbnail, content/items/{id}/info/{thumbnail}
// where thumbnail is the item's relative "thumbnail" value.
func (c *Client) Thumbnail(ctx context.Context, id, thumbnail string) (io.ReadCloser, string, error) {
	p, err := c.portal("thumbnail")
	if err != nil {
		return nil, "", err
	}
	if thumbnail == "" {
		return nil, "", fmt.Errorf("thumbnail of item %s: item has no thumbnail", id)
	}
	return c.GetRaw(ctx, p+"/content/items/"+url.PathEscape(id)+"/info/"+strings.TrimLeft(thumbnail, "/"), nil)
}

// SearchPage fetches one page of /sharing/rest/search.
func (c *Client) SearchPage(ctx context.Context, sp SearchParams) (*SearchResult, error) {
	p, err := c.portal("search")
	if err != nil {
		return nil, err
	}
	q := url.Values{"q": {sp.Q}}
	setPositive(q, "num", sp.Num)
	setPositive(q, "start", sp.Start)
	setNonEmpty(q, "sortField", sp.SortField)
	setNonEmpty(q, "sortOrder", sp.SortOrder)
	setNonEmpty(q, "bbox", sp.BBox)
	setNonEmpty(q, "filter", sp.Filter)
	var out SearchResult
	if err := c.getJSON(ctx, "search", p+"/search", q, &out, requireKeys("search result", "results", "nextStart")); err != nil {
		return nil, fmt.Errorf("search %q: %w", sp.Q, err)
	}
	return &out, nil
}

// Search calls fn with every page of results, following nextStart until
// it is -1 (or 0), fn returns an error, or ctx ends.
func (c *Client) Search(ctx context.Context, sp SearchParams, fn func(*SearchResult) error) error {
	start := sp.Start
	if start <= 0 {
		start = 1
	}
	for {
		sp.Start = start
		page, err := c.SearchPage(ctx, sp)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		if page.NextStart <= 0 || len(page.Results) == 0 {
			return nil
		}
		if page.NextStart <= start {
			return fmt.Errorf("search %q: nextStart %d does not advance past %d", sp.Q, page.NextStart, start)
		}
		start = page.NextStart
	}
}

// SearchItems iterates over every item matching sp, page by page. A
// failure is yielded once as the error, then iteration stops.
func (c *Client) SearchItems(ctx context.Context, sp SearchParams) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		stop := fmt.Errorf("stop")
		err := c.Search(ctx, sp, func(page *SearchResult) error {
			for _, it := range page.Results {
				if !yield(it, nil) {
					return stop
				}
			}
			return nil
		})
		if err != nil && err != stop {
			yield(Item{}, err)
		}
	}
}

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}
