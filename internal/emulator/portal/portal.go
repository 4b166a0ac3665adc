package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// portalState holds tokens, OAuth apps, API keys and portal items.
type portalState struct {
	mu           sync.Mutex
	now          func() time.Time
	orgID        string
	defaultOwner string // owner of demo items: DemoUser if configured, else the first user

	tokens  map[string]accessToken
	refresh map[string]refreshToken
	codes   map[string]refreshToken
	grants  map[string]codeGrant // oauth_authorize.go: PKCE challenge and redirect of authorize-page codes
	apps    map[string]oauthApp
	apiKeys map[string]string

	items map[string]*portalItem
	order []string // item ids in the order they were first added
}

// portalItem is a stored item with its payload.
type portalItem struct {
	Item
	seq   int                      // insertion order, the default search order
	data  func(base string) []byte // item /data; nil when the item has none
	thumb []byte                   // PNG, generated on first request
}

// Item is a portal item as AddItem takes it. Unset fields get defaults:
// Owner the demo owner, Access "org", Created/Modified a fixed demo time,
// Extent the demo area, Thumbnail "thumbnail/thumb.png".
type Item struct {
	ID           string
	Owner        string
	Title        string
	Type         string // "Web Map", "Feature Service", "Map Service", "Vector Tile Service", ...
	TypeKeywords []string
	Description  string
	Snippet      string
	Tags         []string
	// URL is the service URL of a service item. A URL starting with "/" is
	// made absolute with the request's host when served.
	URL string
	// Access is "private", "shared", "org" or "public".
	Access   string
	Created  time.Time
	Modified time.Time
	// Extent is xmin, ymin, xmax, ymax in WGS84.
	Extent    [4]float64
	Thumbnail string
	// Properties is the item's free-form properties object (may be nil).
	Properties map[string]any
	NumViews   int
}

// DemoTime is the created/modified time of items added without one.
var DemoTime = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

// DemoExtent is the demo area in WGS84, the extent of items added without one.
var DemoExtent = [4]float64{-117.25, 33.98, -117.10, 34.10}

func (s *Portal) initPortal() {
	owner := DemoUser
	if _, ok := s.opts.Users[DemoUser]; !ok {
		users := make([]string, 0, len(s.opts.Users))
		for u := range s.opts.Users {
			users = append(users, u)
		}
		sort.Strings(users)
		owner = users[0]
	}
	s.portal = &portalState{
		now:          time.Now,
		orgID:        "0fFl1n3dDem0Org",
		defaultOwner: owner,
		tokens:       map[string]accessToken{},
		refresh:      map[string]refreshToken{},
		codes:        map[string]refreshToken{},
		grants:       map[string]codeGrant{},
		apps:         map[string]oauthApp{},
		apiKeys:      map[string]string{},
		items:        map[string]*portalItem{},
	}
	if s.opts.Now != nil {
		s.portal.now = s.opts.Now
	}
	s.RegisterApp(DemoClientID, DemoClientSecret, owner)

	r := s.router
	r.HandleFunc("/sharing/rest/info", s.handleSharingInfo)
	r.HandleFunc("/sharing/rest/generateToken", s.handleGenerateToken)
	r.HandleFunc("/sharing/rest/oauth2/token", s.handleOAuthToken)
	r.HandleFunc("/sharing/rest/oauth2/authorize", s.handleOAuthAuthorize)
	r.HandleFunc("/sharing/rest/portals/self", s.handlePortalSelf)
	r.HandleFunc("/sharing/rest/community/self", s.handleCommunitySelf)
	r.HandleFunc("/sharing/rest/search", s.handleSearch)
	r.HandleFunc("/sharing/rest/content/items/{id}", s.handleItem)
	r.HandleFunc("/sharing/rest/content/items/{id}/data", s.handleItemData)
	r.HandleFunc("/sharing/rest/content/items/{id}/info/{dir}/{file}", s.handleItemInfoFile)
	r.HandleFunc("/arcgis/rest/info", s.handleServerInfo)
}

// AddItem adds an item, or replaces the item with the same id (keeping its
// data). It returns an error when the id is empty.
func (s *Portal) AddItem(it Item) error { return s.putItem("add", it, nil, false) }

// PutItem adds an item, or replaces the item with the same id, with data
// building its /data payload from the request's base URL (nil: none).
func (s *Portal) PutItem(it Item, data func(base string) []byte) error {
	return s.putItem("put", it, data, true)
}

