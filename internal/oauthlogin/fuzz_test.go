package oauthlogin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

type fixedBody []byte

func (b fixedBody) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// FuzzArcGISErrors feeds token-endpoint answers through the error
// translation: it never fails on a body, keeps non-error bodies intact,
// and turns error objects into a 400 with a JSON body x/oauth2 can read.
func FuzzArcGISErrors(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","expires_in":1800,"refresh_token":"r"}`))
	f.Add([]byte(`{"error":{"code":400,"error":"invalid_request","error_description":"Invalid redirect_uri","message":"Invalid redirect_uri","details":[]}}`))
	f.Add([]byte(`{"error":{"code":498,"message":"Invalid token.","details":["x"]}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", "http://portal.invalid/sharing/rest/oauth2/token", nil)
		resp, err := arcgisErrors{next: fixedBody(body)}.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		switch resp.StatusCode {
		case 200:
			if !bytes.Equal(out, body) {
				t.Fatalf("a non-error body changed")
			}
		case 400:
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(out, &e) != nil || e.Error == "" {
				t.Fatalf("translated error %s is not an OAuth error body", out)
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}
