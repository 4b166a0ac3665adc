package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
	offlinedd "github.com/offlined/offlined/internal/daemon"
)

// tokenReferer is the referer portal tokens are bound to (IP-bound tokens
// break when a device changes networks).
const tokenReferer = offlinedd.TokenReferer

// runLogin signs in to a portal and stores what renews access: a portal
// token (from username and password; the password itself is never
// stored), an API key, an OAuth refresh token or an OAuth app's client
// credentials. Secrets are read from files ("-" is stdin) or prompted for
// without echo, never taken as flag values.
func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("login", stderr)
	portal := fs.String("portal", "", "portal URL, e.g. https://www.arcgis.com/sharing/rest (required)")
	user := fs.String("user", "", "portal user name (password prompted without echo, or -password-file)")
	pwFile := fs.String("password-file", "", "read the password from this file (- for stdin)")
	keyFile := fs.String("api-key-file", "", "store an API key read from this file (- for stdin)")
	clientID := fs.String("client-id", "", "OAuth app client id (with -client-secret-file or -refresh-token-file)")
	secretFile := fs.String("client-secret-file", "", "OAuth app client secret file (- for stdin)")
	refreshFile := fs.String("refresh-token-file", "", "OAuth refresh token file (- for stdin)")
	expiration := fs.Int("expiration", 20160, "token lifetime to ask for, in minutes (ArcGIS Online allows up to 20160, two weeks)")
	server := fs.String("server", "", "sign in to a standalone ArcGIS Server (or store an API key for a host) instead of a portal; used only for its services")
	noBrowser := fs.Bool("no-browser", false, "with -client-id alone: print the sign-in URL instead of opening a browser")
	oob := fs.Bool("oob", false, "with -client-id alone: sign in on another device; the portal shows a code to paste here")
	codeFile := fs.String("code-file", "", "with -oob: read the code from this file (- for stdin) instead of the terminal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server != "" {
		if *portal != "" {
			return fmt.Errorf("-server: give -portal or -server, not both")
		}
		return loginServer(ctx, *server, cf.root(), *user, *pwFile, *keyFile, *expiration, cf.json, stdout)
	}
	if *portal == "" {
		return fmt.Errorf("-portal: required")
	}
	pu, err := url.Parse(*portal)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return fmt.Errorf("-portal: must be an http(s) URL")
	}
	p := config.NormalizePortal(*portal)
	if !strings.HasSuffix(p, "/sharing/rest") {
		p += "/sharing/rest"
	}
	if *expiration < 1 {
		return fmt.Errorf("-expiration: must be at least 1 minute")
	}
	modes := 0
	for _, set := range []bool{*user != "", *keyFile != "", *secretFile != "", *refreshFile != ""} {
		if set {
			modes++
		}
	}
	browser := modes == 0 && *clientID != ""
	if (*oob || *noBrowser || *codeFile != "") && !browser {
		return fmt.Errorf("-oob: -oob, -no-browser and -code-file go with -client-id alone (the browser sign-in)")
	}
	if browser {
		return loginBrowser(ctx, cf, p, *clientID, browserOptions{noBrowser: *noBrowser, oob: *oob, codeFile: *codeFile, minutes: *expiration}, stdout, stderr)
	}
	if modes != 1 {
		return noMethodError(ctx, p)
	}
	if (*secretFile != "" || *refreshFile != "") && *clientID == "" {
		return fmt.Errorf("-client-id: required with -client-secret-file and -refresh-token-file")
	}
	cred := config.Credential{Portal: p}
	switch {
	case *keyFile != "":
		key, err := readSecret(*keyFile)
		if err != nil {
			return fmt.Errorf("-api-key-file: %w", err)
		}
		cred.Kind, cred.APIKey = config.KindAPIKey, key
	case *secretFile != "" || *refreshFile != "":
		if err := appCredential(ctx, &cred, *clientID, *secretFile, *refreshFile); err != nil {
			return err
		}
	default:
		var pw string
		if *pwFile != "" {
			if pw, err = readSecret(*pwFile); err != nil {
				return fmt.Errorf("-password-file: %w", err)
			}
		} else if pw, err = promptPassword(fmt.Sprintf("Password for %s at %s: ", *user, pu.Host)); err != nil {
			return fmt.Errorf("-password-file: no terminal to prompt on (%v); give the password in a file", err)
		}
		c, err := arcgis.New(arcgis.WithReferer(tokenReferer))
		if err != nil {
			return err
		}
		tok, exp, err := c.GenerateToken(ctx, p+"/generateToken", *user, pw, *expiration)
		if err != nil {
			return fmt.Errorf("-user: sign-in failed: %w%s", err, enterpriseHint(ctx, p))
		}
		cred.Kind, cred.Username, cred.Token, cred.Expires = config.KindToken, *user, tok, exp
	}
	until := ""
	if !cred.Expires.IsZero() {
		until = "token valid until " + cred.Expires.UTC().Format(time.RFC3339)
	}
	return storeCredential(cf, cred, "("+string(cred.Kind)+")", until, stdout)
}

