package main

import (
	"fmt"
	"os"

	"golang.org/x/term"
)

// promptPassword reads a line from the controlling terminal with echo off.
func promptPassword(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("no terminal to prompt on (use -password-file): %w", err)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return "", fmt.Errorf("/dev/tty is not a terminal (use -password-file)")
	}
	fmt.Fprint(tty, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}
