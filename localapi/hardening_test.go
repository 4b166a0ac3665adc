package localapi

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// endlessBody is a request body that never ends and counts what is read.
type endlessBody struct{ n atomic.Int64 }

func (b *endlessBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	b.n.Add(int64(len(p)))
	return len(p), nil
}

func (b *endlessBody) Close() error { return nil }

// serveDirect runs one request through the handler (no network) and
// returns the recorder.
func serveDirect(s *Server, method, target string, body io.ReadCloser, length int64, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Body, r.ContentLength, r.Host = body, length, "localhost"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// Issue 22 item 2: a request without a token costs no body reading (beyond
// one small ArcGIS form) and so no memory. Not parallel: it measures
// allocations.
func TestUnauthenticatedBodiesNotRead(t *testing.T) {
	e := newEnv(t, envOpts{maxAttach: 256 << 20})
	gid, oid := e.firstFeature()
	form := "application/x-www-form-urlencoded"
	fsAtt := fmt.Sprintf("/arcgis/rest/services/demo/FeatureServer/0/%d/attachments", oid)
	for _, c := range []struct {
		name, method, path, ct string
		length, maxRead        int64
	}{
		// The reproduction: a form POST to a path containing /attachments.
		{"arcgis form, unknown length", "POST", fsAtt, form, -1, preAuthFormBytes + 1},
		{"arcgis form, huge length", "POST", fsAtt, form, 250 << 20, 0},
		{"arcgis addAttachment", "POST", fmt.Sprintf("/arcgis/rest/services/demo/FeatureServer/0/%d/addAttachment", oid), "multipart/form-data; boundary=x", -1, 0},
		{"native upload", "POST", "/api/v1/maps/demo/layers/0/features/" + url.PathEscape(gid) + "/attachments?name=a.jpg", "image/jpeg", -1, 0},
		{"native form", "POST", "/api/v1/maps/demo/layers/0/features", form, -1, 0},
		{"events with a body", "DELETE", "/api/v1/maps/events?access_token=" + testToken, form, -1, 0},
	} {
		body := &endlessBody{}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w := serveDirect(e.srv, c.method, c.path, body, c.length, "Content-Type", c.ct)
		runtime.ReadMemStats(&after)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", c.name, w.Code, w.Body)
		}
		if n := body.n.Load(); n > c.maxRead {
			t.Errorf("%s: read %d body bytes before authentication, want <= %d", c.name, n, c.maxRead)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
			t.Errorf("%s: %d bytes allocated for an unauthenticated request", c.name, grew)
		}
		if w.Header().Get("Connection") != "close" {
			t.Errorf("%s: refused connection kept open", c.name)
		}
	}
	// The same form with the token in its body is accepted (ArcGIS clients).
	w := serveDirect(e.srv, "POST", fsAtt, io.NopCloser(strings.NewReader("f=json&token="+url.QueryEscape(testToken))), -1, "Content-Type", form)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "attachmentInfos") {
		t.Fatalf("form token: %d %s", w.Code, w.Body)
	}
}

// Issue 22 item 2: the attachment limit applies only on the upload routes,
// after authentication.
func TestAttachmentLimitOnlyOnUploadRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{maxBody: 1024, maxAttach: 1 << 20})
	_, oid := e.firstFeature()
	big := "f=json&x=" + strings.Repeat("a", 4000)
	// A form post to the attachments listing is an ordinary route: 1 KiB.
	e.wantError(e.do("POST", fmt.Sprintf("/arcgis/rest/services/demo/FeatureServer/0/%d/attachments", oid), strings.NewReader(big), "Content-Type", "application/x-www-form-urlencoded"), 413, "body")
	e.wantError(e.do("POST", "/api/v1/maps/demo/layers/0/features", strings.NewReader(big), "Content-Type", "application/json"), 413, "body")
}

