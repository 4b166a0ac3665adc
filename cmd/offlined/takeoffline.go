package main

import (
	"context"
	"errors"
	"io"
)

// runTakeOffline is filled in below (takeoffline.go).
func runTakeOffline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("take-offline: not built yet")
}
