//go:build !linux

package main

import "errors"

// promptPassword is only implemented on Linux (and Android); elsewhere the
// password comes from -password-file.
func promptPassword(string) (string, error) {
	return "", errors.New("password prompt not supported on this system")
}
