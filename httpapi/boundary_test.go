package httpapi_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHandlersLeaveDecisionsToTheExchange reads the package's own source:
// no handler acts as exchange.System (a request's principal comes from its
// credential, never from the program), and no handler writes through the
// ledger directly, past the exchange's rules; the ledger's reads of units
// and accounts (to format an answer) are all it calls.
func TestHandlersLeaveDecisionsToTheExchange(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	ledgerCall := regexp.MustCompile(`\ba\.ledger\.(\w+)\(|\.a\.ledger\.(\w+)\(`)
	reads := map[string]bool{"Unit": true, "Units": true, "Account": true, "DB": true}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if strings.Contains(string(src), "exchange.System(") {
			t.Errorf("%s acts as exchange.System: a handler acts only as the request's principal", f)
		}
		for _, m := range ledgerCall.FindAllStringSubmatch(string(src), -1) {
			name := m[1] + m[2]
			if !reads[name] {
				t.Errorf("%s calls the ledger's %s directly: writes go through the exchange, which decides who may", f, name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("read only %d source files: is the test running in the package's directory?", checked)
	}
}
