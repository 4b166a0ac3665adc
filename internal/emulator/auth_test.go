package emulator_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

func TestGenerateToken(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{
		Users:         map[string]string{emulator.DemoUser: emulator.DemoPassword, "alice": "s3cret"},
		TokenLifetime: 30 * time.Minute,
	})
	genErr := fixture(t, "errors-token.arcgis-rest-js.json")["GenerateTokenError"].(obj)
	tests := []struct {
		name, user, pass, expiration string
		ok                           bool
		lifetime                     time.Duration
	}{
		{"demo user", emulator.DemoUser, emulator.DemoPassword, "", true, 30 * time.Minute},
		{"second user, short expiration", "alice", "s3cret", "5", true, 5 * time.Minute},
		{"expiration capped by TokenLifetime", "alice", "s3cret", "20160", true, 30 * time.Minute},
		{"wrong password", "alice", "nope", "", false, 0},
		{"unknown user", "mallory", "s3cret", "", false, 0},
		{"user name is case-sensitive", "Alice", "s3cret", "", false, 0},
		{"empty", "", "", "", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"username": {tc.user}, "password": {tc.pass}, "client": {"referer"}, "referer": {em.URL}, "f": {"json"}}
			if tc.expiration != "" {
				form.Set("expiration", tc.expiration)
			}
			before := time.Now()
			o := post(t, em.PortalURL+"/generateToken", form)
			if !tc.ok {
				if !reflect.DeepEqual(o, genErr) {
					t.Fatalf("got %v, want the fixture's GenerateTokenError %v", o, genErr)
				}
				return
			}
			tok, _ := o["token"].(string)
			exp, _ := o["expires"].(float64)
			if tok == "" || o["ssl"] != false {
				t.Fatalf("got %v", o)
			}
			want := before.Add(tc.lifetime).UnixMilli()
			if d := int64(exp) - want; d < -1000 || d > 5000 {
				t.Errorf("expires = %d, want about %d (lifetime %s)", int64(exp), want, tc.lifetime)
			}
			me := get(t, em.PortalURL+"/community/self", withToken(tok))
			if me["username"] != tc.user {
				t.Errorf("community/self username = %v, want %s", me["username"], tc.user)
			}
		})
	}
}

func TestGenerateTokenServerExchange(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	o := post(t, em.PortalURL+"/generateToken", url.Values{"token": {tok}, "serverUrl": {em.URL + "/arcgis"}, "f": {"json"}})
	server, _ := o["token"].(string)
	if server == "" || server == tok {
		t.Fatalf("server token exchange: got %v", o)
	}
	if me := get(t, em.PortalURL+"/community/self", withToken(server)); me["username"] != emulator.DemoUser {
		t.Errorf("server token user = %v", me["username"])
	}
	if o := post(t, em.PortalURL+"/generateToken", url.Values{"token": {"bogus"}, "serverUrl": {em.URL}}); errorCode(o) != 498 {
		t.Errorf("exchange of an invalid token: got %v, want 498", o)
	}
}

