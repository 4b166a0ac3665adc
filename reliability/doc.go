// Package reliability is offlined's reliability campaign: the real offlined
// binary against the in-process ArcGIS emulator on loopback, killed with
// SIGKILL mid-download and mid-sync, with a full disk, dropped and slow links,
// hostile local clients and a fleet of devices. It has tests only: the CI
// subset runs in `go test ./...`; the whole campaign is behind the build tag
// `reliability` (bench/reliability.sh). See docs/RELIABILITY.md.
package reliability
