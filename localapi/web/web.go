// Package web holds the daemon's page: a single-page app served at /ui/
// (index.html, app.js, app.css) and MapLibre GL JS vendored from npm under
// vendor/maplibre-gl (see its VERSION file). No build step: the files are
// served as they are, embedded in the binary.
package web

import "embed"

// Files is the page's file tree.
//
//go:embed index.html app.js app.css vendor
var Files embed.FS
