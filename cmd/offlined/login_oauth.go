package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/oauthlogin"
)

// browserOptions are the flags of the browser sign-in.
type browserOptions struct {
	noBrowser bool   // print the URL, do not launch a browser
	oob       bool   // out-of-band: the portal shows the code
	codeFile  string // read the out-of-band code from this file
	minutes   int    // refresh-token lifetime to ask for
}

// loginBrowser signs in through the portal's OAuth page with PKCE (for
// enterprise SAML/OIDC logins, which have no ArcGIS password) and stores
// only the refresh token and the short-lived access token.
func loginBrowser(ctx context.Context, cf *clientFlags, portal, clientID string, o browserOptions, stdout, stderr io.Writer) error {
	cfg := oauthlogin.Config{Portal: portal, ClientID: clientID, ExpirationMinutes: o.minutes}
	var res oauthlogin.Result
	var err error
	if o.oob {
		res, err = oauthlogin.OutOfBand(ctx, cfg, func(authURL string) (string, error) {
			fmt.Fprintf(stdout, "Open this address on any device, sign in, and paste the code it shows:\n\n  %s\n\n", authURL)
			return readCode(o.codeFile)
		})
	} else {
		res, err = oauthlogin.Loopback(ctx, cfg, func(authURL string) error {
			launched := false
			if !o.noBrowser {
				launched = openBrowser(authURL) == nil
			}
			if launched {
				fmt.Fprintf(stdout, "Sign in in the browser window that opened. If none did, open:\n\n  %s\n\n", authURL)
			} else {
				fmt.Fprintf(stdout, "Open this address in a browser on this device and sign in:\n\n  %s\n\n(no browser here? use -oob)\n", authURL)
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("-client-id: browser sign-in failed: %w", err)
	}
	cred := config.Credential{Portal: portal, Kind: config.KindOAuthRefresh, ClientID: clientID, Username: res.Username,
		RefreshToken: res.RefreshToken, RefreshExpires: res.RefreshExpires, RedirectURI: res.RedirectURI,
		Token: res.AccessToken, Expires: res.Expires}
	until := ""
	if !res.RefreshExpires.IsZero() {
		until = "the daemon renews access until " + res.RefreshExpires.UTC().Format(time.RFC3339) + " and extends it while online"
	}
	return storeCredential(cf, cred, "as "+res.Username+" (OAuth)", until, stdout)
}

// readCode reads the pasted out-of-band code from path ("-": stdin), or
// from the terminal when path is "".
func readCode(path string) (string, error) {
	if path != "" {
		return readSecret(path)
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("no terminal to read the code from (use -code-file): %w", err)
	}
	defer tty.Close()
	if !term.IsTerminal(int(tty.Fd())) {
		return "", fmt.Errorf("/dev/tty is not a terminal (use -code-file)")
	}
	fmt.Fprint(tty, "Code: ")
	line, err := bufio.NewReader(io.LimitReader(tty, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// openBrowser launches the desktop's browser on url; it fails where there
// is no desktop (SSH, kiosk), and the caller prints the URL instead.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return fmt.Errorf("no desktop")
		}
		cmd = exec.Command("xdg-open", url)
	}
	return cmd.Start()
}

// signInMethods reads the portal's sign-in methods anonymously.
func signInMethods(ctx context.Context, portal string) (arcgis.SignInMethods, error) {
	c, err := arcgis.New(arcgis.WithPortal(portal))
	if err != nil {
		return arcgis.SignInMethods{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return c.SignInMethods(ctx)
}

// noMethodError says which sign-in methods the portal offers and the flags
// for each.
func noMethodError(ctx context.Context, portal string) error {
	msg := "-user: give one of -user (ArcGIS account), -client-id alone (browser sign-in, for enterprise logins), -api-key-file, -client-id with -client-secret-file or -refresh-token-file"
	if m, err := signInMethods(ctx, portal); err == nil {
		msg += "; the portal offers: " + m.String()
		if m.OAuthOnly() {
			msg += " — use: offlined login -portal " + portal + " -client-id <your app's client id>"
		}
	}
	return fmt.Errorf("%s", msg)
}

// enterpriseHint suggests the browser sign-in when the portal has
// enterprise logins (their accounts have no password generateToken
// accepts).
func enterpriseHint(ctx context.Context, portal string) string {
	m, err := signInMethods(ctx, portal)
	if err != nil || !(m.Enterprise || m.Social) {
		return ""
	}
	return fmt.Sprintf("\nthis portal has %s: accounts that sign in there have no ArcGIS password; sign in through the browser with: offlined login -portal %s -client-id <your app's client id>", m.String(), portal)
}
