// Package internal holds offlined's supporting packages. This file pins the
// design card's required modules so go.mod keeps them before every user lands.
package internal

import (
	_ "github.com/fsnotify/fsnotify"
	_ "modernc.org/sqlite"
)
