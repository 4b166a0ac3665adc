package emulator_test

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// searchIDs pages through a search to the end and returns the item ids.
func searchIDs(t *testing.T, em *emulatortest.Server, tok, q string, kv ...string) []string {
	t.Helper()
	var ids []string
	start := 1
	for page := 0; ; page++ {
		if page > 50 {
			t.Fatalf("search %q: more than 50 pages", q)
		}
		args := append([]string{"q", q, "start", strconv.Itoa(start)}, kv...)
		o := get(t, em.PortalURL+"/search", withToken(tok, args...))
		if errorCode(o) != 0 {
			t.Fatalf("search %q: %v", q, o)
		}
		for _, r := range o["results"].([]any) {
			ids = append(ids, r.(obj)["id"].(string))
		}
		next := int(o["nextStart"].(float64))
		if next == -1 {
			if total := int(o["total"].(float64)); total != len(ids) {
				t.Fatalf("search %q: total %d, paged %d items", q, total, len(ids))
			}
			return ids
		}
		if next <= start {
			t.Fatalf("search %q: nextStart %d after start %d", q, next, start)
		}
		start = next
	}
}

func TestSearchQueries(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	districts := func(even bool) []string {
		var out []string
		for n := 1; n <= emulator.DemoDistrictMaps; n++ {
			if !even || n%2 == 0 {
				out = append(out, emulator.DemoDistrictWebMapID(n))
			}
		}
		return out
	}
	webMaps := append([]string{emulator.DemoWebMapFieldSurveyID, emulator.DemoWebMapVectorBasemapID,
		emulator.DemoWebMapDuplicateLayersID, emulator.DemoWebMapNoOfflineID}, districts(false)...)
	offline := append([]string{emulator.DemoWebMapFieldSurveyID, emulator.DemoWebMapVectorBasemapID,
		emulator.DemoWebMapDuplicateLayersID}, districts(true)...)
	services := []string{emulator.DemoItemFieldSurveyID, emulator.DemoItemReferenceDataID, emulator.DemoItemBasemapID,
		emulator.DemoItemDynamicID, emulator.DemoItemVectorID}
	all := append(append(slices.Clone(webMaps[:4]), services...), districts(false)...)

	tests := []struct {
		q    string
		want []string
	}{
		{"", all},
		{"*", all},
		{`type:"Web Map"`, webMaps},
		{`type:"Web Map" AND typekeywords:"Offline"`, offline},
		{`type:"Web Map" typekeywords:Offline`, offline},
		{`+type:"Web Map" -type:"Web Mapping Application" AND group:8e6b96c556754c9e8307cc2768cadd9e AND (typekeywords:Collector)`, offline},
		{`type:"Web Map" NOT typekeywords:Offline`, append([]string{emulator.DemoWebMapNoOfflineID}, oddDistricts()...)},
		{`type:"Feature Service"`, services[:2]},
		{`type:"Feature Service" OR type:"Vector Tile Service"`, []string{services[0], services[1], services[4]}},
		{`owner:demo type:"Map Service"`, services[2:4]},
		{`owner:nobody`, nil},
		{`pipes`, []string{emulator.DemoWebMapFieldSurveyID}},
		{`Parcels OR zones`, []string{emulator.DemoWebMapFieldSurveyID, emulator.DemoWebMapVectorBasemapID}},
		{`tags:vector`, []string{emulator.DemoWebMapVectorBasemapID}},
		{`title:"District 07"`, []string{emulator.DemoDistrictWebMapID(7)}},
		{`District 07`, []string{emulator.DemoDistrictWebMapID(7)}},
		{`id:` + emulator.DemoItemVectorID, []string{emulator.DemoItemVectorID}},
		{`access:public`, []string{emulator.DemoItemBasemapID, emulator.DemoItemVectorID}},
		{`(tags:vector OR tags:district) AND NOT typekeywords:Offline`, oddDistricts()},
	}
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			got := searchIDs(t, em, tok, tc.q, "num", "7")
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %d items %v\nwant %d items %v", len(got), got, len(tc.want), tc.want)
			}
		})
	}
	if o := get(t, em.PortalURL+"/search", withToken(tok, "q", `title:"unterminated`)); errorCode(o) != 400 {
		t.Errorf("bad query: %v", o)
	}
}

