package main

import (
	"context"
	"fmt"
	"io"

	"github.com/offlined/offlined/internal/config"
)

// runToken prints the API token field apps send as "Authorization: Bearer"
// (creating it when the daemon has not run yet).
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("token", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok, err := config.APIToken(cf.root())
	if err != nil {
		return &config.FieldError{Field: "-data", Reason: err.Error()}
	}
	if cf.json {
		return printJSON(stdout, map[string]string{"token": tok})
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