// runLogout forgets the stored credentials of a portal.
func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("logout", stderr)
	portal := fs.String("portal", "", "portal URL (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *portal == "" {
		return fmt.Errorf("-portal: required")
	}
	p := config.NormalizePortal(*portal)
	if !strings.HasSuffix(p, "/sharing/rest") {
		p += "/sharing/rest"
	}
	removed, err := config.RemoveCredential(cf.root(), p)
	if err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	if !removed {
		return fmt.Errorf("-portal: no credentials stored for %s", p)
	}
	if cf.json {
		return printJSON(stdout, map[string]any{"portal": p, "removed": true})
	}
	fmt.Fprintf(stdout, "signed out of %s (restart the daemon to drop its session)\n", p)
	return nil
}

// appCredential makes cred an OAuth app's: its client secret read from
// secretFile or, when that is empty, a refresh token read from
// refreshFile; the portal must accept it.
func appCredential(ctx context.Context, cred *config.Credential, clientID, secretFile, refreshFile string) error {
	flagName, path, refused := "-client-secret-file", secretFile, "app credentials"
	if secretFile == "" {
		flagName, path, refused = "-refresh-token-file", refreshFile, "refresh token"
	}
	secret, err := readSecret(path)
	if err != nil {
		return fmt.Errorf("%s: %w", flagName, err)
	}
	cred.ClientID = clientID
	var check arcgis.Credential
	if secretFile != "" {
		cred.Kind, cred.ClientSecret = config.KindOAuthClient, secret
		check = &arcgis.OAuthClientCredential{ClientID: clientID, ClientSecret: secret}
	} else {
		cred.Kind, cred.RefreshToken = config.KindOAuthRefresh, secret
		check = &arcgis.OAuthRefreshCredential{ClientID: clientID, RefreshToken: secret}
	}
	if err := checkCredential(ctx, cred.Portal, check); err != nil {
		return fmt.Errorf("%s: the portal refused the %s: %w", flagName, refused, err)
	}
	return nil
}

// storeCredential saves cred in the data root and says so: the redacted
// credential with -json, else "signed in to PORTAL who; until" (until
// left out when empty) and how to start the daemon.
func storeCredential(cf *clientFlags, cred config.Credential, who, until string, stdout io.Writer) error {
	if err := config.SaveCredential(cf.root(), cred); err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	if cf.json {
		return printJSON(stdout, cred.Redacted())
	}
	fmt.Fprintf(stdout, "signed in to %s %s", cred.Portal, who)
	if until != "" {
		fmt.Fprintf(stdout, "; %s", until)
	}
	fmt.Fprintf(stdout, "\nstart the daemon with: offlined serve -portal %s\n", cred.Portal)
	return nil
}

// readSecret reads the first line of a file, or of stdin for "-".
func readSecret(path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	s := strings.TrimRight(line, "\r\n")
	if s == "" {
		return "", fmt.Errorf("empty")
	}
	return s, nil
}

// checkCredential obtains one token with cred, proving the portal accepts it.
func checkCredential(ctx context.Context, portal string, cred arcgis.Credential) error {
	c, err := arcgis.New(arcgis.WithPortal(portal), arcgis.WithCredential(cred))
	if err != nil {
		return err
	}
	_, err = cred.Token(ctx, c)
	return err
}
