package gctune

import (
	"runtime/debug"
	"testing"
)

// Serving sets the collector's target, unless the operator set GOGC.
func TestTune(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	Tune(func(k string) string { return map[string]string{"GOGC": "150"}[k] }) // the runtime applied 150 already
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the target became %d; want it left as it was", got)
	}
	Tune(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != ServePercent {
		t.Errorf("without GOGC, the target is %d, want %d", got, ServePercent)
	}
}
