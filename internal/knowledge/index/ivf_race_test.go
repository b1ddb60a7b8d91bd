//go:build race

package index

// raceEnabled is set when the race detector runs, which makes sync.Pool
// drop items at random.
const raceEnabled = true
