// Package featuretest builds Arrow records and specs for tests and benchmarks
// of code that featurizes: an Avazu-shaped 24-column click log with random
// values. The values carry no signal; use it to measure speed and
// allocations, not quality.
package featuretest
