package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/mutual-ledger/mutual/schema"
)

// printVersion implements `mutual version`: the module version and commit
// the binary was built from (as the Go toolchain stamped them), its Go
// version and the schema version it migrates to.
func printVersion(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if help, err := parseFlags(fs, e, "Prints mutual's version, the commit it was built from and its schema version.", args); help || err != nil {
		return err
	}
	first := "mutual"
	var parts []string
	goVersion := "unknown Go"
	if info, ok := debug.ReadBuildInfo(); ok {
		first += " " + info.Main.Version
		goVersion = info.GoVersion
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if modified == "true" {
				rev += " (modified)"
			}
			parts = append(parts, "commit "+rev)
		}
	}
	parts = append([]string{first}, parts...)
	parts = append(parts, goVersion)
	if ms, err := schema.Migrations(); err == nil && len(ms) > 0 {
		parts = append(parts, fmt.Sprintf("schema version %d", ms[len(ms)-1].Version))
	}
	fmt.Fprintln(e.stdout, strings.Join(parts, ", "))
	return nil
}
