package localapi

import "testing"

// WatchTestDaemon runs the daemon's packages watcher on d's registry until
// the test ends, as the daemon does, and returns once it watches: the
// registry then caches map infos between requests like the daemon's
// (benchmarks measure what the daemon runs). Set by
// bench_daemon_link_test.go.
var WatchTestDaemon func(t testing.TB, d *TestDaemon)
