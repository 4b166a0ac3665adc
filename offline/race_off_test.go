//go:build !race

package offline

// raceEnabled shortens the slowest tests under the race detector.
const raceEnabled = false
