package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/ledger"
)

var tokenLine = regexp.MustCompile(`(?m)^\s+(mut_\S+)$`)

// TestFirstRunShowsTheAdminTokenOnce: the first start creates the network and
// its admin and shows the admin token once on the terminal (with a copy in
// the data folder, mode 0600), never in the logs; later starts show nothing.
func TestFirstRunShowsTheAdminTokenOnce(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, environ("DATABASE_URL", dbURL), "--addr", "127.0.0.1:0", "--data-dir", dir)
	var secret string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := tokenLine.FindStringSubmatch(s.stdout.String()); m != nil {
			secret = m[1]
			break
		}
	}
	if secret == "" {
		t.Fatalf("no admin token shown on the first run:\n%s", s.stdout)
	}
	if !strings.Contains(s.stdout.String(), "curl -H 'Authorization: Bearer "+secret) {
		t.Errorf("no example curl line:\n%s", s.stdout)
	}
	if strings.Contains(s.stderr.String(), secret) {
		t.Error("the admin token appears in the logs")
	}
	saved := filepath.Join(dir, adminTokenFile)
	fi, err := os.Stat(saved)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", saved, fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(saved); strings.TrimSpace(string(b)) != secret {
		t.Errorf("%s holds %q, want the token shown", saved, b)
	}
	s.stop(t)

	// The token works: it authenticates the network's admin.
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	led, err := ledger.Open(ctx, pool, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := exchange.NewStore(led.DB(), led, exchange.Config{}).Authenticate(ctx, secret)
	if err != nil || !p.Admin {
		t.Fatalf("Authenticate(first-run token) = %+v, %v; want the admin", p, err)
	}

	again := startServe(t, environ("DATABASE_URL", dbURL), "--addr", "127.0.0.1:0", "--data-dir", dir)
	time.Sleep(200 * time.Millisecond)
	again.stop(t)
	if strings.Contains(again.stdout.String(), "mut_") {
		t.Errorf("a later start showed a token:\n%s", again.stdout)
	}
}
