package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

// walkthroughDoc is the "first field app" walkthrough whose curl commands
// TestFirstFieldAppWalkthrough runs.
const walkthroughDoc = "../docs/first-field-app.md"

// curlCmd is one curl command of the walkthrough, parsed.
type curlCmd struct {
	line    string
	method  string
	url     string
	headers [][2]string
	body    []byte
	stream  bool // -N: an event stream
}

// walkthroughCommands returns the curl commands of the ```sh blocks of a
// markdown document, in order, with $VARs expanded from vars and @file
// bodies read from dir.
func walkthroughCommands(doc string, vars map[string]string, dir string) ([]curlCmd, error) {
	var out []curlCmd
	in := false
	var pending string
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			in = !in && strings.TrimPrefix(line, "```") == "sh"
			continue
		case !in:
			continue
		}
		line = pending + line
		if strings.HasSuffix(line, "\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		pending = ""
		if !strings.HasPrefix(strings.TrimSpace(line), "curl ") {
			continue
		}
		words, err := shellWords(line, vars)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		c, err := parseCurl(words, dir)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		c.line = strings.TrimSpace(line)
		out = append(out, c)
	}
	return out, nil
}

var shellVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// shellWords splits a command line as sh does for the forms the
// walkthrough uses: single quotes (literal), double quotes and bare words
// ($VAR expanded), blanks between words. Command substitution is refused.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	expand := func(t string) (string, error) {
		if strings.Contains(t, "$(") || strings.Contains(t, "`") {
			return "", fmt.Errorf("command substitution is not supported")
		}
		var err error
		r := shellVar.ReplaceAllStringFunc(t, func(m string) string {
			name := shellVar.FindStringSubmatch(m)[1]
			v, ok := vars[name]
			if !ok {
				err = fmt.Errorf("unknown variable $%s", name)
			}
			return v
		})
		return r, err
	}
	for i := 0; i < len(s); {
		ch := rune(s[i])
		switch {
		case unicode.IsSpace(ch):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			inWord, i = true, i+j+2
		case ch == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated \"")
			}
			t, err := expand(s[i+1 : i+1+j])
			if err != nil {
				return nil, err
			}
			cur.WriteString(t)
			inWord, i = true, i+j+2
		default:
			j := strings.IndexFunc(s[i:], func(r rune) bool { return unicode.IsSpace(r) || r == '\'' || r == '"' })
			if j < 0 {
				j = len(s) - i
			}
			t, err := expand(s[i : i+j])
			if err != nil {
				return nil, err
			}
			cur.WriteString(t)
			inWord, i = true, i+j
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseCurl reads the curl options the walkthrough uses: -s, -N, -X, -H,
// -d and --data-binary (@file from dir). Any other option is an error, so
// the document stays within what this test runs.
func parseCurl(w []string, dir string) (curlCmd, error) {
	c := curlCmd{method: "GET"}
	if len(w) == 0 || w[0] != "curl" {
		return c, fmt.Errorf("not a curl command")
	}
	methodSet := false
	for i := 1; i < len(w); i++ {
		arg := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("%s needs a value", w[i])
			}
			i++
			return w[i], nil
		}
		switch a := w[i]; {
		case a == "-s":
		case a == "-N":
			c.stream = true
		case a == "-X":
			m, err := arg()
			if err != nil {
				return c, err
			}
			c.method, methodSet = m, true
		case a == "-H":
			h, err := arg()
			if err != nil {
				return c, err
			}
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return c, fmt.Errorf("header %q", h)
			}
			c.headers = append(c.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		case a == "-d" || a == "--data-binary":
			d, err := arg()
			if err != nil {
				return c, err
			}
			if name, ok := strings.CutPrefix(d, "@"); ok {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					return c, err
				}
				c.body = b
			} else {
				c.body = []byte(d)
			}
			if !methodSet {
				c.method = "POST"
			}
		case strings.HasPrefix(a, "-"):
			return c, fmt.Errorf("curl option %s is not run by the walkthrough test", a)
		default:
			if c.url != "" {
				return c, fmt.Errorf("two URLs: %s and %s", c.url, a)
			}
			c.url = a
		}
	}
	if c.url == "" {
		return c, fmt.Errorf("no URL")
	}
	return c, nil
}

