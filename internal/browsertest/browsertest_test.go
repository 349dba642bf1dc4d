package browsertest

import (
	"strings"
	"testing"
)

// TestMissingPieces: without Chromium or axe-core the harness says what to
// install, rather than letting a browser test pass or skip.
func TestMissingPieces(t *testing.T) {
	t.Setenv(EnvChromium, "/nonexistent/chromium")
	b := New()
	defer b.Close()
	if err := b.start(); err == nil || !strings.Contains(err.Error(), EnvChromium) {
		t.Errorf("with no Chromium, start = %v; want an error naming %s", err, EnvChromium)
	}
	t.Setenv(EnvChromium, "")
	t.Setenv(EnvAxe, "/nonexistent/axe.min.js")
	b2 := New()
	defer b2.Close()
	if err := b2.start(); err == nil || !strings.Contains(err.Error(), "npm ci") {
		t.Errorf("with no axe-core, start = %v; want an error saying to run npm ci", err)
	}
}
