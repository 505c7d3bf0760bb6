//go:build race

package train

// raceEnabled: the race detector's sync.Pool drops items at random, so
// allocation counts of code that pools scratch are not meaningful.
const raceEnabled = true