// putItem stores it under the portal lock (see putItemLocked); op names
// the call in the error for an empty id.
func (s *Portal) putItem(op string, it Item, data func(base string) []byte, setData bool) error {
	if it.ID == "" {
		return fmt.Errorf("%s item %q: empty id", op, it.Title)
	}
	p := s.portal
	p.mu.Lock()
	defer p.mu.Unlock()
	p.putItemLocked(it, data, setData)
	return nil
}

// putItemLocked stores it with defaults filled in; data replaces the payload
// when setData is true. p.mu must be held.
func (p *portalState) putItemLocked(it Item, data func(string) []byte, setData bool) *portalItem {
	if it.Owner == "" {
		it.Owner = p.defaultOwner
	}
	if it.Access == "" {
		it.Access = "org"
	}
	if it.Created.IsZero() {
		it.Created = DemoTime
	}
	if it.Modified.IsZero() {
		it.Modified = it.Created
	}
	if it.Extent == ([4]float64{}) {
		it.Extent = DemoExtent
	}
	if it.Thumbnail == "" {
		it.Thumbnail = "thumbnail/thumb.png"
	}
	it.TypeKeywords = slices.Clone(it.TypeKeywords)
	it.Tags = slices.Clone(it.Tags)
	old, exists := p.items[it.ID]
	pi := &portalItem{Item: it}
	if exists {
		pi.seq, pi.data = old.seq, old.data
	} else {
		pi.seq = len(p.order)
		p.order = append(p.order, it.ID)
	}
	if setData {
		pi.data = data
	}
	p.items[it.ID] = pi
	return pi
}

// SetWebMap stores data (web map JSON) as the /data of item id. When no item
// has that id it creates a "Web Map" item titled id, owned by the demo owner
// with access "org". It returns an error when data is not a JSON object.
func (s *Portal) SetWebMap(id string, data []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("set web map %s: %w", id, err)
	}
	if id == "" {
		return fmt.Errorf("set web map: empty id")
	}
	buf := slices.Clone(data)
	s.setItemData(id, func(string) []byte { return buf })
	return nil
}

// setItemData sets the payload builder of id, creating a Web Map item when
// the id is new.
func (s *Portal) setItemData(id string, data func(base string) []byte) {
	p := s.portal
	p.mu.Lock()
	defer p.mu.Unlock()
	it := Item{ID: id, Title: id, Type: "Web Map", TypeKeywords: WebMapKeywords(false)}
	if old, ok := p.items[id]; ok {
		it = old.Item
	}
	p.putItemLocked(it, data, true)
}

// RemoveItem deletes an item; it reports whether it existed.
func (s *Portal) RemoveItem(id string) bool {
	p := s.portal
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.items[id]; !ok {
		return false
	}
	delete(p.items, id)
	p.order = slices.DeleteFunc(p.order, func(x string) bool { return x == id })
	return true
}

// GetItem returns the stored item with id.
func (s *Portal) GetItem(id string) (Item, bool) {
	p := s.portal
	p.mu.Lock()
	defer p.mu.Unlock()
	pi, ok := p.items[id]
	if !ok {
		return Item{}, false
	}
	return pi.Item, true
}

// item returns a snapshot of a stored item and its data builder.
func (p *portalState) item(id string) (portalItem, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pi, ok := p.items[id]
	if !ok {
		return portalItem{}, false
	}
	return *pi, true
}

// canRead reports whether user ("" = anonymous) may read it. Public items
// are readable by anyone; private items by their owner; org and shared
// items by signed-in users, and by anonymous users when Options.Anonymous
// is set (groups are not modelled).
func (s *Portal) canRead(it *Item, user string) bool {
	switch it.Access {
	case "public":
		return true
	case "private":
		return user != "" && user == it.Owner
	default:
		return user != "" || s.opts.Anonymous
	}
}

// respond writes v as JSON with HTTP 200; f=pjson indents it.
func (s *Portal) respond(w http.ResponseWriter, r *http.Request, v any) {
	if r.FormValue("f") != "pjson" {
		rest.WriteJSON(w, http.StatusOK, v)
		return
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		rest.WriteError(w, http.StatusOK, 500, "Unable to encode response.", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(b, '\n'))
}