func TestAuthorizeTokenSources(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	errs := fixture(t, "errors-token.arcgis-rest-js.json")
	self := em.PortalURL + "/community/self"
	tests := []struct {
		name string
		req  func() *http.Request
		want obj // nil: success
	}{
		{"query token", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, self+"?f=json&token="+tok, nil)
			return r
		}, nil},
		{"form token", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, self, strings.NewReader("f=json&token="+tok))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, nil},
		{"X-Esri-Authorization header", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, self+"?f=json", nil)
			r.Header.Set("X-Esri-Authorization", "Bearer "+tok)
			return r
		}, nil},
		{"same referer", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, self+"?f=json&token="+tok, nil)
			r.Header.Set("Referer", em.URL+"/app")
			return r
		}, nil},
		{"other referer", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, self+"?f=json&token="+tok, nil)
			r.Header.Set("Referer", "http://evil.example/")
			return r
		}, errs["ArcGISOnlineAuthError"].(obj)},
		{"missing token", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, self+"?f=json", nil)
			return r
		}, errs["ArcGISServerTokenRequired"].(obj)},
		{"invalid token", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, self+"?f=json&token=nope", nil)
			return r
		}, errs["ArcGISOnlineAuthError"].(obj)},
		{"malformed header", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, self+"?f=json", nil)
			r.Header.Set("X-Esri-Authorization", "Basic "+tok)
			return r
		}, errs["ArcGISServerTokenRequired"].(obj)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, o := fetch(t, tc.req())
			if resp.StatusCode != http.StatusOK {
				t.Errorf("HTTP status = %d, want 200", resp.StatusCode)
			}
			if tc.want == nil {
				if o["username"] != emulator.DemoUser {
					t.Errorf("got %v, want the demo user", o)
				}
				return
			}
			if !reflect.DeepEqual(o, tc.want) {
				t.Errorf("got %v, want %v", o, tc.want)
			}
		})
	}
}

func TestTokenErrorAsHTTP(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	em.SetFaults(emulator.Faults{TokenErrorAsHTTP: true})
	for _, tc := range []struct {
		token      string
		status     int
		arcgisCode int
	}{{"", http.StatusUnauthorized, 499}, {"bogus", http.StatusForbidden, 498}} {
		resp, o := getResp(t, em.PortalURL+"/community/self", withToken(tc.token))
		if resp.StatusCode != tc.status || errorCode(o) != tc.arcgisCode {
			t.Errorf("token %q: HTTP %d code %d, want HTTP %d code %d", tc.token, resp.StatusCode, errorCode(o), tc.status, tc.arcgisCode)
		}
	}
}

func TestAnonymousOption(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true})
	// org items are readable without a token, private ones are not, and an
	// invalid token is still rejected.
	if o := get(t, em.PortalURL+"/content/items/"+emulator.DemoWebMapFieldSurveyID, withToken("")); o["id"] != emulator.DemoWebMapFieldSurveyID {
		t.Errorf("anonymous org item: %v", o)
	}
	if o := get(t, em.PortalURL+"/content/items/"+emulator.DemoItemPrivateOtherID, withToken("")); errorCode(o) != 403 {
		t.Errorf("anonymous private item: %v, want 403", o)
	}
	if o := get(t, em.PortalURL+"/content/items/"+emulator.DemoWebMapFieldSurveyID, withToken("bogus")); errorCode(o) != 498 {
		t.Errorf("invalid token with Anonymous: %v, want 498", o)
	}
	self := get(t, em.PortalURL+"/portals/self", withToken(""))
	if _, ok := self["user"]; ok {
		t.Errorf("anonymous portals/self has a user: %v", self["user"])
	}
}

func TestTokenExpiry(t *testing.T) {
	clk := clock.NewFake(time.Now())
	em := emulatortest.Start(t, emulator.Options{TokenLifetime: time.Second, Now: clk.Now})
	tok := signIn(t, em)
	item := em.PortalURL + "/content/items/" + emulator.DemoWebMapFieldSurveyID
	if o := get(t, item, withToken(tok)); o["id"] != emulator.DemoWebMapFieldSurveyID {
		t.Fatalf("fresh token rejected: %v", o)
	}
	self := get(t, em.PortalURL+"/portals/self", withToken(tok))
	if self["maxTokenExpirationMinutes"] != float64(1) {
		t.Errorf("maxTokenExpirationMinutes = %v, want 1", self["maxTokenExpirationMinutes"])
	}
	clk.Advance(1100 * time.Millisecond)
	if o := get(t, item, withToken(tok)); errorCode(o) != 498 {
		t.Fatalf("expired token: got %v, want 498", o)
	}
	// A new sign-in works again: what a client's renewal does.
	if o := get(t, item, withToken(signIn(t, em))); o["id"] != emulator.DemoWebMapFieldSurveyID {
		t.Errorf("renewed token rejected: %v", o)
	}
}

