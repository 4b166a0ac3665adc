package emulator_test

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

func TestSharingInfo(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	o := get(t, em.PortalURL+"/info", url.Values{"f": {"json"}})
	want := fixture(t, "sharing-rest-info.arcgis-rest-js.json")
	assertHasKeys(t, "info", want, o)
	assertHasKeys(t, "info.authInfo", want["authInfo"].(obj), o["authInfo"].(obj))
	wantBody := obj{"owningSystemUrl": em.URL, "authInfo": obj{
		"tokenServicesUrl": em.PortalURL + "/generateToken", "isTokenBasedSecurity": true,
	}}
	if !reflect.DeepEqual(o, wantBody) {
		t.Errorf("got %v, want %v", o, wantBody)
	}
}

func TestServerInfo(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	o := get(t, em.URL+"/arcgis/rest/info", url.Values{"f": {"json"}})
	auth, _ := o["authInfo"].(obj)
	if o["owningSystemUrl"] != em.URL || auth["tokenServicesUrl"] != em.PortalURL+"/generateToken" ||
		auth["isTokenBasedSecurity"] != true || o["currentVersion"] == nil {
		t.Errorf("server info = %v", o)
	}
	// The advertised token service works.
	o = post(t, auth["tokenServicesUrl"].(string), url.Values{"username": {emulator.DemoUser}, "password": {emulator.DemoPassword}, "f": {"json"}})
	if o["token"] == nil {
		t.Errorf("token service from server info: %v", o)
	}
}

func TestPortalSelf(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	o := get(t, em.PortalURL+"/portals/self", withToken(tok))
	for _, name := range []string{"portals-self.arcrestgo.json", "portals-self.arcgis-rest-js.json"} {
		assertHasKeys(t, name, fixture(t, name), o)
	}
	real := fixture(t, "portals-self.arcrestgo.json")
	user, _ := o["user"].(obj)
	assertHasKeys(t, "user", real["user"].(obj), user)
	if user["username"] != emulator.DemoUser {
		t.Errorf("user.username = %v", user["username"])
	}
	assertHasKeys(t, "defaultExtent", real["defaultExtent"].(obj), o["defaultExtent"].(obj))
	bm := o["defaultBasemap"].(obj)["baseMapLayers"].([]any)[0].(obj)
	if bm["url"] != em.ServicesURL+"/Demo_Basemap/MapServer" {
		t.Errorf("defaultBasemap url = %v", bm["url"])
	}
	if o["maxTokenExpirationMinutes"] != float64(60) {
		t.Errorf("maxTokenExpirationMinutes = %v, want 60 (default lifetime)", o["maxTokenExpirationMinutes"])
	}
	hs := o["helperServices"].(obj)
	for _, k := range []string{"geometry", "printTask", "geocode", "packaging"} {
		if _, ok := hs[k]; !ok {
			t.Errorf("helperServices lacks %s", k)
		}
	}
	if _, ok := o["id"].(string); !ok {
		t.Errorf("id = %v", o["id"])
	}

	anon := get(t, em.PortalURL+"/portals/self", withToken(""))
	if _, ok := anon["user"]; ok || anon["id"] != o["id"] {
		t.Errorf("anonymous portals/self: user present or id differs: %v", anon["user"])
	}
	if got := get(t, em.PortalURL+"/portals/self", withToken("bogus")); errorCode(got) != 498 {
		t.Errorf("invalid token: %v", got)
	}
}

func TestCommunitySelf(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	o := get(t, em.PortalURL+"/community/self", withToken(signIn(t, em)))
	assertHasKeys(t, "community/self", fixture(t, "portals-self.arcrestgo.json")["user"].(obj), o)
	if errorCode(get(t, em.PortalURL+"/community/self", withToken(""))) != 499 {
		t.Error("community/self without token is not 499")
	}
}

