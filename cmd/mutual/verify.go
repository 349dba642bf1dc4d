package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
	"github.com/mutual-ledger/mutual/schema"
)

const verifySummary = `Checks every invariant of the ledger over the whole database (every unit
sums to zero, every account is inside its bounds, every balance is the sum of
its entries, ...), and those that tie agreements, trades, funds and time
banks to it (an accepted agreement's hold is pending, a fund's balance
equals its book, ...), and prints each violation found. It exits non-zero if there
is any. It reads everything: run it for audits, not on every request.`

// verify implements `mutual verify`.
func verify(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dataDir := dataDirFlag(fs)
	if help, err := parseFlags(fs, e, verifySummary, args); help || err != nil {
		return err
	}
	db, err := openDatabase(ctx, e, *dataDir)
	if err != nil {
		return err
	}
	err = verifyDatabase(ctx, e, db)
	return errors.Join(err, db.Close(context.WithoutCancel(ctx)))
}

func verifyDatabase(ctx context.Context, e *env, db *database) error {
	if err := checkSchema(ctx, e, db); err != nil {
		return err
	}
	store, err := ledger.Open(ctx, db.pool, ledger.Config{Logger: e.log})
	if err != nil {
		return fmt.Errorf("opening the ledger: %w", err)
	}
	start := time.Now()
	prog := verifyProgress(e.stderr, start, 3*time.Second)
	violations, err := store.VerifyWithProgress(ctx, prog.ledger)
	if err != nil {
		prog.done()
		return fmt.Errorf("verifying the ledger: %w", err)
	}
	prog.set("agreements, trades, funds and time banks")
	more, err := exchange.NewStore(store.DB(), store, exchange.Config{}).Verify(ctx)
	prog.done()
	if err != nil {
		return fmt.Errorf("verifying agreements, trades, funds and time banks against the ledger: %w", err)
	}
	violations = append(violations, more...)
	if len(violations) > 0 {
		for _, v := range violations {
			fmt.Fprintln(e.stdout, v)
		}
		return fmt.Errorf("the ledger is NOT sound: %d invariant violations", len(violations))
	}
	fmt.Fprintln(e.stdout, "ledger is sound: no invariant of the ledger, or of the agreements, trades, funds, obligations and time banks it records, is violated")
	return nil
}

// progress prints, every interval while verify runs, a line on w saying
// what it is checking and for how long, so that a long run on large books is
// seen to be alive. A short run prints nothing.
type progress struct {
	mu    sync.Mutex
	what  string
	quit  chan struct{}
	ended chan struct{}
}

func verifyProgress(w io.Writer, start time.Time, interval time.Duration) *progress {
	p := &progress{quit: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.mu.Lock()
				what := p.what
				p.mu.Unlock()
				fmt.Fprintf(w, "verify: %s elapsed, checking %s\n", time.Since(start).Round(time.Second), what)
			}
		}
	}()
	return p
}

func (p *progress) set(what string) {
	p.mu.Lock()
	p.what = what
	p.mu.Unlock()
}

// ledger is the ledger's progress callback.
func (p *progress) ledger(i, n int, name string) {
	if i < n {
		p.set(fmt.Sprintf("the ledger: %s (%d of %d)", name, i+1, n))
	}
}

// done stops the progress lines; it may be called more than once.
func (p *progress) done() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.ended
}

// checkSchema refuses a database whose schema is older than this mutual's:
// the invariants are written against the current one.
func checkSchema(ctx context.Context, e *env, db *database) error {
	ms, err := schema.Migrations()
	if err != nil {
		return err
	}
	want := ms[len(ms)-1].Version
	have, err := schema.Version(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	switch {
	case have == 0:
		return fmt.Errorf("the database has no Mutual schema yet: run `mutual migrate` first")
	case have < want:
		return fmt.Errorf("the database schema is at version %d but this mutual needs version %d: run `mutual migrate` first", have, want)
	case have > want:
		e.log.Warn("the database schema is newer than this mutual; checking the invariants this version knows", "database", have, "mutual", want)
	}
	return nil
}
