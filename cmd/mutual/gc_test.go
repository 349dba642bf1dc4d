package main

import (
	"runtime/debug"
	"testing"
)

// Serving sets the collector's target, unless the operator set GOGC.
func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	tuneGC(environ("GOGC", "150")) // the runtime applied 150 already
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the target became %d; want it left as it was", got)
	}
	tuneGC(environ())
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("without GOGC, the target is %d, want %d", got, serveGCPercent)
	}
}
