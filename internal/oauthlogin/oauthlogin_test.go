package oauthlogin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/oauthlogin"
)

// signIn plays the user at the authorize page: it posts the sign-in form
// for authURL and returns the answer without following its redirect.
func signIn(t *testing.T, authURL, user, password string) *http.Response {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(b), `id="signin"`) {
		t.Fatalf("authorize page: %s %s", page.Status, b)
	}
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("username", user)
	form.Set("password", password)
	u.RawQuery = ""
	resp, err := noFollow.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// follow requests a redirect's Location (the loopback listener).
func follow(t *testing.T, resp *http.Response) *http.Response {
	t.Helper()
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in answered %s, want a redirect", resp.Status)
	}
	r, err := http.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r
}

func config(em *emulatortest.Server) oauthlogin.Config {
	return oauthlogin.Config{Portal: em.PortalURL, ClientID: emulator.DemoClientID, Timeout: 30 * time.Second}
}

// renews proves a refresh token is accepted by getting an access token.
func renews(t *testing.T, em *emulatortest.Server, rt string) {
	t.Helper()
	cred := &arcgis.OAuthRefreshCredential{ClientID: emulator.DemoClientID, RefreshToken: rt}
	c, err := arcgis.New(arcgis.WithPortal(em.PortalURL), arcgis.WithCredential(cred))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.Token(context.Background(), c); err != nil {
		t.Fatalf("refresh token from the sign-in does not renew: %v", err)
	}
}

func TestLoopbackSignIn(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{EnterpriseLogins: true})
	var sawURL string
	res, err := oauthlogin.Loopback(context.Background(), config(em), func(authURL string) error {
		sawURL = authURL
		go func() {
			r := follow(t, signIn(t, authURL, emulator.DemoUser, emulator.DemoPassword))
			if r.StatusCode != 200 {
				t.Errorf("loopback callback answered %s", r.Status)
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(sawURL)
	if q.Query().Get("code_challenge_method") != "S256" || len(q.Query().Get("code_challenge")) != 43 || q.Query().Get("state") == "" {
		t.Errorf("authorize URL lacks PKCE S256 or state: %s", sawURL)
	}
	if !strings.HasPrefix(q.Query().Get("redirect_uri"), "http://127.0.0.1:") {
		t.Errorf("redirect_uri %q is not a loopback address", q.Query().Get("redirect_uri"))
	}
	if res.Username != emulator.DemoUser || res.RefreshToken == "" || res.AccessToken == "" {
		t.Fatalf("result = %+v", res)
	}
	if d := time.Until(res.RefreshExpires); d < 13*24*time.Hour || d > 15*24*time.Hour {
		t.Errorf("refresh token expires in %v, want the portal's two weeks", d)
	}
	renews(t, em, res.RefreshToken)
}

func TestLoopbackRefusesMismatchedState(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	res, err := oauthlogin.Loopback(context.Background(), config(em), func(authURL string) error {
		go func() {
			resp := signIn(t, authURL, emulator.DemoUser, emulator.DemoPassword)
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			// A forged redirect: a code the attacker holds, another state.
			forged := *loc
			q := forged.Query()
			q.Set("state", "forged")
			q.Set("code", "code.attacker")
			forged.RawQuery = q.Encode()
			r, err := http.Get(forged.String())
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			if r.StatusCode != http.StatusBadRequest {
				t.Errorf("forged redirect answered %s, want 400", r.Status)
			}
			r, err = http.Get(loc.String())
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
		}()
		return nil
	})
	if err != nil {
		t.Fatalf("the genuine redirect after a forged one: %v", err)
	}
	if res.Username != emulator.DemoUser {
		t.Fatalf("signed in as %q", res.Username)
	}
}

func TestOutOfBandSignIn(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	res, err := oauthlogin.OutOfBand(context.Background(), config(em), func(authURL string) (string, error) {
		if !strings.Contains(authURL, "redirect_uri="+url.QueryEscape(oauthlogin.OOBRedirectURI)) {
			t.Errorf("authorize URL %s does not use the out-of-band redirect", authURL)
		}
		code := emulatortest.OOBCode(t, signIn(t, authURL, emulator.DemoUser, emulator.DemoPassword))
		return " " + code + "\n", nil // pasted with blanks
	})
	if err != nil {
		t.Fatal(err)
	}
	renews(t, em, res.RefreshToken)
}

// oobCode signs in for flow and returns the code the portal shows.
func oobCode(t *testing.T, flow *oauthlogin.Flow) string {
	t.Helper()
	return emulatortest.OOBCode(t, signIn(t, flow.AuthURL(), emulator.DemoUser, emulator.DemoPassword))
}

func TestCodeExchangeRefusals(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	ctx := context.Background()
	newFlow := func() *oauthlogin.Flow {
		f, err := oauthlogin.NewFlow(config(em), oauthlogin.OOBRedirectURI)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	var oe *oauthlogin.Error

	// A code exchanged with another flow's verifier (a stolen code).
	a, b := newFlow(), newFlow()
	code := oobCode(t, a)
	if _, err := b.Exchange(ctx, code); !errors.As(err, &oe) || !strings.Contains(oe.Description, "code_verifier") {
		t.Errorf("wrong verifier: err = %v, want an invalid code_verifier refusal", err)
	}
	// The refused attempt used the code up.
	if _, err := a.Exchange(ctx, code); !errors.As(err, &oe) {
		t.Errorf("code after a refused exchange: err = %v, want a refusal", err)
	}

	// A replayed code.
	c := newFlow()
	code = oobCode(t, c)
	if _, err := c.Exchange(ctx, code); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	if _, err := c.Exchange(ctx, code); !errors.As(err, &oe) || !strings.Contains(oe.Description, "authorization code") {
		t.Errorf("replayed code: err = %v, want an invalid authorization code refusal", err)
	}
}

func TestAuthorizePageRefusals(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	for _, tc := range []struct{ name, query, want string }{
		{"foreign redirect", "client_id=" + emulator.DemoClientID + "&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", "Invalid redirect_uri"},
		{"unknown app", "client_id=nope&response_type=code&redirect_uri=" + url.QueryEscape(oauthlogin.OOBRedirectURI), "Invalid client_id"},
		{"plain PKCE", "client_id=" + emulator.DemoClientID + "&response_type=code&redirect_uri=" + url.QueryEscape(oauthlogin.OOBRedirectURI) +
			"&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=plain", "Invalid code_challenge_method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(em.PortalURL + "/oauth2/authorize?" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), tc.want) || resp.Header.Get("Location") != "" {
				t.Errorf("answer %s %s, want %q and no redirect", resp.Status, b, tc.want)
			}
		})
	}
	// A wrong password stays on the page.
	f, _ := oauthlogin.NewFlow(config(em), oauthlogin.OOBRedirectURI)
	resp := signIn(t, f.AuthURL(), emulator.DemoUser, "wrong")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "Invalid username or password") || strings.Contains(string(b), `<code id="code">`) {
		t.Errorf("wrong password: %s", b)
	}
}

func TestEnterpriseAccountsCannotGenerateTokens(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{EnterpriseLogins: true})
	cred := &arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}
	c, err := arcgis.New(arcgis.WithPortal(em.PortalURL), arcgis.WithCredential(cred))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.Token(context.Background(), c); err == nil {
		t.Fatal("generateToken signed in an enterprise account")
	}
}
