package portal

import (
	"bytes"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// itemJSON is an item as /content/items/{id} and search results carry it,
// with the keys of fixtures portal-item-webmap.arcrestgo.json and
// portal-search.*.json.
type itemJSON struct {
	ID                string         `json:"id"`
	Owner             string         `json:"owner"`
	OrgID             string         `json:"orgId"`
	Created           int64          `json:"created"`
	Modified          int64          `json:"modified"`
	GUID              *string        `json:"guid"`
	Name              *string        `json:"name"`
	Title             string         `json:"title"`
	Type              string         `json:"type"`
	TypeKeywords      []string       `json:"typeKeywords"`
	Description       string         `json:"description"`
	Tags              []string       `json:"tags"`
	Snippet           string         `json:"snippet"`
	Thumbnail         string         `json:"thumbnail"`
	Documentation     *string        `json:"documentation"`
	Extent            [][2]float64   `json:"extent"`
	Categories        []string       `json:"categories"`
	SpatialReference  *string        `json:"spatialReference"`
	AccessInformation *string        `json:"accessInformation"`
	LicenseInfo       *string        `json:"licenseInfo"`
	Culture           string         `json:"culture"`
	Properties        map[string]any `json:"properties"`
	URL               *string        `json:"url"`
	ProxyFilter       *string        `json:"proxyFilter"`
	Access            string         `json:"access"`
	Size              int            `json:"size"`
	AppCategories     []string       `json:"appCategories"`
	Industries        []string       `json:"industries"`
	Languages         []string       `json:"languages"`
	LargeThumbnail    *string        `json:"largeThumbnail"`
	Banner            *string        `json:"banner"`
	Screenshots       []string       `json:"screenshots"`
	Listed            bool           `json:"listed"`
	OwnerFolder       *string        `json:"ownerFolder"`
	Protected         bool           `json:"protected"`
	CommentsEnabled   bool           `json:"commentsEnabled"`
	NumComments       int            `json:"numComments"`
	NumRatings        int            `json:"numRatings"`
	AvgRating         float64        `json:"avgRating"`
	NumViews          int            `json:"numViews"`
	ItemControl       string         `json:"itemControl,omitempty"`
	IsOrgItem         bool           `json:"isOrgItem"`
}

// render turns a stored item into its wire form for user at base.
func (p *portalState) render(pi *portalItem, base, user string) itemJSON {
	it := pi.Item
	var url *string
	if it.URL != "" {
		u := it.URL
		if strings.HasPrefix(u, "/") {
			u = base + u
		}
		url = &u
	}
	size := -1
	if pi.data != nil {
		size = len(pi.data(base))
	}
	control := ""
	if user != "" && user == it.Owner {
		control = "admin"
	}
	kw, tags := it.TypeKeywords, it.Tags
	if kw == nil {
		kw = []string{}
	}
	if tags == nil {
		tags = []string{}
	}
	return itemJSON{
		ID: it.ID, Owner: it.Owner, OrgID: p.orgID,
		Created: it.Created.UnixMilli(), Modified: it.Modified.UnixMilli(),
		Title: it.Title, Type: it.Type, TypeKeywords: kw,
		Description: it.Description, Tags: tags, Snippet: it.Snippet, Thumbnail: it.Thumbnail,
		Extent:     [][2]float64{{it.Extent[0], it.Extent[1]}, {it.Extent[2], it.Extent[3]}},
		Categories: []string{}, Culture: "en-us", Properties: it.Properties, URL: url,
		Access: it.Access, Size: size, AppCategories: []string{}, Industries: []string{},
		Languages: []string{}, Screenshots: []string{}, NumViews: it.NumViews,
		ItemControl: control, IsOrgItem: true,
	}
}

// readableItem resolves {id} and checks access; when it returns ok=false it
// has written the error (498/499 token errors, 400 missing item, 403 no
// permission).
func (s *Portal) readableItem(w http.ResponseWriter, r *http.Request) (pi portalItem, user string, ok bool) {
	user, present, ok := s.authenticate(w, r)
	if !ok {
		return portalItem{}, "", false
	}
	pi, found := s.portal.item(mux.Vars(r)["id"])
	switch {
	case !found:
		rest.WriteJSON(w, http.StatusOK, map[string]any{"error": map[string]any{
			"code": 400, "messageCode": "CONT_0001", "message": "Item does not exist or is inaccessible.", "details": []string{},
		}})
		return portalItem{}, "", false
	case s.canRead(&pi.Item, user):
		return pi, user, true
	case !present && !s.opts.Anonymous:
		s.writeTokenError(w, codeTokenRequired)
	default:
		rest.WriteError(w, http.StatusOK, 403, msgNoPermission)
	}
	return portalItem{}, "", false
}

// handleItem serves GET /sharing/rest/content/items/{id}.
func (s *Portal) handleItem(w http.ResponseWriter, r *http.Request) {
	pi, user, ok := s.readableItem(w, r)
	if !ok {
		return
	}
	s.respond(w, r, s.portal.render(&pi, rest.BaseURL(r), user))
}

// handleItemData serves GET /sharing/rest/content/items/{id}/data: the web
// map JSON of web map items; an empty object for items without data.
func (s *Portal) handleItemData(w http.ResponseWriter, r *http.Request) {
	pi, _, ok := s.readableItem(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if pi.data == nil {
		_, _ = w.Write([]byte("{}"))
		return
	}
	_, _ = w.Write(pi.data(rest.BaseURL(r)))
}

// handleItemInfoFile serves the thumbnail named by the item's thumbnail
// property, /sharing/rest/content/items/{id}/info/thumbnail/{file}.
func (s *Portal) handleItemInfoFile(w http.ResponseWriter, r *http.Request) {
	pi, _, ok := s.readableItem(w, r)
	if !ok {
		return
	}
	v := mux.Vars(r)
	if v["dir"]+"/"+v["file"] != pi.Thumbnail {
		rest.WriteError(w, http.StatusNotFound, 404, "Resource not found.")
		return
	}
	p := s.portal
	p.mu.Lock()
	stored := p.items[pi.ID]
	if stored != nil && stored.thumb == nil {
		stored.thumb = thumbnailPNG(pi.ID)
	}
	var img []byte
	if stored != nil {
		img = stored.thumb
	}
	p.mu.Unlock()
	if img == nil {
		img = thumbnailPNG(pi.ID)
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(img)
}

// thumbnailPNG draws a deterministic 200x133 thumbnail (ArcGIS's size): a
// colour derived from the id with a lighter diagonal band.
func thumbnailPNG(id string) []byte {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	sum := h.Sum32()
	base := color.NRGBA{R: uint8(sum), G: uint8(sum >> 8), B: uint8(sum >> 16), A: 255}
	light := color.NRGBA{R: base.R/2 + 128, G: base.G/2 + 128, B: base.B/2 + 128, A: 255}
	const wd, ht = 200, 133
	img := image.NewNRGBA(image.Rect(0, 0, wd, ht))
	for y := range ht {
		for x := range wd {
			c := base
			if d := x - y*3/2; d > -20 && d < 20 {
				c = light
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img) // encoding to memory cannot fail
	return buf.Bytes()
}

// WebMapKeywords are the type keywords of a web map item.
func WebMapKeywords(offline bool) []string {
	kw := []string{"ArcGIS Online", "Data Editing", "Explorer Web Map", "Map", "Online Map", "Web Map"}
	if offline {
		kw = append(kw, "Collector", "Offline")
	}
	return kw
}
