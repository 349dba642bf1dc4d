package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mutual-ledger/mutual/ledger"
)

// TestEveryReasonHasAProblem reads every Reason constant the ledger and the
// exchange declare, from their source, and checks that the problem table
// maps it, so that a new reason cannot reach a client as a bare code's
// generic problem (or, for a code the table lacks, as a 500). Only
// ledger.ReasonInvalidRequest is left to codeKinds: it comes with several
// codes (422, 409 for a taken id), each mapped there.
func TestEveryReasonHasAProblem(t *testing.T) {
	found := 0
	for _, dir := range []string{"../ledger", "../exchange"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for name, value := range reasonConsts(f) {
				found++
				if ledger.Reason(value) == ledger.ReasonInvalidRequest {
					continue
				}
				if _, ok := reasonKinds[ledger.Reason(value)]; !ok {
					t.Errorf("%s (%s, %q) has no row in reasonKinds", name, path, value)
				}
			}
		}
	}
	if found < 40 {
		t.Fatalf("found %d reasons; the parser is not reading the constants", found)
	}
}

// reasonConsts returns the constants named Reason… in a file, with their
// string values.
func reasonConsts(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Reason") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err == nil {
					out[n.Name] = v
				}
			}
		}
	}
	return out
}
