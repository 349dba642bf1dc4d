package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// crashRecovery is the target: after a crash and restart, every
// retried Idempotency-Key gets its final answer within this long of the
// server answering /readyz.
const crashRecovery = 10 * time.Second

// startServeChild runs `mutual serve` on dir and waits until it announces
// its address. With databaseURL "" it runs in local mode (its own PostgreSQL
// in dir); otherwise on that database.
func startServeChild(t *testing.T, bin, dir, databaseURL string) *child {
	t.Helper()
	return startChild(t, bin, []string{"DATABASE_URL=" + databaseURL},
		"serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
}

// crashKey is one keyed transfer of the crash test's load.
type crashKey struct {
	key          string
	from, to     int
	amount       string
	acknowledged string // the transfer id the client got before the crash
	final        string // the transfer id of the final answer
	tookAfter    time.Duration
}

// TestCrashedServerFreesItsKeys kills `mutual serve` with SIGKILL in the
// middle of a load of keyed transfers, starts it again and retries every
// key that had no answer: each gets its final answer within crashRecovery
// of /readyz, and the books hold exactly one transfer per key. In local
// mode the server's own PostgreSQL loses its parent too, and the restart
// knows every earlier instance is dead; on a shared database (DATABASE_URL)
// the database lives on and the dead instance's keys are freed when its
// heartbeat lapses.
func TestCrashedServerFreesItsKeys(t *testing.T) {
	// Not parallel: it measures how soon keys are freed.
	bin := buildMutual(t)
	t.Run("local", func(t *testing.T) { crashAndRecover(t, bin, "") })
	t.Run("database_url", func(t *testing.T) { crashAndRecover(t, bin, dbtest.URL(t)) })
}

func crashAndRecover(t *testing.T, bin, databaseURL string) {
	dir := dataDir(t)
	first := startServeChild(t, bin, dir, databaseURL)
	tok, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	ctx := context.Background()

	// Accounts of the network, in a unit of the test's own.
	c := newAPIClient(first.url, token, 32)
	accounts, err := benchAccounts(ctx, c, 6)
	if err != nil {
		t.Fatal(err)
	}

	// The load: workers post keyed transfers until the server dies under
	// them. The memo names the key, so the books can be checked per key.
	const workers = 12
	var (
		mu   sync.Mutex
		keys []*crashKey
		acks atomic.Int64
	)
	post := func(c *apiClient, k *crashKey) (string, error) {
		var out struct {
			ID string `json:"id"`
		}
		body := map[string]any{"memo": k.key, "postings": []map[string]string{{
			"from": accounts[k.from], "to": accounts[k.to], "amount": k.amount, "unit": benchUnit,
		}}}
		err := c.do(ctx, http.MethodPost, "/v1/transfers", body, &out, "Idempotency-Key", k.key)
		return out.ID, err
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				from := rng.IntN(len(accounts))
				k := &crashKey{key: fmt.Sprintf("crash-%d-%d", w, i), from: from,
					to: (from + 1 + rng.IntN(len(accounts)-1)) % len(accounts), amount: fmt.Sprintf("%d.%02d", 1+rng.IntN(50), rng.IntN(100))}
				mu.Lock()
				keys = append(keys, k)
				mu.Unlock()
				id, err := post(c, k)
				if err != nil {
					var ae *apiError
					if errors.As(err, &ae) {
						t.Errorf("key %s before the crash: %v", k.key, err)
					}
					return // the server is gone; the key has no answer
				}
				k.acknowledged = id
				acks.Add(1)
			}
		})
	}
	// Let the load run, then kill the server and its PostgreSQL loses its
	// parent mid-flight.
	for start := time.Now(); acks.Load() < 150 && time.Since(start) < 20*time.Second; time.Sleep(10 * time.Millisecond) {
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	wg.Wait()
	<-first.done

	var unanswered []*crashKey
	for _, k := range keys {
		if k.acknowledged == "" {
			unanswered = append(unanswered, k)
		}
	}
	t.Logf("killed the server after %d acknowledged transfers; %d keys in flight had no answer", acks.Load(), len(unanswered))
	if len(unanswered) == 0 {
		t.Fatal("no request was in flight when the server was killed")
	}

	second := startServeChild(t, bin, dir, databaseURL)
	readyAt := second.waitReady(t)
	t.Logf("restarted: ready %v after the kill", readyAt.Sub(killedAt).Round(time.Millisecond))
	logs := second.stderr.String()
	switch {
	case strings.Contains(logs, "stopping orphaned PostgreSQL"):
		t.Log("the restart stopped the orphaned PostgreSQL of the killed server")
	case strings.Contains(logs, "removing stale postmaster.pid"):
		t.Log("the killed server's PostgreSQL had stopped; the restart removed its stale postmaster.pid")
	}

	// Retry every unanswered key as a client would, until its answer is
	// final (not 409 in progress, not a server error).
	c = newAPIClient(second.url, token, 32)
	var rg sync.WaitGroup
	for _, k := range unanswered {
		rg.Go(func() {
			for {
				id, err := post(c, k)
				if err == nil {
					k.final, k.tookAfter = id, time.Since(readyAt)
					return
				}
				var ae *apiError
				if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusConflict {
					t.Errorf("key %s after the restart: %v", k.key, err)
					return
				}
				if time.Since(readyAt) > 3*crashRecovery {
					t.Errorf("key %s still has no final answer %v after ready: %v", k.key, time.Since(readyAt), err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	rg.Wait()
	var worst time.Duration
	for _, k := range unanswered {
		worst = max(worst, k.tookAfter)
	}
	t.Logf("worst time from /readyz ready to a retried key's final answer: %v (%d keys)", worst.Round(time.Millisecond), len(unanswered))
	if worst > crashRecovery {
		t.Errorf("a retried key took %v after /readyz to get its final answer; want at most %v", worst, crashRecovery)
	}

	// Nothing lost: every acknowledged key replays its transfer.
	var pg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		if k.acknowledged == "" {
			continue
		}
		sem <- struct{}{}
		pg.Go(func() {
			defer func() { <-sem }()
			id, err := post(c, k)
			if err != nil || id != k.acknowledged {
				t.Errorf("key %s: acknowledged transfer %s, its retry after the crash gave %q, %v", k.key, k.acknowledged, id, err)
			}
			k.final = id
		})
	}
	pg.Wait()

	// Nothing doubled: the books hold exactly one transfer per key, the
	// one its answers named, and each balance is what those transfers
	// make it.
	inBooks := map[string]string{}   // transfer id -> memo
	madeAt := map[string]time.Time{} // transfer id -> created_at
	for _, acct := range accounts {
		path := "/v1/transfers?limit=1000&account=" + acct
		for {
			var page struct {
				Items []struct {
					ID        string    `json:"id"`
					Memo      string    `json:"memo"`
					CreatedAt time.Time `json:"created_at"`
				} `json:"items"`
				Next *string `json:"next"`
			}
			if err := c.do(ctx, http.MethodGet, path, nil, &page); err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				inBooks[it.ID] = it.Memo
				madeAt[it.ID] = it.CreatedAt
			}
			if page.Next == nil || *page.Next == "" {
				break
			}
			path = "/v1/transfers?limit=1000&account=" + acct + "&after=" + url.QueryEscape(*page.Next)
		}
	}
	perKey := map[string]int{}
	for _, memo := range inBooks {
		perKey[memo]++
	}
	want := make([]decimal.Decimal, len(accounts))
	answered := 0
	for _, k := range keys {
		if k.final == "" {
			continue // an error was reported above
		}
		answered++
		if n := perKey[k.key]; n != 1 {
			t.Errorf("key %s: %d transfers in the books; want 1", k.key, n)
		}
		if memo, ok := inBooks[k.final]; !ok || memo != k.key {
			t.Errorf("key %s: its transfer %s is not in the books (memo %q)", k.key, k.final, memo)
		}
		amt := decimal.RequireFromString(k.amount)
		want[k.from] = want[k.from].Sub(amt)
		want[k.to] = want[k.to].Add(amt)
	}
	committed := 0
	for _, k := range unanswered {
		if at, ok := madeAt[k.final]; ok && at.Before(killedAt) {
			committed++
		}
	}
	t.Logf("of the %d unanswered keys, %d had committed their transfer before the kill: their retry returned it", len(unanswered), committed)
	if len(inBooks) != answered {
		t.Errorf("%d transfers in the books for %d keys", len(inBooks), answered)
	}
	sum := decimal.Zero
	for i, acct := range accounts {
		var a struct {
			Balances struct {
				Posted string `json:"posted"`
			} `json:"balances"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/accounts/"+acct, nil, &a); err != nil {
			t.Fatal(err)
		}
		got := decimal.RequireFromString(a.Balances.Posted)
		if !got.Equal(want[i]) {
			t.Errorf("account %s holds %s; its transfers make %s", acct, got, want[i])
		}
		sum = sum.Add(got)
	}
	if !sum.IsZero() {
		t.Errorf("the %s balances sum to %s, not zero", benchUnit, sum)
	}

	second.stop(t)
	out, _, err := runCmd(t, environ("DATABASE_URL", databaseURL), "verify", "--data-dir", dir)
	if err != nil || !strings.HasPrefix(out, "ledger is sound") {
		t.Errorf("verify after the crash: %v\n%s", err, out)
	}
	if slices.ContainsFunc(keys, func(k *crashKey) bool { return k.final == "" }) && !t.Failed() {
		t.Error("a key has no final answer")
	}
}