func TestItem(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	itemFixture := fixture(t, "portal-item-webmap.arcrestgo.json")
	tests := []struct {
		id, typ, url string
		offline      bool
	}{
		{emulator.DemoWebMapFieldSurveyID, "Web Map", "", true},
		{emulator.DemoWebMapVectorBasemapID, "Web Map", "", true},
		{emulator.DemoWebMapDuplicateLayersID, "Web Map", "", true},
		{emulator.DemoWebMapNoOfflineID, "Web Map", "", false},
		{emulator.DemoDistrictWebMapID(2), "Web Map", "", true},
		{emulator.DemoDistrictWebMapID(3), "Web Map", "", false},
		{emulator.DemoItemFieldSurveyID, "Feature Service", "/Field_Survey/FeatureServer", false},
		{emulator.DemoItemReferenceDataID, "Feature Service", "/Reference_Data/FeatureServer", false},
		{emulator.DemoItemBasemapID, "Map Service", "/Demo_Basemap/MapServer", false},
		{emulator.DemoItemDynamicID, "Map Service", "/Dynamic_Layers/MapServer", false},
		{emulator.DemoItemVectorID, "Vector Tile Service", "/Demo_Vector/VectorTileServer", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if len(tc.id) != 32 || !isLowerHex(tc.id) {
				t.Errorf("id %q is not 32 lowercase hex digits", tc.id)
			}
			o := get(t, em.PortalURL+"/content/items/"+tc.id, withToken(tok))
			assertHasKeys(t, "item", itemFixture, o)
			if o["id"] != tc.id || o["type"] != tc.typ || o["owner"] != emulator.DemoUser {
				t.Errorf("id/type/owner = %v/%v/%v", o["id"], o["type"], o["owner"])
			}
			var kw []string
			for _, k := range o["typeKeywords"].([]any) {
				kw = append(kw, k.(string))
			}
			if slices.Contains(kw, "Offline") != tc.offline {
				t.Errorf("typeKeywords %v: Offline present = %v, want %v", kw, !tc.offline, tc.offline)
			}
			wantURL := any(nil)
			if tc.url != "" {
				wantURL = em.ServicesURL + tc.url
			}
			if o["url"] != wantURL {
				t.Errorf("url = %v, want %v", o["url"], wantURL)
			}
			ext := o["extent"].([]any)
			want := []any{[]any{-117.25, 33.98}, []any{-117.10, 34.10}}
			if !reflect.DeepEqual(ext, want) {
				t.Errorf("extent = %v, want %v", ext, want)
			}
			if o["thumbnail"] != "thumbnail/thumb.png" {
				t.Errorf("thumbnail = %v", o["thumbnail"])
			}
		})
	}
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func TestItemAccess(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Users: map[string]string{
		emulator.DemoUser: emulator.DemoPassword, emulator.DemoOtherUser: "other-pw",
	}})
	demoTok := signIn(t, em)
	otherTok := post(t, em.PortalURL+"/generateToken", url.Values{"username": {emulator.DemoOtherUser}, "password": {"other-pw"}})["token"].(string)
	noPerm := fixture(t, "errors-token.arcgis-rest-js.json")["ArcGISOnlineErrorNoMessageCode"].(obj)
	tests := []struct {
		name, id, token string
		want            int // 0: readable; else the ArcGIS error code
	}{
		{"owner reads private item", emulator.DemoItemPrivateOtherID, otherTok, 0},
		{"other user gets 403", emulator.DemoItemPrivateOtherID, demoTok, 403},
		{"anonymous private item needs a token", emulator.DemoItemPrivateOtherID, "", 499},
		{"org item with token", emulator.DemoWebMapFieldSurveyID, otherTok, 0},
		{"org item without token", emulator.DemoWebMapFieldSurveyID, "", 499},
		{"public item without token", emulator.DemoItemBasemapID, "", 0},
		{"missing item", "00000000000000000000000000000000", demoTok, 400},
		{"invalid token", emulator.DemoItemBasemapID, "bogus", 498},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, suffix := range []string{"", "/data", "/info/thumbnail/thumb.png"} {
				resp, err := http.Get(em.PortalURL + "/content/items/" + tc.id + suffix + "?" + withToken(tc.token).Encode())
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if tc.want == 0 {
					if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
						t.Errorf("%s: HTTP %d %.200s", suffix, resp.StatusCode, body)
					}
					continue
				}
				_, o := fetch(t, mustReq(t, em.PortalURL+"/content/items/"+tc.id+suffix+"?"+withToken(tc.token).Encode()))
				if errorCode(o) != tc.want {
					t.Errorf("%s: got %v, want code %d", suffix, o, tc.want)
				}
				if tc.want == 403 && !reflect.DeepEqual(o, noPerm) {
					t.Errorf("%s: got %v, want the fixture's %v", suffix, o, noPerm)
				}
			}
		})
	}
	// Search hides what the caller cannot read.
	ids := searchIDs(t, em, demoTok, `title:"Private field notes"`)
	if len(ids) != 0 {
		t.Errorf("search shows another user's private item to demo: %v", ids)
	}
	if ids := searchIDs(t, em, otherTok, `title:"Private field notes"`); !slices.Equal(ids, []string{emulator.DemoItemPrivateOtherID}) {
		t.Errorf("owner's search = %v", ids)
	}
}

