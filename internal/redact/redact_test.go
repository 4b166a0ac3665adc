package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestURLAndString(t *testing.T) {
	for in, want := range map[string]string{
		"https://h/x?f=json&token=abc.def":          "https://h/x?f=json&token=REDACTED",
		"https://h/x?f=json":                        "https://h/x?f=json",
		"https://h/x?Token=a&API_KEY=b&where=1%3D1": "https://h/x?API_KEY=REDACTED&Token=REDACTED&where=1%3D1",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`Get "https://h/x?f=json&token=abc.def": EOF`:   `Get "https://h/x?f=json&token=REDACTED": EOF`,
		"username=u&password=p%40ss&f=json":             "username=u&password=REDACTED&f=json",
		"Authorization: Bearer eyJhbGci.x.y":            "Authorization: Bearer REDACTED",
		"refresh_token=r1 client_secret=s2 x=1":         "refresh_token=REDACTED client_secret=REDACTED x=1",
		"no secrets here: a=b":                          "no secrets here: a=b",
		"mytoken=keep (not a token parameter) ?token=x": "mytoken=keep (not a token parameter) ?token=REDACTED",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorMasksURLError(t *testing.T) {
	err := Error(&url.Error{Op: "Get", URL: "https://h/x?token=sekret", Err: errors.New("EOF")})
	if strings.Contains(err.Error(), "sekret") {
		t.Fatal(err)
	}
}

func TestHandlerGroupsAndWith(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	lg.With("token", "t1").WithGroup("g").Debug("m", slog.Group("req", "url", "https://h/?token=t2", "authorization", "Basic t3"), "b", []byte("password=t4"))
	for _, s := range []string{"t1", "t2", "t3", "t4"} {
		if strings.Contains(buf.String(), "="+s) || strings.Contains(buf.String(), " "+s) {
			t.Errorf("%s leaked: %s", s, buf.String())
		}
	}
}

// FuzzString: String never lets the value of a token parameter through
// and never panics.
func FuzzString(f *testing.F) {
	f.Add("prefix", "abc.def")
	f.Add(`Get "https://h/x?f=json&`, "t0k")
	f.Fuzz(func(t *testing.T, prefix, secret string) {
		if len(secret) < 4 || strings.ContainsAny(secret, "&\"'),; \t\r\n\v\f") {
			return
		}
		s := String(prefix + "?token=" + secret)
		if strings.HasSuffix(s, "token="+secret) {
			t.Fatalf("String(%q) = %q", prefix+"?token="+secret, s)
		}
		_ = URL(prefix + secret)
	})
}