func oddDistricts() []string {
	var out []string
	for n := 1; n <= emulator.DemoDistrictMaps; n += 2 {
		out = append(out, emulator.DemoDistrictWebMapID(n))
	}
	return out
}

func TestSearchPaging(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	const q = `type:"Web Map"`
	total := 4 + emulator.DemoDistrictMaps
	tests := []struct {
		start, num        string
		wantStart, wantN  int
		wantNum, wantNext int
	}{
		{"", "", 1, 10, 10, 11},
		{"1", "10", 1, 10, 10, 11},
		{"21", "10", 21, total - 20, 10, -1},
		{"11", "5", 11, 5, 5, 16},
		{"1", "1000", 1, total, 100, -1},
		{"0", "3", 1, 3, 3, 4},
		{"99", "10", 99, 0, 10, -1},
		{"1", "0", 1, 0, 0, -1},
		{"x", "y", 1, 10, 10, 11},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("start=%s,num=%s", tc.start, tc.num), func(t *testing.T) {
			args := []string{"q", q}
			if tc.start != "" {
				args = append(args, "start", tc.start)
			}
			if tc.num != "" {
				args = append(args, "num", tc.num)
			}
			o := get(t, em.PortalURL+"/search", withToken(tok, args...))
			res := o["results"].([]any)
			if int(o["total"].(float64)) != total || int(o["start"].(float64)) != tc.wantStart || len(res) != tc.wantN ||
				int(o["num"].(float64)) != tc.wantNum || int(o["nextStart"].(float64)) != tc.wantNext || o["query"] != q {
				t.Errorf("got total %v start %v num %v nextStart %v results %d query %v; want %d %d %d %d %d",
					o["total"], o["start"], o["num"], o["nextStart"], len(res), o["query"], total, tc.wantStart, tc.wantNum, tc.wantNext, tc.wantN)
			}
		})
	}
	// Paging with num=10 reaches every web map exactly once.
	ids := searchIDs(t, em, tok, q, "num", "10")
	if len(ids) != total || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != total {
		t.Errorf("paged %d ids (%d distinct), want %d", len(ids), len(slices.Compact(slices.Sorted(slices.Values(ids)))), total)
	}
}

func TestSearchSort(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	titles := func(field, order string) []string {
		o := get(t, em.PortalURL+"/search", withToken(tok, "q", "tags:district", "num", "100", "sortField", field, "sortOrder", order))
		var out []string
		for _, r := range o["results"].([]any) {
			out = append(out, r.(obj)["title"].(string))
		}
		return out
	}
	asc := titles("title", "asc")
	if len(asc) != emulator.DemoDistrictMaps || !slices.IsSorted(asc) {
		t.Errorf("title asc not sorted: %v", asc)
	}
	desc := titles("title", "desc")
	slices.Reverse(desc)
	if !slices.Equal(asc, desc) {
		t.Errorf("title desc is not the reverse of asc")
	}
	created := titles("created", "desc")
	if created[0] != fmt.Sprintf("Survey District %02d", emulator.DemoDistrictMaps) {
		t.Errorf("newest first: got %s", created[0])
	}
	views := titles("numViews,title", "DESC")
	if views[0] != created[0] {
		t.Errorf("numViews desc: got %s first", views[0])
	}
}

func TestSearchShape(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	o := get(t, em.PortalURL+"/search", withToken(signIn(t, em), "q", `typekeywords:Offline`, "num", "1"))
	for _, name := range []string{"portal-search.arcgis-rest-js.json", "portal-search.arcrestgo.json"} {
		f := fixture(t, name)
		assertHasKeys(t, name, f, o)
		assertHasKeys(t, name+" result", f["results"].([]any)[0].(obj), o["results"].([]any)[0].(obj))
	}
	// Anonymous search sees only public items.
	ids := searchIDs(t, em, "", "")
	if !slices.Equal(ids, []string{emulator.DemoItemBasemapID, emulator.DemoItemVectorID}) {
		t.Errorf("anonymous search = %v", ids)
	}
	if o := get(t, em.PortalURL+"/search", url.Values{"q": {""}, "token": {"bogus"}}); errorCode(o) != 498 {
		t.Errorf("search with invalid token: %v", o)
	}
}
