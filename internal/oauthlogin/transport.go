package oauthlogin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// maxTokenBody caps a token answer read into memory.
const maxTokenBody = 1 << 20

// arcgisErrors turns ArcGIS's token-endpoint refusals, sent as HTTP 200
// with {"error":{"code":400,"error":"invalid_request","error_description":…}},
// into the RFC 6749 §5.2 shape (HTTP 400, top-level error fields), so
// golang.org/x/oauth2 reports them as a RetrieveError with their code and
// description instead of "missing access_token".
type arcgisErrors struct{ next http.RoundTripper }

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

func (t arcgisErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e struct {
		Error *struct {
			Code        int      `json:"code"`
			Kind        string   `json:"error"`
			Description string   `json:"error_description"`
			Message     string   `json:"message"`
			Details     []string `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		return resp, nil
	}
	kind, desc := e.Error.Kind, e.Error.Description
	if kind == "" {
		kind = "arcgis_" + strconv.Itoa(e.Error.Code)
	}
	if desc == "" {
		desc = e.Error.Message
		for _, d := range e.Error.Details {
			desc += " " + d
		}
	}
	out, _ := json.Marshal(map[string]string{"error": kind, "error_description": desc})
	resp.StatusCode, resp.Status = http.StatusBadRequest, "400 Bad Request"
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Length")
	resp.ContentLength = int64(len(out))
	resp.Body = io.NopCloser(bytes.NewReader(out))
	return resp, nil
}
