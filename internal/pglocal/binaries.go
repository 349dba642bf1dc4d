package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoPostgres is returned (wrapped) by Start when no PostgreSQL server
// binaries (initdb and postgres) can be found on PATH, under
// `pg_config --bindir` or in the usual install folders.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries found (install them: `apt-get install -y postgresql` on Debian/Ubuntu)")

// defaultRoots are glob patterns of the folders distribution packages install
// the server binaries into, one per major version (Debian/Ubuntu, then
// PGDG RPMs).
var defaultRoots = []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"}

// binaries locates initdb and postgres in one folder, so both come from the
// same PostgreSQL version.
type binaries struct {
	initdb   string
	postgres string
}

// findBinaries looks in order: each folder of pathEnv (a PATH value) holding
// both programs; the folder printed by the pg_config found on pathEnv; the
// highest version among the folders matching roots.
func findBinaries(ctx context.Context, pathEnv string, roots []string) (binaries, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
	}
	if pgConfig, ok := executableIn(pathEnv, "pg_config"); ok {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
		cancel()
		if err == nil {
			if b, ok := binariesIn(string(bytes.TrimSpace(out))); ok {
				return b, nil
			}
		}
	}
	var dirs []string
	for _, pattern := range roots {
		matches, _ := filepath.Glob(pattern)
		dirs = append(dirs, matches...)
	}
	// Highest major version first: /usr/lib/postgresql/16/bin before .../9.6/bin.
	slices.SortStableFunc(dirs, func(a, b string) int { return slices.Compare(versionOf(b), versionOf(a)) })
	for _, dir := range dirs {
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
	}
	searched := []string{"PATH", "pg_config --bindir"}
	searched = append(searched, roots...)
	return binaries{}, fmt.Errorf("pglocal: looked in %s: %w", strings.Join(searched, ", "), ErrNoPostgres)
}

func binariesIn(dir string) (binaries, bool) {
	b := binaries{initdb: filepath.Join(dir, "initdb"), postgres: filepath.Join(dir, "postgres")}
	return b, isExecutable(b.initdb) && isExecutable(b.postgres)
}

func executableIn(pathEnv, name string) (string, bool) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// versionOf extracts the version numbers from the first path element that
// has any: "/usr/lib/postgresql/9.6/bin" gives [9 6], "/usr/pgsql-16/bin" [16].
func versionOf(dir string) []int {
	for _, elem := range strings.Split(dir, string(filepath.Separator)) {
		elem = strings.TrimPrefix(elem, "pgsql-")
		var v []int
		for _, part := range strings.Split(elem, ".") {
			n, err := strconv.Atoi(part)
			if err != nil {
				v = nil
				break
			}
			v = append(v, n)
		}
		if v != nil {
			return v
		}
	}
	return nil
}
