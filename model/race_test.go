//go:build race

package model_test

// raceEnabled is set under -race, where sync.Pool drops pooled items at
// random, so allocation counts are not meaningful.
const raceEnabled = true