func mustReq(t *testing.T, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestThumbnail(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	var first []byte
	for i, id := range []string{emulator.DemoWebMapFieldSurveyID, emulator.DemoWebMapFieldSurveyID, emulator.DemoItemFieldSurveyID} {
		resp, err := http.Get(em.PortalURL + "/content/items/" + id + "/info/thumbnail/thumb.png?token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
			t.Errorf("Content-Type = %q", ct)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("thumbnail is not a PNG: %v", err)
		}
		if sz := img.Bounds().Size(); sz.X != 200 || sz.Y != 133 {
			t.Errorf("thumbnail size %v, want 200x133", sz)
		}
		switch i {
		case 0:
			first = b
		case 1:
			if !bytes.Equal(b, first) {
				t.Error("thumbnail of the same item differs between requests")
			}
		case 2:
			if bytes.Equal(b, first) {
				t.Error("two items have the same thumbnail")
			}
		}
	}
	if o := get(t, em.PortalURL+"/content/items/"+emulator.DemoWebMapFieldSurveyID+"/info/thumbnail/other.png", withToken(tok)); errorCode(o) != 404 {
		t.Errorf("unknown thumbnail name: %v", o)
	}
}

func TestAddItemAndSetWebMap(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	if err := em.AddItem(emulator.Item{Title: "no id"}); err == nil {
		t.Error("AddItem without id: no error")
	}
	err := em.AddItem(emulator.Item{
		ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Title: "Custom Service", Type: "Feature Service",
		URL: "/arcgis/rest/services/Custom/FeatureServer", Tags: []string{"custom"}, Access: "public",
	})
	if err != nil {
		t.Fatal(err)
	}
	o := get(t, em.PortalURL+"/content/items/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", withToken(""))
	if o["title"] != "Custom Service" || o["url"] != em.ServicesURL+"/Custom/FeatureServer" || o["access"] != "public" {
		t.Errorf("added item = %v", o)
	}

	if err := em.SetWebMap("bbbb", []byte(`[1,2]`)); err == nil {
		t.Error("SetWebMap with a JSON array: no error")
	}
	wm := []byte(`{"operationalLayers":[{"id":"x","layerType":"ArcGISFeatureLayer","url":"` + em.ServicesURL + `/Field_Survey/FeatureServer/0"}],"baseMap":{"baseMapLayers":[],"title":"none"},"spatialReference":{"wkid":4326},"version":"2.28"}`)
	if err := em.SetWebMap("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", wm); err != nil {
		t.Fatal(err)
	}
	item := get(t, em.PortalURL+"/content/items/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", withToken(tok))
	if item["type"] != "Web Map" || item["size"] != float64(len(wm)) {
		t.Errorf("SetWebMap item: type %v size %v", item["type"], item["size"])
	}
	data := get(t, em.PortalURL+"/content/items/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/data", withToken(tok))
	if data["version"] != "2.28" || len(data["operationalLayers"].([]any)) != 1 {
		t.Errorf("data = %v", data)
	}
	// Replacing the item keeps its data; replacing the data keeps the item.
	if err := em.AddItem(emulator.Item{ID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Title: "Renamed", Type: "Web Map", TypeKeywords: []string{"Web Map", "Offline"}}); err != nil {
		t.Fatal(err)
	}
	if err := em.SetWebMap(emulator.DemoWebMapNoOfflineID, wm); err != nil {
		t.Fatal(err)
	}
	if it, _ := em.GetItem(emulator.DemoWebMapNoOfflineID); it.Title != "Field Survey (online only)" {
		t.Errorf("SetWebMap on a demo map changed its title to %q", it.Title)
	}
	if d := get(t, em.PortalURL+"/content/items/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/data", withToken(tok)); d["version"] != "2.28" {
		t.Errorf("data lost after AddItem: %v", d)
	}
	if ids := searchIDs(t, em, tok, `typekeywords:Offline title:Renamed`); !slices.Equal(ids, []string{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}) {
		t.Errorf("search for the replaced item = %v", ids)
	}
	if !em.RemoveItem("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb") || em.RemoveItem("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb") {
		t.Error("RemoveItem: wrong result")
	}
	if o := get(t, em.PortalURL+"/content/items/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", withToken(tok)); errorCode(o) != 400 {
		t.Errorf("removed item: %v", o)
	}
	// Items without data answer an empty object.
	if d := get(t, em.PortalURL+"/content/items/"+emulator.DemoItemFieldSurveyID+"/data", withToken(tok)); len(d) != 0 {
		t.Errorf("service item data = %v, want {}", d)
	}
}

func TestPrettyJSON(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	resp, err := http.Get(em.PortalURL + "/info?f=pjson")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte("\n  \"authInfo\"")) {
		t.Errorf("f=pjson is not indented: %s", b)
	}
}

// TestPortalConcurrentUse exercises items, search, tokens and the Go API
// from several goroutines at once (meaningful under -race).
func TestPortalConcurrentUse(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				id := fmt.Sprintf("c%031d", g*100+i)
				if err := em.SetWebMap(id, []byte(`{"operationalLayers":[],"baseMap":{"baseMapLayers":[],"title":"x"},"spatialReference":{"wkid":4326},"version":"2.28"}`)); err != nil {
					errs <- err.Error()
				}
				if i%3 == 0 {
					em.SetFaults(emulator.Faults{})
				}
				resp, err := http.Get(em.PortalURL + "/search?f=json&num=100&q=" + url.QueryEscape(`type:"Web Map"`) + "&token=" + tok)
				if err != nil {
					errs <- err.Error()
					continue
				}
				o, err := decodeBody(resp)
				if err != nil || errorCode(o) != 0 {
					errs <- fmt.Sprintf("search: %v %v", err, o)
				}
				if em.IssueToken(emulator.DemoUser) == "" {
					errs <- "empty token"
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	ids := searchIDs(t, em, tok, `type:"Web Map"`, "num", "100")
	if want := 4 + emulator.DemoDistrictMaps + 40; len(ids) != want {
		t.Errorf("web maps after concurrent adds: %d, want %d", len(ids), want)
	}
}

func decodeBody(resp *http.Response) (obj, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return decodeObj(b)
}
