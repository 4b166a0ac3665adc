package localapi

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Where clauses that reached SQLite's limits and id lists over its
// bound-variable limit answer 400 naming where, or work, never 500.
func TestHostileWhereAndIDLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	fs := "/arcgis/rest/services/demo/FeatureServer"
	deep := strings.Repeat("UPPER(", 831) + "Status" + strings.Repeat(")", 831) + " = 'OPEN'"
	chain := "Priority=1" + strings.Repeat(" OR Priority=1", 1100)
	for _, w := range []string{deep, chain} {
		e.wantError(e.do("POST", fs+"/0/query", strings.NewReader("f=json&where="+url.QueryEscape(w)), "Content-Type", "application/x-www-form-urlencoded"), 400, "where")
		e.wantError(e.do("GET", "/api/v1/maps/demo/layers/Field_Survey.0/features?where="+url.QueryEscape(w), nil), 400, "where")
	}
	all := e.jsonOf(e.do("GET", fs+"/0/query?f=json&where=1%3D1&returnCountOnly=true", nil), 200)["count"].(float64)
	ids := make([]string, 40000)
	for i := range ids {
		ids[i] = strconv.Itoa(i + 1)
	}
	got := e.jsonOf(e.do("POST", fs+"/0/query", strings.NewReader("f=json&returnCountOnly=true&objectIds="+strings.Join(ids, ",")),
		"Content-Type", "application/x-www-form-urlencoded"), 200)["count"].(float64)
	if got != all || got == 0 {
		t.Fatalf("40,000 objectIds: count %v, want %v", got, all)
	}
}
