package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
)

// runOpen asks the running daemon for a one-time link to its page and
// prints it, opening the desktop's browser where there is one. The link
// signs one browser in (an HttpOnly session cookie) and expires in two
// minutes; the API token never goes into the browser.
func runOpen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("open", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := registerClientFlags(fs)
	noBrowser := fs.Bool("no-browser", false, "print the link only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var link struct {
		URL       string `json:"url"`
		ExpiresIn int    `json:"expiresIn"`
	}
	if err := c.call(ctx, "POST", "/api/v1/session/link", nil, &link); err != nil {
		return fmt.Errorf("-addr: ask the daemon for a page link: %w", err)
	}
	u := c.base + link.URL
	if cf.json {
		return printJSON(stdout, map[string]any{"url": u, "expiresIn": link.ExpiresIn})
	}
	if !*noBrowser && desktopBrowser(u) == nil {
		fmt.Fprintf(stdout, "opened the page in the browser; if nothing opened, visit (once, within %d s):\n%s\n", link.ExpiresIn, u)
		return nil
	}
	fmt.Fprintf(stdout, "open this one-time link in a browser on this device (within %d s):\n%s\n", link.ExpiresIn, u)
	return nil
}

// desktopBrowser launches the desktop's browser on url; it fails where
// there is no desktop (SSH, kiosk), and the caller prints the URL.
func desktopBrowser(url string) error {
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