// Issue 22 item 10: the query-token exception is GET on the event routes
// only, and the Bearer scheme is case-insensitive.
func TestQueryTokenOnlyForEventStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, c := range []struct {
		method, path string
	}{
		{"DELETE", "/api/v1/maps/events"},
		{"GET", "/api/v1/maps/events"},
		{"GET", "/api/v1/maps/demo/events"},
		{"POST", "/api/v1/maps/demo/sync/events"},
		{"DELETE", "/api/v1/maps/demo"},
		{"GET", "/api/v1/maps/demo/sync/events/x"},
		{"GET", "/api/v1/jobs/j/events/"},
		{"GET", "/api/v1/status/events"},
	} {
		for _, param := range []string{"access_token", "token"} {
			e.wantError(e.do(c.method, c.path+"?"+param+"="+testToken, nil, "Authorization", ""), 401, "Authorization")
		}
	}
	if !isEventRoute("/api/v1/jobs/j/events") || !isEventRoute("/api/v1/maps/demo/sync/events") || isEventRoute("/api/v1/jobs//events") {
		t.Fatal("isEventRoute")
	}
	// The map still exists (the DELETE above was refused).
	e.jsonOf(e.do("GET", "/api/v1/maps/demo", nil), 200)
	for _, scheme := range []string{"bearer", "BEARER", "Bearer", "bEaReR"} {
		e.jsonOf(e.do("GET", "/api/v1/status", nil, "Authorization", scheme+" "+testToken), 200)
	}
	e.wantError(e.do("GET", "/api/v1/status", nil, "Authorization", "Bearer"+testToken), 401, "Authorization")
	e.jsonOf(e.do("GET", "/arcgis/rest/services/demo/FeatureServer?f=json", nil, "Authorization", "", "X-Esri-Authorization", "bearer "+testToken), 200)
}

