package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// TestServeGroupCommitFlag posts transfers from concurrent clients to serve
// with group commit on (the default) and off, and reads /metrics: on, every
// acknowledged transfer went through group commit and some shared a
// transaction; off, none did.
func TestServeGroupCommitFlag(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run("group-commit="+strconv.FormatBool(on), func(t *testing.T) {
			dir := dataDir(t)
			args := []string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--db-pool", "6"}
			if !on {
				args = append(args, "--group-commit=false")
			}
			s := startServe(t, environ("DATABASE_URL", dbtest.URL(t)), args...)
			c := adminClient(t, "http://"+s.addr, dir, 16)
			accounts, err := benchAccounts(context.Background(), c, 20)
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			time.AfterFunc(3*time.Second, func() { close(stop) })
			acked := 0
			for _, o := range transferLoad(c, accounts, 16, stop) {
				switch {
				case o.status == http.StatusCreated:
					acked++
				case o.err != nil || o.status >= 500:
					t.Errorf("a transfer was answered %d %s (%v)", o.status, o.problem, o.err)
				}
			}
			if acked == 0 {
				t.Fatal("no transfer was acknowledged")
			}
			transfers, _ := strconv.Atoi(metric(t, s, "mutual_group_commit_transfers_total"))
			groups, _ := strconv.Atoi(metric(t, s, "mutual_group_commit_groups_total"))
			t.Logf("%d transfers acknowledged; group commit wrote %d transfers, %d groups", acked, transfers, groups)
			if !on {
				if transfers != 0 || groups != 0 {
					t.Errorf("with --group-commit=false, %d transfers went through group commit", transfers)
				}
				return
			}
			if transfers < acked {
				t.Errorf("group commit wrote %d transfers; %d were acknowledged", transfers, acked)
			}
			if groups == 0 {
				t.Error("16 concurrent clients never shared a transaction")
			}
		})
	}
}

// TestPoolSize: the pool holds the connections --db-pool asks for (the
// CPUs' default without it), unless the connection string sets
// pool_max_conns, which wins.
func TestPoolSize(t *testing.T) {
	ctx := context.Background()
	url := dbtest.URL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, tt := range []struct {
		url       string
		size, max int
	}{
		{url, 6, 6},
		{url, DefaultPoolSize(), DefaultPoolSize()},
		{url + sep + "pool_max_conns=3", 6, 3},
		{"host=/nonexistent pool_max_conns=3", 6, 3},
	} {
		if !strings.HasPrefix(tt.url, "postgres") {
			if !setsPoolMaxConns(tt.url) {
				t.Errorf("setsPoolMaxConns(%q) = false", tt.url)
			}
			continue
		}
		pool, err := connect(ctx, tt.url, "the test database", nil, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		if got := pool.Config().MaxConns; int(got) != tt.max {
			t.Errorf("pool of %d asked, pool_max_conns in URL: %v: MaxConns %d, want %d", tt.size, strings.Contains(tt.url, "pool_max_conns"), got, tt.max)
		}
		pool.Close()
	}
}

// TestConnectTurnsJITOff: a PostgreSQL of one's own (DATABASE_URL) whose
// database asks for JIT compilation still runs every connection of
// Mutual's pool without it.
func TestConnectTurnsJITOff(t *testing.T) {
	ctx := context.Background()
	url := dbtest.URL(t)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var name string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET jit = on"); err != nil {
		t.Fatal(err)
	}
	pool, err := connect(ctx, url, "the test database", nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var jit string
	if err := pool.QueryRow(ctx, `SHOW jit`).Scan(&jit); err != nil {
		t.Fatal(err)
	}
	if jit != "off" {
		t.Errorf("jit = %s on a connection of the pool, want off", jit)
	}
}

// TestServeMergesBatches posts batches of 10 transfers among 40 accounts
// (about 20 accounts each: large batches) from 8 concurrent clients, and
// reads /metrics: every batch is acknowledged, and some shared a
// transaction with others.
func TestServeMergesBatches(t *testing.T) {
	dir := dataDir(t)
	s := startServe(t, environ("DATABASE_URL", dbtest.URL(t)), "--addr", "127.0.0.1:0", "--data-dir", dir, "--db-pool", "6")
	c := adminClient(t, "http://"+s.addr, dir, 8)
	ctx := context.Background()
	accounts, err := benchAccounts(ctx, c, 40)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := 0
	var wg sync.WaitGroup
	deadline := time.Now().Add(3 * time.Second)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for time.Now().Before(deadline) {
				transfers := make([]any, 10)
				for i := range transfers {
					a := rng.IntN(len(accounts))
					b := (a + 1 + rng.IntN(len(accounts)-1)) % len(accounts)
					transfers[i] = map[string]any{"postings": []map[string]string{{
						"from": accounts[a], "to": accounts[b], "amount": "1.00", "unit": benchUnit}}}
				}
				var out json.RawMessage
				if err := c.do(ctx, http.MethodPost, "/v1/transfers/batch", map[string]any{"atomic": true, "transfers": transfers}, &out); err != nil {
					t.Errorf("a batch: %v", err)
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	batches, _ := strconv.Atoi(metric(t, s, "mutual_batch_merge_batches_total"))
	groups, _ := strconv.Atoi(metric(t, s, "mutual_batch_merge_groups_total"))
	t.Logf("%d batches acknowledged; %d of them merged, in %d transactions", acked, batches, groups)
	if acked == 0 || groups == 0 || batches < 2*groups || batches > acked {
		t.Errorf("%d batches acknowledged, %d merged in %d transactions: want some merged, at least two per transaction", acked, batches, groups)
	}
}