// TestFirstFieldAppWalkthrough runs the curl commands of
// docs/first-field-app.md in order against the daemon's API over the demo
// map taken offline from the emulator, with sync, and checks each answer
// says what the document says (issue 15 item 5). Every request goes through
// the OpenAPI contract checks too.
func TestFirstFieldAppWalkthrough(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(walkthroughDoc)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{withSyncer: true, fresh: true})
	dir := t.TempDir()
	photo := append([]byte("\xff\xd8\xff\xe0JFIF"), bytes.Repeat([]byte("photo"), 1000)...)
	writeFile(t, filepath.Join(dir, "photo.jpg"), string(photo))
	cmds, err := walkthroughCommands(string(doc), map[string]string{"OFFLINED": e.hs.URL, "TOKEN": testToken}, dir)
	if err != nil {
		t.Fatal(err)
	}
	obj := func(t *testing.T, resp *http.Response, status int) map[string]any {
		t.Helper()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if resp.StatusCode != status || json.Unmarshal(b, &m) != nil {
			t.Fatalf("status %d (want %d): %.400s", resp.StatusCode, status, b)
		}
		return m
	}
	// One check per curl command, in the document's order.
	checks := []func(t *testing.T, resp *http.Response){
		func(t *testing.T, resp *http.Response) { // 1. maps
			m := obj(t, resp, 200)
			maps := m["maps"].([]any)
			if len(maps) != 1 || maps[0].(map[string]any)["id"] != "demo" {
				t.Fatalf("maps %v", m)
			}
		},
		func(t *testing.T, resp *http.Response) { // 2. layers
			m := obj(t, resp, 200)
			l0 := m["layers"].([]any)[0].(map[string]any)
			if l0["id"] != "Field_Survey.0" || l0["name"] != "Inspections" {
				t.Fatalf("layers %v", m)
			}
		},
		func(t *testing.T, resp *http.Response) { // 3. features in view
			if ct := resp.Header.Get("Content-Type"); ct != "application/geo+json" {
				t.Errorf("Content-Type %q", ct)
			}
			m := obj(t, resp, 200)
			fs := m["features"].([]any)
			if m["type"] != "FeatureCollection" || len(fs) != 5 || m["next"] == nil {
				t.Fatalf("features: %d, %v", len(fs), m["next"])
			}
			f := fs[0].(map[string]any)
			if f["id"] != 1.0 || f["properties"].(map[string]any)["OBJECTID"] != 1.0 {
				t.Fatalf("first feature %v: the document edits feature 1", f)
			}
		},
		func(t *testing.T, resp *http.Response) { // 4. edit
			if m := obj(t, resp, 200); m["updated"] != true {
				t.Fatalf("edit %v", m)
			}
			f := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features/1", nil), 200)
			if f["properties"].(map[string]any)["Status"] != "closed" {
				t.Fatalf("feature after the edit %v", f)
			}
		},
		func(t *testing.T, resp *http.Response) { // 5. photo
			m := obj(t, resp, 201)
			if m["name"] != "photo.jpg" || m["contentType"] != "image/jpeg" || m["size"] != float64(len(photo)) {
				t.Fatalf("attachment %v", m)
			}
		},
		func(t *testing.T, resp *http.Response) { // 6. sync
			m := obj(t, resp, 200)
			sv := m["services"].([]any)[0].(map[string]any)
			rep, _ := sv["report"].(map[string]any)
			if sv["service"] != svcName || sv["error"] != nil || rep == nil || rep["uploaded"].(float64) < 1 || rep["attachmentsSent"] != 1.0 {
				t.Fatalf("sync %v", m)
			}
		},
		func(t *testing.T, resp *http.Response) { // 7. events
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			evs := readSSEUntil(t, resp.Body, "finished")
			last := evs[len(evs)-1]
			if len(evs) < 2 || evs[0].typ != "started" || last.typ != "finished" || last.data["service"] != svcName {
				t.Fatalf("events %+v", evs)
			}
		},
	}
	if len(cmds) != len(checks) {
		for _, c := range cmds {
			t.Log(c.line)
		}
		t.Fatalf("the document has %d curl commands, the test checks %d: keep them in step", len(cmds), len(checks))
	}
	for i, c := range cmds {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		req, err := http.NewRequestWithContext(ctx, c.method, c.url, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.body == nil {
			req.Body = http.NoBody
		}
		for _, h := range c.headers {
			req.Header.Set(h[0], h[1])
		}
		resp, err := contractClient(t).Do(req)
		if err != nil {
			t.Fatalf("step %d %s: %v", i+1, c.line, err)
		}
		t.Run(fmt.Sprintf("step%d", i+1), func(t *testing.T) { checks[i](t, resp) })
		resp.Body.Close()
		cancel()
		if t.Failed() {
			t.Fatalf("step %d failed: %s", i+1, c.line)
		}
	}
}

// The walkthrough's command parser refuses what it does not run, so the
// document cannot drift into commands the test skips.
func TestWalkthroughParserRefusesUnknown(t *testing.T) {
	vars := map[string]string{"OFFLINED": "http://x", "TOKEN": "t"}
	for _, doc := range []string{
		"```sh\ncurl -k \"$OFFLINED/api/v1/maps\"\n```",
		"```sh\ncurl -H \"Authorization: Bearer $NOPE\" \"$OFFLINED/api/v1/maps\"\n```",
		"```sh\ncurl -H \"Authorization: Bearer $(offlined token)\" \"$OFFLINED/api/v1/maps\"\n```",
		"```sh\ncurl -d '{\"a\":1}\n```",
	} {
		if _, err := walkthroughCommands(doc, vars, t.TempDir()); err == nil {
			t.Errorf("accepted %q", doc)
		}
	}
	cmds, err := walkthroughCommands("```sh\ncurl -s -X PATCH -H \"A: b $TOKEN\" \\\n  -d '{\"x\":\"$TOKEN\"}' \"$OFFLINED/p\"\n```\n```js\ncurl not sh\n```", vars, t.TempDir())
	if err != nil || len(cmds) != 1 {
		t.Fatalf("%v %v", cmds, err)
	}
	c := cmds[0]
	if c.method != "PATCH" || c.url != "http://x/p" || c.headers[0] != [2]string{"A", "b t"} || string(c.body) != `{"x":"$TOKEN"}` {
		t.Errorf("parsed %+v", c)
	}
}
