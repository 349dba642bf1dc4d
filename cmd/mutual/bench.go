package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mutual-ledger/mutual/internal/loadgen"
	"github.com/mutual-ledger/mutual/internal/proccpu"
)

const benchSummary = `Drives a running server's HTTP API with single transfers from N workers
for a fixed time, between accounts it opens for the network organization
(uniform pairs, or with --hot every transfer credits one account), printing
a progress line every second and a summary at the end: transfers/s,
latency percentiles, failures, and the server's memory (from /metrics).
It needs the admin's token (--token, MUTUAL_TOKEN, or the first run's
DATA_DIR/admin-token).`

// benchUnit is the unit the benchmark's accounts count.
const benchUnit = "BENCH"

// bench implements `mutual bench`.
func bench(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cf := addClientFlags(fs)
	workers := fs.Int("workers", 32, "concurrent clients")
	duration := fs.Duration("duration", 20*time.Second, "how long to run")
	accounts := fs.Int("accounts", 1000, "accounts to spread the transfers over")
	hot := fs.Bool("hot", false, "every transfer credits one account (a community pool)")
	keys := fs.Bool("idempotency", false, "send an Idempotency-Key with every transfer")
	serverPID := fs.Int("server-pid", 0, "the server's process `ID` on this machine: also report the CPU it and its children (the local PostgreSQL) spent per transfer, from /proc")
	if help, err := parseFlags(fs, e, benchSummary, args); help || err != nil {
		return err
	}
	if *workers < 1 || *accounts < 2 || *duration <= 0 {
		return fmt.Errorf("%w: --workers must be at least 1, --accounts at least 2, --duration positive", errUsage)
	}
	c, err := cf.client(e, *workers+8)
	if err != nil {
		return err
	}

	fmt.Fprintf(e.stdout, "setting up %d accounts on %s\n", *accounts, c.base)
	ids, err := benchAccounts(ctx, c, *accounts)
	if err != nil {
		return err
	}
	mode := "uniform"
	if *hot {
		mode = "hot account"
	}
	fmt.Fprintf(e.stdout, "running %s transfers from %d workers for %s\n", mode, *workers, *duration)
	var seq atomic.Int64
	var cpuBefore proccpu.Sample
	if *serverPID > 0 {
		if cpuBefore, err = proccpu.Read(*serverPID); err != nil {
			return fmt.Errorf("--server-pid %d: %w", *serverPID, err)
		}
	}
	run := loadgen.Run(ctx, loadgen.Config{Workers: *workers, Duration: *duration, Progress: e.stdout},
		func(ctx context.Context, worker int, n int64) error {
			rng := rand.New(rand.NewPCG(uint64(worker), uint64(n)))
			a := rng.IntN(len(ids))
			b := (a + 1 + rng.IntN(len(ids)-1)) % len(ids)
			if *hot {
				a, b = 1+rng.IntN(len(ids)-1), 0
			}
			body := map[string]any{"postings": []map[string]string{{
				"from": ids[a], "to": ids[b], "amount": strconv.Itoa(1+rng.IntN(500)) + ".00", "unit": benchUnit,
			}}}
			var hdr []string
			if *keys {
				hdr = []string{"Idempotency-Key", fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), seq.Add(1))}
			}
			return c.do(ctx, http.MethodPost, "/v1/transfers", body, nil, hdr...)
		})
	fmt.Fprintf(e.stdout, "\n%s transfers: %s\n", mode, run)
	if *serverPID > 0 {
		if after, err := proccpu.Read(*serverPID); err == nil {
			fmt.Fprintf(e.stdout, "CPU per transfer: %s\n", perTransfer(cpuBefore, after, run.OK+run.Failed))
		}
	}
	if run.FirstError != nil {
		fmt.Fprintf(e.stdout, "first failure: %v\n", run.FirstError)
	}
	if rss, err := serverRSS(ctx, c); err == nil {
		fmt.Fprintf(e.stdout, "server resident memory: %.1f MB\n", float64(rss)/1e6)
	}
	if run.OK == 0 {
		return errors.New("no transfer succeeded")
	}
	return nil
}

// benchAccounts opens n accounts for the network organization, in parallel.
func benchAccounts(ctx context.Context, c *apiClient, n int) ([]string, error) {
	orgs, err := c.orgs(ctx)
	if err != nil {
		return nil, err
	}
	network, err := networkID(orgs)
	if err != nil {
		return nil, err
	}
	if err := c.ensureUnit(ctx, benchUnit, 2, "benchmark unit"); err != nil {
		return nil, err
	}
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				var acc struct {
					ID string `json:"id"`
				}
				err := c.do(ctx, http.MethodPost, "/v1/accounts", map[string]any{
					"owner": map[string]string{"org": network}, "unit": benchUnit, "kind": "organization",
					"name": fmt.Sprintf("bench %d", i), "lower_bound": "-1000000000",
				}, &acc)
				if err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					return
				}
				ids[i] = acc.ID
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("opening accounts: %w", firstErr)
	}
	return ids, nil
}

// serverRSS reads the server's resident memory from its /metrics.
func serverRSS(ctx context.Context, c *apiClient) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in /metrics")
}
