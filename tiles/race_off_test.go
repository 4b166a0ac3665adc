//go:build !race

package tiles

// raceEnabled: allocation counts are not exact under the race detector.
const raceEnabled = false
