package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
)

// serverRoot turns a server, services directory or service URL into the
// server root (https://host/arcgis), or a bare host URL for API keys.
func serverRoot(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("-server: must be an http(s) URL")
	}
	s := strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
	if r := arcgis.ServerRoot(s); r != "" {
		s = r
	}
	s = strings.TrimSuffix(s, "/rest")
	return s, nil
}

// loginServer signs in to a standalone ArcGIS Server (a token from the
// token service its /rest/info names) or stores an API key for a host. The
// daemon sends the credential only to URLs under the server root.
func loginServer(ctx context.Context, root, dataRoot, user, pwFile, keyFile string, minutes int, asJSON bool, stdout io.Writer) error {
	root, err := serverRoot(root)
	if err != nil {
		return err
	}
	if (user == "") == (keyFile == "") {
		return fmt.Errorf("-user: give exactly one of -user or -api-key-file with -server")
	}
	cred := config.Credential{Portal: root}
	if keyFile != "" {
		key, err := readSecret(keyFile)
		if err != nil {
			return fmt.Errorf("-api-key-file: %w", err)
		}
		cred.Kind, cred.APIKey = config.KindAPIKey, key
	} else {
		c, err := arcgis.New(arcgis.WithReferer(tokenReferer))
		if err != nil {
			return err
		}
		info, err := c.ServerInfo(ctx, root)
		if err != nil {
			return fmt.Errorf("-server: %w", err)
		}
		tokenURL := info.AuthInfo.TokenServicesURL
		if !info.AuthInfo.IsTokenBasedSecurity || tokenURL == "" {
			return fmt.Errorf("-server: %s does not issue tokens (authInfo.tokenServicesUrl is empty): its services are public or use another sign-in", root)
		}
		var pw string
		if pwFile != "" {
			if pw, err = readSecret(pwFile); err != nil {
				return fmt.Errorf("-password-file: %w", err)
			}
		} else if pw, err = promptPassword(fmt.Sprintf("Password for %s at %s: ", user, root)); err != nil {
			return fmt.Errorf("-password-file: no terminal to prompt on (%v); give the password in a file", err)
		}
		tok, exp, err := c.GenerateToken(ctx, tokenURL, user, pw, minutes)
		if err != nil {
			return fmt.Errorf("-user: sign-in to %s failed: %w", root, err)
		}
		cred.Kind, cred.Username, cred.Token, cred.Expires = config.KindToken, user, tok, exp
	}
	if err := config.SaveCredential(dataRoot, cred); err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	if asJSON {
		return printJSON(stdout, cred.Redacted())
	}
	fmt.Fprintf(stdout, "signed in to %s (%s); used only for its services", root, cred.Kind)
	if !cred.Expires.IsZero() {
		fmt.Fprintf(stdout, "; token valid until %s", cred.Expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(stdout)
	return nil
}
