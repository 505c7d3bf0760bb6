// Package loadgen is Lakestream's open-loop load generator: it issues a fixed
// number of calls at a fixed rate, whatever the latency of earlier calls, and
// records when each call was scheduled, when it started, how long it took and
// what it returned. The predictor's swap-under-load test and the serving
// benchmarks use it, so their figures are comparable.
package loadgen