// Issue 22 item 3: stored attachments are never active content, on the
// native and the FeatureServer routes (token in the URL included).
func TestAttachmentsServedInert(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	native, fs := e.firstFeatureRoutes()
	base, fsBase := native+"/attachments", fs+"/attachments"
	for ct, disp := range map[string]string{
		"text/html": "attachment", "text/html; charset=utf-8": "attachment", "image/svg+xml": "attachment", "application/xml": "attachment",
		"text/xml": "attachment", "text/javascript": "attachment", "application/javascript": "attachment", "application/xhtml+xml": "attachment",
		"application/pdf": "attachment", "application/octet-stream": "attachment", "image/png": "inline", "image/jpeg": "inline", "text/plain": "inline",
	} {
		up := e.jsonOf(e.do("POST", base+"?name=x.bin", strings.NewReader("<script>alert(1)</script>"), "Content-Type", ct), 201)
		check := func(route string, r *http.Response) {
			t.Helper()
			io.Copy(io.Discard, r.Body)
			h := r.Header
			if r.StatusCode != 200 || h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
				!strings.HasPrefix(h.Get("Content-Disposition"), disp+";") {
				t.Errorf("%s %s: %d nosniff=%q csp=%q disposition=%q", route, ct, r.StatusCode, h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"), h.Get("Content-Disposition"))
			}
		}
		check("native", e.do("GET", base+"/"+url.PathEscape(up["globalId"].(string)), nil))
		check("featureserver", e.do("GET", fmt.Sprintf("%s/%d?token=%s", fsBase, int64(up["id"].(float64)), testToken), nil, "Authorization", ""))
	}
	if ct, d := attachmentType("not a type"); ct != "application/octet-stream" || d != "attachment" {
		t.Fatalf("unparsable stored type: %s %s", ct, d)
	}
}

// Issue 22 item 3: every route answers with nosniff and a sandboxing CSP.
func TestEveryResponseInert(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, r := range e.routeRequests() {
		if strings.HasSuffix(r.path, "/events") || r.method == "DELETE" {
			continue // streams do not end; deletes would remove the fixture
		}
		for _, auth := range []string{"", "Bearer " + testToken} {
			resp := e.do(r.method, r.path, nil, "Authorization", auth)
			io.Copy(io.Discard, resp.Body)
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("%s %s (%d): nosniff=%q csp=%q", r.method, r.path, resp.StatusCode, resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Content-Security-Policy"))
			}
		}
	}
}

// Issue 22 item 9: every upload route checks the attachment name, whatever
// the body's form.
func TestUploadNamesChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	feature, fs := e.firstFeatureRoutes()
	native, fsAdd := feature+"/attachments", fs+"/addAttachment"
	sum := e.storeChecksum()
	multi := func(field, filename string) (io.Reader, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename)}
		h["Content-Type"] = []string{"image/jpeg"}
		fw, _ := mw.CreatePart(h)
		fw.Write([]byte("jpeg"))
		mw.Close()
		return &b, mw.FormDataContentType()
	}
	for _, name := range []string{"../../etc/passwd", "a/b.jpg", `a\b.jpg`, "evil\x00.jpg", "..", ".", "a\nb.jpg", strings.Repeat("a", 256), "\xff\xfe.jpg"} {
		for _, field := range []string{"attachment", "file"} {
			body, ct := multi(field, name)
			e.wantError(e.do("POST", native, body, "Content-Type", ct), 400, "name")
			body, ct = multi(field, name)
			e.wantError(e.do("POST", fsAdd, body, "Content-Type", ct), 400, "name")
		}
		// The name parameter overrides the part's file name, and is checked too.
		body, ct := multi("attachment", "ok.jpg")
		e.wantError(e.do("POST", native+"?name="+url.QueryEscape(name), body, "Content-Type", ct), 400, "name")
		body, ct = multi("attachment", "ok.jpg")
		e.wantError(e.do("POST", fsAdd+"?name="+url.QueryEscape(name), body, "Content-Type", ct), 400, "name")
		e.wantError(e.do("POST", native+"?name="+url.QueryEscape(name), strings.NewReader("x"), "Content-Type", "image/jpeg"), 400, "name")
	}
	e.wantError(e.do("POST", native+"?name=a.jpg", strings.NewReader("x"), "Content-Type", "image/jpeg; ="), 400, "Content-Type")
	e.wantError(e.do("POST", native+"?name=a.jpg&keywords="+strings.Repeat("k", 1025), strings.NewReader("x"), "Content-Type", "image/jpeg"), 400, "keywords")
	if e.storeChecksum() != sum {
		t.Fatal("a refused upload changed the store")
	}
	body, ct := multi("attachment", "photo 1 (été).jpg")
	e.jsonOf(e.do("POST", fsAdd, body, "Content-Type", ct), 200)
}

func FuzzCheckAttachmentName(f *testing.F) {
	for _, s := range []string{"a.jpg", "../x", "a\x00b", "..", "é.png", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkAttachmentName(name) != nil {
			return
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || len(name) > 255 {
			t.Fatalf("accepted %q", name)
		}
	})
}

func FuzzAttachmentType(f *testing.F) {
	for _, s := range []string{"text/html", "image/png", "image/svg+xml; charset=x", "IMAGE/PNG", "", "a/b; c", "text/plain;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stored string) {
		ct, disp := attachmentType(stored)
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("served type %q (from %q) does not parse: %v", ct, stored, err)
		}
		if disp == "inline" && !(strings.HasPrefix(mt, "image/") && mt != "image/svg+xml" || strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/") || mt == "text/plain") {
			t.Fatalf("%q served inline as %q", stored, ct)
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic abc", "Bearerabc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok := bearerToken(h)
		if tok != "" && !strings.Contains(strings.ToLower(h), "bearer ") {
			t.Fatalf("token %q from %q", tok, h)
		}
	})
}

// firstFeatureRoutes returns the native and the FeatureServer path of the
// demo map's first feature of layer 0.
func (e *env) firstFeatureRoutes() (native, fs string) {
	e.t.Helper()
	gid, oid := e.firstFeature()
	return "/api/v1/maps/demo/layers/0/features/" + url.PathEscape(gid), fmt.Sprintf("/arcgis/rest/services/demo/FeatureServer/0/%d", oid)
}
