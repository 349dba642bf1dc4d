// Package gctune holds the Go garbage collector's target for serving: what
// `mutual serve` sets, and what the benchmarks of requests served in process
// set too, so that they measure the server as it runs.
package gctune

import "runtime/debug"

// ServePercent is the collector's target for serving when the environment
// does not set GOGC: the heap may grow to three times what is live between
// collections instead of twice, so the collector runs half as often. Under
// the HTTP load it took a sixth of the server's CPU (pprof: gcBgMarkWorker)
// at Go's default of 100. Measured with scripts/loadtest.sh's CPU per
// transfer at 32 workers, A/B in one run on a busy machine (so within about
// 10%): the server's CPU per single transfer 237-241 µs at 100, 217-219 µs
// at 200, 225-230 µs at 400; resident memory 50, 60 and 81 MB.
const ServePercent = 200

// Tune sets the collector's target for serving, unless GOGC is set: the Go
// runtime has then applied the operator's choice already.
func Tune(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(ServePercent)
	}
}