func TestExpireTokensNow(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	old := signIn(t, em)
	em.AddAPIKey("AAPK-demo-key", emulator.DemoUser)
	rt := em.IssueRefreshToken(emulator.DemoUser)
	self := em.PortalURL + "/community/self"

	em.SetFaults(emulator.Faults{ExpireTokensNow: true})
	if o := get(t, self, withToken(old)); errorCode(o) != 498 {
		t.Errorf("token issued before ExpireTokensNow: %v, want 498", o)
	}
	if o := get(t, self, withToken("AAPK-demo-key")); o["username"] != emulator.DemoUser {
		t.Errorf("API key after ExpireTokensNow: %v", o)
	}
	o := post(t, em.PortalURL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {emulator.DemoClientID}, "refresh_token": {rt}, "f": {"json"}})
	renewed, _ := o["access_token"].(string)
	if renewed == "" {
		t.Fatalf("refresh after ExpireTokensNow: %v", o)
	}
	if o := get(t, self, withToken(renewed)); o["username"] != emulator.DemoUser {
		t.Errorf("renewed token: %v", o)
	}
	if o := get(t, self, withToken(signIn(t, em))); o["username"] != emulator.DemoUser {
		t.Errorf("token issued after ExpireTokensNow: %v", o)
	}
}

func TestOAuthToken(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{TokenLifetime: 20 * time.Minute})
	em.RegisterApp("field-app", "field-secret", "")
	refreshErr := fixture(t, "errors-token.arcgis-rest-js.json")["RefreshTokenError"].(obj)
	good := em.IssueRefreshToken(emulator.DemoUser)
	expired := em.IssueRefreshTokenFor(emulator.DemoUser, emulator.DemoClientID, -time.Second)
	code := em.IssueAuthorizationCode(emulator.DemoUser, "field-app")

	tests := []struct {
		name       string
		form       url.Values
		wantKeys   []string // keys of a successful answer
		wantUser   string
		wantExpIn  float64
		errCode    int
		errMessage string
	}{
		{name: "client_credentials", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"field-app"}, "client_secret": {"field-secret"}, "expiration": {"10"}},
			wantKeys: []string{"access_token", "expires_in"}, wantUser: emulator.DemoUser, wantExpIn: 600},
		{name: "client_credentials bad secret", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"field-app"}, "client_secret": {"x"}},
			errCode: 400, errMessage: "Invalid client_secret"},
		{name: "unknown client", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"nope"}, "client_secret": {"x"}},
			errCode: 400, errMessage: "Invalid client_id"},
		{name: "refresh_token", form: url.Values{"grant_type": {"refresh_token"}, "client_id": {emulator.DemoClientID}, "refresh_token": {good}},
			wantKeys: []string{"access_token", "expires_in", "username", "ssl"}, wantUser: emulator.DemoUser, wantExpIn: 1200},
		{name: "exchange_refresh_token", form: url.Values{"grant_type": {"exchange_refresh_token"}, "client_id": {emulator.DemoClientID}, "refresh_token": {good}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"}},
			wantKeys: []string{"access_token", "expires_in", "username", "ssl", "refresh_token", "refresh_token_expires_in"}, wantUser: emulator.DemoUser, wantExpIn: 1200},
		{name: "refresh token of another client", form: url.Values{"grant_type": {"refresh_token"}, "client_id": {"field-app"}, "refresh_token": {good}},
			errCode: 498, errMessage: "invalid refresh_token"},
		{name: "expired refresh token", form: url.Values{"grant_type": {"refresh_token"}, "client_id": {emulator.DemoClientID}, "refresh_token": {expired}},
			errCode: 498, errMessage: "refresh_token expired"},
		{name: "unknown refresh token", form: url.Values{"grant_type": {"refresh_token"}, "client_id": {emulator.DemoClientID}, "refresh_token": {"rt.nope"}},
			errCode: 498, errMessage: "invalid refresh_token"},
		{name: "authorization_code", form: url.Values{"grant_type": {"authorization_code"}, "client_id": {"field-app"}, "code": {code}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"}},
			wantKeys: []string{"access_token", "expires_in", "username", "ssl", "refresh_token", "refresh_token_expires_in"}, wantUser: emulator.DemoUser, wantExpIn: 1200},
		{name: "authorization_code reused", form: url.Values{"grant_type": {"authorization_code"}, "client_id": {"field-app"}, "code": {code}},
			errCode: 400, errMessage: "Invalid authorization code"},
		{name: "unsupported grant", form: url.Values{"grant_type": {"password"}, "client_id": {"field-app"}},
			errCode: 400, errMessage: "Unsupported grant_type: password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("f", "json")
			o := post(t, em.PortalURL+"/oauth2/token", tc.form)
			if tc.errCode != 0 {
				e, _ := o["error"].(obj)
				if e == nil || int(e["code"].(float64)) != tc.errCode || e["error_description"] != tc.errMessage || e["message"] != tc.errMessage {
					t.Fatalf("got %v, want error %d %q", o, tc.errCode, tc.errMessage)
				}
				if m := missingKeys(refreshErr["error"].(obj), e); len(m) > 0 {
					t.Errorf("error lacks keys of the fixture's RefreshTokenError: %v", m)
				}
				return
			}
			var keys []string
			for k := range o {
				keys = append(keys, k)
			}
			if m := missingKeys(toSet(tc.wantKeys), o); len(m) > 0 || len(keys) != len(tc.wantKeys) {
				t.Errorf("keys %v, want exactly %v", keys, tc.wantKeys)
			}
			if o["expires_in"] != tc.wantExpIn {
				t.Errorf("expires_in = %v, want %v", o["expires_in"], tc.wantExpIn)
			}
			if rtei, ok := o["refresh_token_expires_in"]; ok && rtei != float64(emulator.RefreshTokenLifetime/time.Second) {
				t.Errorf("refresh_token_expires_in = %v", rtei)
			}
			me := get(t, em.PortalURL+"/community/self", withToken(o["access_token"].(string)))
			if me["username"] != tc.wantUser {
				t.Errorf("access token acts as %v, want %s", me["username"], tc.wantUser)
			}
			if rt, ok := o["refresh_token"].(string); ok {
				o2 := post(t, em.PortalURL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {tc.form.Get("client_id")}, "refresh_token": {rt}})
				if _, ok := o2["access_token"]; !ok {
					t.Errorf("new refresh token does not work: %v", o2)
				}
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Users: map[string]string{"alice": "pw"}})
	em.AddAPIKey("AAPK-alice", "alice")
	req, _ := http.NewRequest(http.MethodGet, em.PortalURL+"/community/self?f=json", nil)
	req.Header.Set("X-Esri-Authorization", "Bearer AAPK-alice")
	if _, o := fetch(t, req); o["username"] != "alice" {
		t.Errorf("API key in header: %v", o)
	}
	if o := get(t, em.PortalURL+"/community/self", withToken("AAPK-alice")); o["username"] != "alice" {
		t.Errorf("API key as token: %v", o)
	}
	// Demo items belong to the first user when DemoUser is not configured.
	if o := get(t, em.PortalURL+"/content/items/"+emulator.DemoWebMapFieldSurveyID, withToken("AAPK-alice")); o["owner"] != "alice" || o["itemControl"] != "admin" {
		t.Errorf("demo item owner = %v, itemControl = %v; want alice/admin", o["owner"], o["itemControl"])
	}
}

func toSet(keys []string) obj {
	o := obj{}
	for _, k := range keys {
		o[k] = true
	}
	return o
}
