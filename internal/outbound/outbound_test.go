package outbound

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		addr    string
		blocked bool
	}{
		{"169.254.169.254:80", true},
		{"169.254.1.1:443", true},
		{"[fe80::1]:80", true},
		{"[fe80::1%eth0]:80", true},
		{"100.100.100.200:80", true},
		{"[fd00:ec2::254]:80", true},
		{"[::ffff:169.254.169.254]:80", true},
		{"168.63.129.16:80", true},
		{"127.0.0.1:8080", false},
		{"[::1]:8080", false},
		{"10.0.0.5:443", false},
		{"100.100.100.201:80", false},
		{"203.0.113.9:443", false},
	} {
		err := Policy{}.Check(c.addr)
		var be *BlockedAddressError
		if got := errors.As(err, &be); got != c.blocked {
			t.Errorf("%s: blocked=%v (%v), want %v", c.addr, got, err, c.blocked)
		}
	}
	if err := (Policy{AllowLinkLocal: true}).Check("169.254.169.254:80"); err != nil {
		t.Errorf("AllowLinkLocal: %v", err)
	}
	if err := (Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.10.0/24")}}).Check("169.254.10.3:80"); err != nil {
		t.Errorf("Allow: %v", err)
	}
	if err := (Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.10.0/24")}}).Check("169.254.169.254:80"); err == nil {
		t.Error("Allow of another network let the metadata address through")
	}
}

// TestDialerRefusesAtDialTime: a client whose dialer carries the policy
// cannot reach the metadata address (nothing is sent, no connect attempt
// leaves), while a loopback server stays reachable.
func TestDialerRefusesAtDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	d := Policy{}.Dialer(&net.Dialer{Timeout: 2 * time.Second})
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil}}
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
	resp.Body.Close()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://169.254.169.254/latest/meta-data/", nil)
	_, err = hc.Do(req)
	var be *BlockedAddressError
	if !errors.As(err, &be) {
		t.Fatalf("metadata address: err = %v, want *BlockedAddressError", err)
	}
}

// TestProxyRefusesLiteralTarget: through a proxy the dialer only sees the
// proxy, so a metadata IP literal is refused before the proxy is asked.
func TestProxyRefusesLiteralTarget(t *testing.T) {
	asked := 0
	next := func(*http.Request) (*url.URL, error) { asked++; return url.Parse("http://127.0.0.1:3128") }
	f := Policy{}.Proxy(next)
	req, _ := http.NewRequest(http.MethodGet, "http://169.254.169.254/latest/meta-data/", nil)
	var be *BlockedAddressError
	if _, err := f(req); !errors.As(err, &be) || asked != 0 {
		t.Fatalf("err = %v, proxy asked %d times", err, asked)
	}
	req, _ = http.NewRequest(http.MethodGet, "https://www.arcgis.com/sharing/rest", nil)
	if u, err := f(req); err != nil || u == nil || asked != 1 {
		t.Fatalf("ordinary host: %v %v", u, err)
	}
}
