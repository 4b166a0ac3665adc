package main

import (
	"context"
	"fmt"
	"io"
)

// runOpen asks the running daemon for a one-time link to its page and
// prints it, opening the desktop's browser where there is one. The link
// signs one browser in (an HttpOnly session cookie) and expires in two
// minutes; the API token never goes into the browser.
func runOpen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("open", stderr)
	noBrowser := fs.Bool("no-browser", false, "print the link only")
	c, err := cf.connect(fs, args)
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
	if !*noBrowser && openBrowser(u) == nil {
		fmt.Fprintf(stdout, "opened the page in the browser; if nothing opened, visit (once, within %d s):\n%s\n", link.ExpiresIn, u)
		return nil
	}
	fmt.Fprintf(stdout, "open this one-time link in a browser on this device (within %d s):\n%s\n", link.ExpiresIn, u)
	return nil
}
