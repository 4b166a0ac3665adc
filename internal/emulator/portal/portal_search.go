package portal

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// Search paging limits (ArcGIS Online: default 10, at most 100 per page).
const (
	searchDefaultNum = 10
	searchMaxNum     = 100
)

// searchResponse is the body of /sharing/rest/search (fixtures
// portal-search.*).
type searchResponse struct {
	Query     string     `json:"query"`
	Total     int        `json:"total"`
	Start     int        `json:"start"`
	Num       int        `json:"num"`
	NextStart int        `json:"nextStart"`
	Results   []itemJSON `json:"results"`
}

// handleSearch serves GET /sharing/rest/search: q (see parseSearchQuery),
// start (1-based), num (default 10, at most 100; 0 counts only),
// sortField (title, created, modified, type, owner, id, numviews; comma
// separated) and sortOrder (asc|desc). Without sortField items come in the
// order they were added. Results hold only items the caller may read.
func (s *Portal) handleSearch(w http.ResponseWriter, r *http.Request) {
	user, _, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	q := r.FormValue("q")
	expr, err := parseSearchQuery(q)
	if err != nil {
		rest.WriteError(w, http.StatusOK, 400, "Unable to perform search.", err.Error())
		return
	}
	start := rest.IntParam(r, "start", 1)
	if start < 1 {
		start = 1
	}
	num := rest.IntParam(r, "num", searchDefaultNum)
	if num < 0 {
		num = searchDefaultNum
	}
	num = min(num, searchMaxNum)

	p := s.portal
	p.mu.Lock()
	var hits []*portalItem
	for _, id := range p.order {
		pi := p.items[id]
		if s.canRead(&pi.Item, user) && expr.match(&pi.Item, p.orgID) {
			cp := *pi
			hits = append(hits, &cp)
		}
	}
	p.mu.Unlock()
	sortItems(hits, r.FormValue("sortField"), r.FormValue("sortOrder"))

	resp := searchResponse{Query: q, Total: len(hits), Start: start, Num: num, NextStart: -1, Results: []itemJSON{}}
	base := rest.BaseURL(r)
	if from := start - 1; from < len(hits) {
		to := min(from+num, len(hits))
		for _, pi := range hits[from:to] {
			resp.Results = append(resp.Results, p.render(pi, base, user))
		}
		if to < len(hits) && num > 0 {
			resp.NextStart = to + 1
		}
	}
	s.respond(w, r, resp)
}

// sortItems orders hits by the comma-separated sortField list (stable, ties
// keep insertion order).
func sortItems(hits []*portalItem, fields, order string) {
	if strings.TrimSpace(fields) == "" {
		return
	}
	desc := strings.EqualFold(strings.TrimSpace(order), "desc")
	keys := strings.Split(strings.ToLower(fields), ",")
	slices.SortStableFunc(hits, func(a, b *portalItem) int {
		for _, k := range keys {
			var c int
			switch strings.TrimSpace(k) {
			case "title":
				c = cmp.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title))
			case "created":
				c = a.Created.Compare(b.Created)
			case "modified":
				c = a.Modified.Compare(b.Modified)
			case "type":
				c = cmp.Compare(a.Type, b.Type)
			case "owner":
				c = cmp.Compare(a.Owner, b.Owner)
			case "id":
				c = cmp.Compare(a.ID, b.ID)
			case "numviews":
				c = cmp.Compare(a.NumViews, b.NumViews)
			}
			if c != 0 {
				if desc {
					return -c
				}
				return c
			}
		}
		return 0
	})
}
