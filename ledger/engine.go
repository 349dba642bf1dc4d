package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// The write path. Every change to balances goes through one engine run inside
// one transaction:
//
//  1. build the jobs (new transfers, holds to release), locking any hold or
//     transfer row they depend on and looking up idempotency keys;
//  2. lock every account the jobs touch, sorted by id, with SELECT … FOR
//     UPDATE: concurrent transfers then queue on the same rows in the same
//     order and cannot deadlock, and at READ COMMITTED the rows read are the
//     latest committed ones;
//  3. apply the jobs in memory, in order, checking units, statuses and bounds
//     on each job's net change;
//  4. write everything in one pipelined round trip of multi-row statements:
//     transfers, entries, reservations, hold states, account balances. (A
//     large batch writes its transfers in step 2 instead, before the locks:
//     see writeEarly.)
//
// The schema's CHECK constraints hold the same bounds again, so a bug here
// fails the transaction instead of breaking an invariant.

// job is one change the engine applies: a new transfer, or the release of a
// hold, or both (posting a hold releases it and writes the posting transfer).
type job struct {
	t    *Transfer // the transfer to write; nil for a void or an expiry
	hash []byte

	release      *Transfer     // a pending transfer whose reservations are released first
	releaseState TransferState // what the released hold becomes

	err    error     // why the job was refused
	result *Transfer // set when an idempotent replay answers the job
	dup    *job      // an earlier job of the batch with the same key and request

	keyChecked bool // its idempotency key was looked up
}

// Result is the outcome of one transfer of a batch: the transfer, or why it
// was refused.
type Result struct {
	Transfer Transfer
	Err      error
}

type account struct {
	id           uuid.UUID
	unit         string
	region       string
	status       AccountStatus
	lower, upper decimal.NullDecimal
	bal, pd, pc  decimal.Decimal
	seq          int64
	last         *time.Time
	dirty        bool
	saved        int // the merged batch (1, 2, …) whose checkpoint holds it (runSegments)
}

type engine struct {
	s     *Store
	tx    *pgtx.Tx
	now   time.Time
	accts map[uuid.UUID]*account

	// early asks that new transfers be written before the accounts are
	// locked, in the same round trip (see writeEarly); earlyRegion then
	// holds each transfer so written, with the region it was given.
	early       bool
	earlyRegion map[uuid.UUID]string

	writes writeSet

	// touched and before are the accounts the job being applied touches
	// and their state before it (see apply).
	touched []*account
	before  []account
}

type writeSet struct {
	transfers []*Transfer
	regions   []string // each transfer's region
	hashes    [][]byte
	metas     []*string

	entAcct     []uuid.UUID
	entSeq      []int64
	entTransfer []uuid.UUID
	entPosting  []int64
	entAmount   []decimal.Decimal
	entBalance  []decimal.Decimal
	entAt       []time.Time
	entRegion   []string

	resAcct     []uuid.UUID
	resTransfer []uuid.UUID
	resDebit    []decimal.Decimal
	resCredit   []decimal.Decimal
	resExpires  []*time.Time
	resRegion   []string

	delAcct     []uuid.UUID
	delTransfer []uuid.UUID

	holdID    []uuid.UUID
	holdState []string
	holdBy    []*uuid.UUID
}

// grow makes room in the write set for what jobs may write: a transfer
// each, and an entry for each side of each posting.
func (w *writeSet) grow(jobs []*job) {
	transfers, entries := 0, 0
	for _, j := range jobs {
		if j.t != nil {
			transfers++
			entries += 2 * len(j.t.Postings)
		}
	}
	w.transfers = slices.Grow(w.transfers, transfers)
	w.regions = slices.Grow(w.regions, transfers)
	w.hashes = slices.Grow(w.hashes, transfers)
	w.metas = slices.Grow(w.metas, transfers)
	w.entAcct = slices.Grow(w.entAcct, entries)
	w.entSeq = slices.Grow(w.entSeq, entries)
	w.entTransfer = slices.Grow(w.entTransfer, entries)
	w.entPosting = slices.Grow(w.entPosting, entries)
	w.entAmount = slices.Grow(w.entAmount, entries)
	w.entBalance = slices.Grow(w.entBalance, entries)
	w.entAt = slices.Grow(w.entAt, entries)
	w.entRegion = slices.Grow(w.entRegion, entries)
}

// errExpireFirst aborts an attempt that was refused by holds which are past
// their expiry but not yet released: they are expired and the attempt runs
// again.
type errExpireFirst struct{ holds []uuid.UUID }

func (e *errExpireFirst) Error() string {
	return fmt.Sprintf("%d expired holds to release first", len(e.holds))
}

// execute runs build and the engine in one transaction of their own. In an
// atomic run the first refused job fails the whole transaction and its error
// is returned; in an independent run refused jobs are skipped and reported in
// their job.
func (s *Store) execute(ctx context.Context, atomic bool, build func(e *engine) ([]*job, error), then Then) ([]*job, error) {
	var jobs []*job
	err := s.Within(ctx, func(tx *pgtx.Tx, lt *Tx) error {
		var err error
		jobs, err = lt.execute(ctx, atomic, build)
		if err != nil || then == nil {
			return err
		}
		if w := written(jobs); len(w) > 0 {
			return then(ctx, tx, w)
		}
		return nil
	})
	return jobs, err
}

// Then is called inside the transaction of a change, after the ledger's own
// work and before COMMIT, with the transfers the change wrote: new
// transfers, the transfer that posted a hold, a hold voided. Replays of an
// idempotency key, refused transfers of a batch, repeated voids and holds
// released because they expired are not in it, and Then is not called when
// nothing was written. Its writes commit or roll back with the change; an
// error it returns rolls the change back and is returned. It runs again on
// each attempt of the transaction, so it must write only through tx.
type Then func(ctx context.Context, tx *pgtx.Tx, written []Transfer) error

// written is what a change's jobs wrote, for Then.
func written(jobs []*job) []Transfer {
	var out []Transfer
	for _, j := range jobs {
		switch {
		case j.err != nil || j.result != nil || j.dup != nil:
		case j.t != nil:
			out = append(out, *j.t)
		case j.release != nil && j.releaseState == StateVoided:
			h := *j.release
			h.State = StateVoided
			out = append(out, h)
		}
	}
	return out
}

func (e *engine) run(ctx context.Context, jobs []*job, atomic bool) error {
	if err := e.lock(ctx, jobs); err != nil {
		return err
	}
	e.writes.grow(jobs)
	// Keys are looked up only now, under the account locks: a concurrent
	// request with the same key and content locks the same accounts, so by
	// now it has committed and its transfer is visible (READ COMMITTED reads
	// each statement afresh).
	if err := e.lookupKeys(ctx, jobs); err != nil {
		return err
	}
	if atomic {
		for i, j := range jobs {
			if j.err != nil {
				return errs.At(i, j.err)
			}
		}
	}
	for i, j := range jobs {
		if j.err != nil || j.result != nil || j.dup != nil {
			continue
		}
		if err := e.apply(ctx, j); err != nil {
			var le *Error
			if !errors.As(err, &le) {
				return err
			}
			if atomic {
				return errs.At(i, le)
			}
			j.err = le
		}
	}
	if err := e.write(ctx); err != nil {
		return err
	}
	for _, j := range jobs {
		if first := j.dup; first != nil {
			j.err = first.err
			switch {
			case first.result != nil:
				j.result = first.result
			case first.t != nil && first.err == nil:
				r := *first.t
				r.Replayed = true
				j.result = &r
			}
		}
	}
	return nil
}

// lockAccounts locks the accounts $1 lists (sorted by id) in that order.
// PostgreSQL's planner costs a hundred random lookups above a scan of
// every account up to tens of thousands of accounts, and then reads all of
// them, sorts what it kept and locks; for a batch of 100 transfers that took
// twice as long as looking each id up. A FOR UPDATE subquery is never
// flattened into the join, so here each id is one primary-key lookup, made
// and locked in the order of $1 (which is the global lock order).
var lockAccounts = lockAccountsIn(`unnest($1::uuid[])`)

// lockAccountsIn is the lock of the accounts whose ids the table expression
// from gives, in its order, one primary-key lookup each.
func lockAccountsIn(from string) string {
	return `
SELECT a.id, a.unit, a.status, a.lower_bound, a.upper_bound, a.balance, a.pending_debits, a.pending_credits, a.entry_seq, a.last_entry_at, a.region
FROM ` + from + ` AS k(id),
     LATERAL (SELECT id, unit, status, lower_bound, upper_bound, balance, pending_debits, pending_credits, entry_seq, last_entry_at, region
              FROM accounts WHERE accounts.id = k.id FOR UPDATE) AS a`
}

// lockAccountsAny is the lock on CockroachDB, whose optimizer turns the list
// into primary-key lookups by itself.
const lockAccountsAny = `
SELECT id, unit, status, lower_bound, upper_bound, balance, pending_debits, pending_credits, entry_seq, last_entry_at, region
FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE`

// lockStatement returns the statement and arguments that lock ids (sorted)
// in that order. On PostgreSQL a few accounts (a transaction of single
// transfers, a small batch) are listed as a VALUES list: its row count is
// the same in a generic plan as in a custom one, so PostgreSQL plans the
// statement once per connection and reuses the plan. Planned for an array,
// unnest() is estimated at 100 rows, a cost no custom plan for a few
// accounts ever reaches, so the statement was planned again at every
// execution (pg_prepared_statements: 1,002 custom plans and no generic one
// in 1,002 transactions), and its planning took about a tenth of the
// server's CPU under single transfers from 8 callers (perf).
func (s *Store) lockStatement(ids []uuid.UUID) (string, []any) {
	switch {
	case s.db.CockroachDB():
		return lockAccountsAny, []any{pgUUIDs(ids)}
	case len(ids) > maxLockValues:
		return lockAccounts, []any{pgUUIDs(ids)}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = pgtype.UUID{Bytes: id, Valid: true}
	}
	return lockAccountsValues(len(ids)), args
}

// lock locks every account the jobs touch, in id order.
func (e *engine) lock(ctx context.Context, jobs []*job) error {
	var ids []uuid.UUID
	for _, j := range jobs {
		if j.err != nil || j.result != nil || j.dup != nil {
			continue
		}
		if j.release != nil {
			for _, p := range j.release.Postings {
				ids = append(ids, p.From, p.To)
			}
		}
		if j.t != nil {
			for _, p := range j.t.Postings {
				ids = append(ids, p.From, p.To)
			}
		}
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return compareUUID(a, b) })
	ids = slices.Compact(ids)
	e.accts = make(map[uuid.UUID]*account, len(ids))
	if len(ids) == 0 {
		return nil
	}
	lock, args := e.s.lockStatement(ids)
	var rows pgx.Rows
	var err error
	if b, n := e.writeEarly(jobs); b != nil {
		b.Queue(lock, args...)
		br := e.tx.SendBatch(ctx, b)
		defer br.Close()
		if err := e.readEarly(br, n); err != nil {
			return err
		}
		rows, err = br.Query()
	} else {
		rows, err = e.tx.Query(ctx, lock, args...)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	// One allocation for all the accounts, which live as long as the engine.
	slab := make([]account, 0, len(ids))
	for rows.Next() {
		// pgx's own UUID and a plain string scan without the reflection
		// and text parsing that uuid.UUID and AccountStatus would take: this
		// runs for each of a large batch's accounts, under their locks.
		if len(slab) == cap(slab) {
			return fmt.Errorf("ledger: locked more than the %d accounts asked for", len(ids))
		}
		slab = slab[:len(slab)+1]
		a := &slab[len(slab)-1]
		var id pgtype.UUID
		var status string
		if err := rows.Scan(&id, &a.unit, &status, nullNumeric{&a.lower}, nullNumeric{&a.upper},
			numeric{&a.bal}, numeric{&a.pd}, numeric{&a.pc}, &a.seq, &a.last, &a.region); err != nil {
			return err
		}
		a.id, a.status = id.Bytes, AccountStatus(status)
		e.accts[a.id] = a
	}
	return rows.Err()
}

// insertTransfersEarly writes new transfers before their accounts are
// locked. A transfer's region is its first posting's from account's (the
// empty string for an account that does not exist, whose transfer the
// engine refuses); created_at is the engine's now. Both are checked again
// under the locks. Each region is one primary-key lookup (a scalar
// subquery is never turned into a join, which PostgreSQL's planner would
// make a scan of every account).
const insertTransfersEarly = `
INSERT INTO transfers (id, state, postings, memo, metadata, expires_at, created_at, region)
SELECT t.id, t.state, t.postings::jsonb, t.memo, t.meta::jsonb, t.expires_at, $6,
       COALESCE((SELECT region FROM accounts WHERE accounts.id = t.from_id), '')
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $7::timestamptz[], $8::uuid[])
     AS t(id, state, postings, memo, meta, expires_at, from_id)
RETURNING id, region`

// writeEarly returns, when the engine was asked to (e.early) and can, the
// batch that writes the jobs' transfers before the accounts are locked.
//
// Large batches of transfers between many accounts serialize on the
// accounts' row locks (two batches of a hundred random transfers among ten
// thousand accounts almost always share one), so what a batch does between
// locking its accounts and COMMIT bounds how many batches commit per
// second. The transfer rows need no lock: they reference no account (their
// postings are JSON), and their ids are new. Written first, in the round
// trip that takes the locks, they are out of that window, and so are the
// encoding of their postings in Go and their parsing into JSONB and index
// maintenance in PostgreSQL. What depends on the locked accounts is made
// right under the locks (write): a transfer's time (no earlier than the
// last entry of its accounts) and region, and a refused transfer of an
// independent batch is deleted again.
//
// Only plain new transfers without idempotency keys go first: a key must be
// looked up under the account locks, and a key written first would deadlock
// with a request holding those locks that writes the same key. On
// CockroachDB, whose writes and locks work differently, nothing goes first.
func (e *engine) writeEarly(jobs []*job) (*pgx.Batch, int) {
	if !e.early || e.s.db.CockroachDB() {
		return nil, 0
	}
	var ts []*Transfer
	for _, j := range jobs {
		if j.err != nil {
			continue
		}
		t := j.t
		if t == nil || j.release != nil || j.result != nil || j.dup != nil ||
			t.IdempotencyKey != "" || t.PendingID != nil || t.Reverses != nil || len(t.Postings) == 0 {
			return nil, 0
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return nil, 0
	}
	n := len(ts)
	ids := make([]uuid.UUID, n)
	froms := make([]uuid.UUID, n)
	states := make([]string, n)
	postings := make([]string, n)
	memos := make([]string, n)
	metas := make([]*string, n)
	expires := make([]*time.Time, n)
	for i, t := range ts {
		ids[i], froms[i] = t.ID, t.Postings[0].From
		states[i] = string(t.State)
		postings[i] = string(encodePostings(t.Postings))
		memos[i] = t.Memo
		if len(t.Metadata) > 0 {
			m := string(t.Metadata)
			metas[i] = &m
		}
		expires[i] = t.ExpiresAt
	}
	e.earlyRegion = make(map[uuid.UUID]string, n)
	b := &pgx.Batch{}
	b.Queue(insertTransfersEarly, pgUUIDs(ids), pgTexts(states), pgTexts(postings), pgTexts(memos), pgTextPtrs(metas), e.now, pgTimePtrs(expires), pgUUIDs(froms))
	return b, n
}

// readEarly reads the want transfers insertTransfersEarly wrote.
func (e *engine) readEarly(br pgx.BatchResults, want int) error {
	rows, err := br.Query()
	if err != nil {
		return e.writeError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id pgtype.UUID
		var region string
		if err := rows.Scan(&id, &region); err != nil {
			return err
		}
		e.earlyRegion[id.Bytes] = region
	}
	if err := rows.Err(); err != nil {
		return e.writeError(err)
	}
	if len(e.earlyRegion) != want {
		return fmt.Errorf("ledger: wrote %d transfers before the locks, expected %d", len(e.earlyRegion), want)
	}
	return nil
}

// compareUUID orders UUIDs as PostgreSQL and CockroachDB do: bytewise.
func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// apply applies one job to the locked accounts, or leaves them untouched and
// returns why it is refused.
func (e *engine) apply(ctx context.Context, j *job) error {
	// Remember the touched accounts as they were, to undo a refused job and
	// to describe the refusal. The lists are the engine's, reused from job
	// to job: a large batch applies hundreds of jobs under its locks.
	e.touched, e.before = e.touched[:0], e.before[:0]
	undo := func() {
		for i, a := range e.touched {
			*a = e.before[i]
		}
	}

	if h := j.release; h != nil {
		for _, p := range h.Postings {
			from, to := e.touch(p.From), e.touch(p.To)
			if from == nil || to == nil {
				undo()
				return fmt.Errorf("ledger: hold %s names a missing account", h.ID)
			}
			from.pd = from.pd.Sub(p.Amount)
			to.pc = to.pc.Sub(p.Amount)
		}
	}
	if t := j.t; t != nil {
		for i, p := range t.Postings {
			from, to := e.touch(p.From), e.touch(p.To)
			err := usable(from, p.From, p.Unit, i, "from")
			if err == nil {
				err = usable(to, p.To, p.Unit, i, "to")
			}
			if err != nil {
				undo()
				return err
			}
			if t.State == StatePending {
				from.pd = from.pd.Add(p.Amount)
				to.pc = to.pc.Add(p.Amount)
			} else {
				from.bal = from.bal.Sub(p.Amount)
				to.bal = to.bal.Add(p.Amount)
			}
		}
	}
	for i, a := range e.touched {
		if err := e.checkBounds(ctx, a, e.before[i]); err != nil {
			undo()
			return err
		}
	}
	e.record(j)
	return nil
}

// touch returns the locked account id (nil if there is none), first
// noting it and its state in the job's touched and before lists.
func (e *engine) touch(id uuid.UUID) *account {
	a := e.accts[id]
	if a == nil || slices.Contains(e.touched, a) {
		return a
	}
	e.touched = append(e.touched, a)
	e.before = append(e.before, *a)
	return a
}

// usable checks that an account exists, counts unit and is open; side names
// the posting's side for the error.
func usable(a *account, id uuid.UUID, unit string, posting int, side string) error {
	if a != nil && a.unit == unit && a.status == StatusOpen {
		return nil
	}
	field := fmt.Sprintf("postings[%d].%s", posting, side)
	if a == nil {
		e := unknownAccount(id)
		e.Field = field
		return e
	}
	if a.unit != unit {
		e := newError(EINVALID, ReasonUnitMismatch, "%s: account %s counts %s, not %s", field, id, a.unit, unit)
		e.Field, e.Account, e.Unit = field, id, unit
		return e
	}
	switch a.status {
	case StatusFrozen:
		e := newError(EREFUSED, ReasonAccountFrozen, "%s: account %s is frozen", field, id)
		e.Field, e.Account = field, id
		return e
	case StatusClosed:
		e := newError(EREFUSED, ReasonAccountClosed, "%s: account %s is closed", field, id)
		e.Field, e.Account = field, id
		return e
	}
	return nil
}

// checkBounds checks an account after a job against its bounds, counting
// pending debits against the lower bound and pending credits against the
// upper one. When the account has open holds, a refusal first checks whether
// some of them are past their expiry: those are released and the request is
// tried again, so that an expired reservation never blocks a transfer.
func (e *engine) checkBounds(ctx context.Context, a *account, was account) error {
	var err *Error
	if a.lower.Valid && a.bal.Sub(a.pd).LessThan(a.lower.Decimal) {
		avail := was.bal.Sub(was.pd).Sub(a.lower.Decimal)
		asked := was.bal.Sub(was.pd).Sub(a.bal.Sub(a.pd))
		err = newError(EREFUSED, ReasonInsufficientFunds, "account %s has %s %s available, and the transfer asks for %s", a.id, avail, a.unit, asked)
		err.Available, err.Requested = &avail, &asked
	} else if a.upper.Valid && a.bal.Add(a.pc).GreaterThan(a.upper.Decimal) {
		room := a.upper.Decimal.Sub(was.bal.Add(was.pc))
		given := a.bal.Add(a.pc).Sub(was.bal.Add(was.pc))
		err = newError(EREFUSED, ReasonLimitExceeded, "account %s can take %s %s more, and the transfer gives it %s", a.id, room, a.unit, given)
		err.Available, err.Requested = &room, &given
	}
	if err == nil {
		return nil
	}
	err.Account, err.Unit = a.id, a.unit
	if was.pd.Sign() > 0 || was.pc.Sign() > 0 {
		due, qerr := e.dueHolds(ctx, a.id)
		if qerr != nil {
			return qerr
		}
		if len(due) > 0 {
			return &errExpireFirst{holds: due}
		}
	}
	return err
}

// dueHolds lists the holds on an account that are past their expiry but
// still reserve.
func (e *engine) dueHolds(ctx context.Context, account uuid.UUID) ([]uuid.UUID, error) {
	rows, err := e.tx.Query(ctx, `SELECT transfer_id FROM reservations WHERE account_id = $1 AND expires_at <= $2`, account, e.now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// record adds the writes of an applied job to the write set; e.touched and
// e.before are the accounts it touched and their state before it.
func (e *engine) record(j *job) {
	w := &e.writes
	touched := e.touched
	for _, a := range touched {
		a.dirty = true
	}
	if h := j.release; h != nil {
		for _, id := range reservationAccounts(h.Postings) {
			w.delAcct = append(w.delAcct, id)
			w.delTransfer = append(w.delTransfer, h.ID)
		}
		w.holdID = append(w.holdID, h.ID)
		w.holdState = append(w.holdState, string(j.releaseState))
		if j.t != nil {
			id := j.t.ID
			w.holdBy = append(w.holdBy, &id)
		} else {
			w.holdBy = append(w.holdBy, nil)
		}
	}
	t := j.t
	if t == nil {
		return
	}
	// A transfer takes effect no earlier than the last entry of any account
	// it touches, so that each account's entries keep time order even when
	// clocks of several servers disagree.
	at := e.now
	for _, a := range touched {
		if a.last != nil && a.last.After(at) {
			at = *a.last
		}
	}
	t.CreatedAt = at
	// A transfer lives where the value leaves from: the region of its first
	// posting's from account (apply has checked that it exists).
	w.transfers = append(w.transfers, t)
	w.regions = append(w.regions, e.accts[t.Postings[0].From].region)
	w.hashes = append(w.hashes, j.hash)
	if len(t.Metadata) > 0 {
		m := string(t.Metadata)
		w.metas = append(w.metas, &m)
	} else {
		w.metas = append(w.metas, nil)
	}
	if t.State == StatePending {
		debit := make(map[uuid.UUID]decimal.Decimal)
		credit := make(map[uuid.UUID]decimal.Decimal)
		for _, p := range t.Postings {
			debit[p.From] = debit[p.From].Add(p.Amount)
			credit[p.To] = credit[p.To].Add(p.Amount)
		}
		for _, id := range reservationAccounts(t.Postings) {
			w.resAcct = append(w.resAcct, id)
			w.resTransfer = append(w.resTransfer, t.ID)
			w.resDebit = append(w.resDebit, debit[id])
			w.resCredit = append(w.resCredit, credit[id])
			w.resExpires = append(w.resExpires, t.ExpiresAt)
			w.resRegion = append(w.resRegion, e.accts[id].region)
		}
		return
	}
	// Entries, one per side of each posting, with the running balance:
	// the touched accounts' balances before the transfer, moved by each
	// entry in turn (e.before, reused: the job is applied).
	for i, p := range t.Postings {
		for _, side := range [2]struct {
			id  uuid.UUID
			amt decimal.Decimal
		}{{p.From, p.Amount.Neg()}, {p.To, p.Amount}} {
			a := e.accts[side.id]
			run := &e.before[slices.Index(touched, a)].bal
			*run = run.Add(side.amt)
			a.seq++
			a.last = &at
			w.entAcct = append(w.entAcct, side.id)
			w.entSeq = append(w.entSeq, a.seq)
			w.entTransfer = append(w.entTransfer, t.ID)
			w.entPosting = append(w.entPosting, int64(i))
			w.entAmount = append(w.entAmount, side.amt)
			w.entBalance = append(w.entBalance, *run)
			w.entAt = append(w.entAt, at)
			w.entRegion = append(w.entRegion, a.region)
		}
	}
}

// reservationAccounts lists, once each and in order of appearance, the
// accounts that a hold's postings reserve on.
func reservationAccounts(ps []Posting) []uuid.UUID {
	var ids []uuid.UUID
	seen := make(map[uuid.UUID]bool)
	for _, p := range ps {
		for _, id := range [2]uuid.UUID{p.From, p.To} {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

const (
	insertTransfers = `
INSERT INTO transfers (id, idempotency_key, request_hash, state, postings, memo, metadata, pending_id, reverses, expires_at, created_at, region)
SELECT t.id, t.key, t.hash, t.state, t.postings::jsonb, t.memo, t.meta::jsonb, t.pending_id, t.reverses, t.expires_at, t.created_at, t.region
FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[], $8::uuid[], $9::uuid[], $10::timestamptz[], $11::timestamptz[], $12::text[])
     AS t(id, key, hash, state, postings, memo, meta, pending_id, reverses, expires_at, created_at, region)`

	insertEntries = `
INSERT INTO entries (account_id, seq, transfer_id, posting, amount, balance_after, posted_at, region)
SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::bigint[], $5::numeric[], $6::numeric[], $7::timestamptz[], $8::text[])`

	insertReservations = `
INSERT INTO reservations (account_id, transfer_id, debit, credit, expires_at, region)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::numeric[], $4::numeric[], $5::timestamptz[], $6::text[])`

	deleteReservations = `
DELETE FROM reservations USING unnest($1::uuid[], $2::uuid[]) AS r(account_id, transfer_id)
WHERE reservations.account_id = r.account_id AND reservations.transfer_id = r.transfer_id`

	resolveHolds = `
UPDATE transfers SET state = h.state, resolved_by = h.resolved_by, resolved_at = $4
FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS h(id, state, resolved_by)
WHERE transfers.id = h.id AND transfers.state = 'pending'`

	// The id = ANY($1) beside the join lets PostgreSQL find the rows
	// through the primary key (a bitmap scan) rather than hash-joining every
	// account: a third less time for the 200 accounts of a batch of 100,
	// under the locks.
	updateAccounts = `
UPDATE accounts SET balance = a.balance, pending_debits = a.pd, pending_credits = a.pc,
                    entry_seq = a.seq, last_entry_at = a.last
FROM unnest($1::uuid[], $2::numeric[], $3::numeric[], $4::numeric[], $5::bigint[], $6::timestamptz[])
     AS a(id, balance, pd, pc, seq, last)
WHERE accounts.id = a.id AND accounts.id = ANY($1)`
)

// write queues the write set as one pipelined batch, sent with COMMIT. The
// new balances are absolute values computed under the row locks this
// transaction holds.
func (e *engine) write(ctx context.Context) error {
	w := &e.writes
	b := &pgx.Batch{}
	type check struct {
		what string
		want int
	}
	var checks []check
	if e.earlyRegion != nil {
		e.writeEarlyFixes(b, func(what string, n int) { checks = append(checks, check{what, n}) })
	} else if n := len(w.transfers); n > 0 {
		ids := make([]uuid.UUID, n)
		keys := make([]*string, n)
		states := make([]string, n)
		postings := make([]string, n)
		memos := make([]string, n)
		pendings := make([]*uuid.UUID, n)
		reverses := make([]*uuid.UUID, n)
		expires := make([]*time.Time, n)
		created := make([]time.Time, n)
		hashes := make([][]byte, n)
		regions := w.regions
		for i, t := range w.transfers {
			ids[i] = t.ID
			if t.IdempotencyKey != "" {
				k := t.IdempotencyKey
				keys[i] = &k
				hashes[i] = w.hashes[i]
			}
			states[i] = string(t.State)
			postings[i] = string(encodePostings(t.Postings))
			memos[i] = t.Memo
			pendings[i] = t.PendingID
			reverses[i] = t.Reverses
			expires[i] = t.ExpiresAt
			created[i] = t.CreatedAt
		}
		pgIDs, pgPendings, pgReverses, pgExpires := pgUUIDs(ids), pgUUIDPtrs(pendings), pgUUIDPtrs(reverses), pgTimePtrs(expires)
		if n <= maxValuesRows {
			args := make([]any, 0, n*len(transferTypes))
			for i := range n {
				args = append(args, pgIDs[i], keys[i], hashes[i], states[i], postings[i], memos[i], w.metas[i],
					pgPendings[i], pgReverses[i], pgExpires[i], created[i], regions[i])
			}
			b.Queue(insertTransfersValues(n), args...)
		} else {
			b.Queue(insertTransfers, pgIDs, pgTextPtrs(keys), flat(hashes), pgTexts(states), pgTexts(postings), pgTexts(memos), pgTextPtrs(w.metas), pgPendings, pgReverses, pgExpires, pgTimes(created), pgTexts(regions))
		}
		checks = append(checks, check{"transfers", n})
	}
	if n := len(w.entAcct); n > 0 {
		if n <= maxValuesRows {
			args := make([]any, 0, n*len(entryTypes))
			for i := range n {
				args = append(args, pgtype.UUID{Bytes: w.entAcct[i], Valid: true}, w.entSeq[i],
					pgtype.UUID{Bytes: w.entTransfer[i], Valid: true}, w.entPosting[i],
					pgNumeric(w.entAmount[i]), pgNumeric(w.entBalance[i]), w.entAt[i], w.entRegion[i])
			}
			b.Queue(insertEntriesValues(n), args...)
		} else {
			b.Queue(insertEntries, pgUUIDs(w.entAcct), pgInt8s(w.entSeq), pgUUIDs(w.entTransfer), pgInt8s(w.entPosting), numericArray(w.entAmount), numericArray(w.entBalance), pgTimes(w.entAt), pgTexts(w.entRegion))
		}
		checks = append(checks, check{"entries", n})
	}
	if n := len(w.resAcct); n > 0 {
		b.Queue(insertReservations, pgUUIDs(w.resAcct), pgUUIDs(w.resTransfer), numericArray(w.resDebit), numericArray(w.resCredit), pgTimePtrs(w.resExpires), pgTexts(w.resRegion))
		checks = append(checks, check{"reservations", n})
	}
	if n := len(w.delAcct); n > 0 {
		b.Queue(deleteReservations, pgUUIDs(w.delAcct), pgUUIDs(w.delTransfer))
		checks = append(checks, check{"released reservations", n})
	}
	if n := len(w.holdID); n > 0 {
		b.Queue(resolveHolds, pgUUIDs(w.holdID), pgTexts(w.holdState), pgUUIDPtrs(w.holdBy), e.now)
		checks = append(checks, check{"resolved holds", n})
	}
	var ids []uuid.UUID
	var bals, pds, pcs []decimal.Decimal
	var seqs []int64
	var lasts []*time.Time
	for _, a := range e.accts {
		if a.dirty {
			ids = append(ids, a.id)
			bals = append(bals, a.bal)
			pds = append(pds, a.pd)
			pcs = append(pcs, a.pc)
			seqs = append(seqs, a.seq)
			lasts = append(lasts, a.last)
		}
	}
	if len(ids) > 0 {
		if n := len(ids); n <= maxValuesRows {
			pgLasts := pgTimePtrs(lasts)
			args := make([]any, 0, n*len(accountTypes))
			for i := range n {
				args = append(args, pgtype.UUID{Bytes: ids[i], Valid: true}, pgNumeric(bals[i]), pgNumeric(pds[i]),
					pgNumeric(pcs[i]), seqs[i], pgLasts[i])
			}
			b.Queue(updateAccountsValues(n), args...)
		} else {
			b.Queue(updateAccounts, pgUUIDs(ids), numericArray(bals), numericArray(pds), numericArray(pcs), pgInt8s(seqs), pgTimePtrs(lasts))
		}
		checks = append(checks, check{"accounts", len(ids)})
	}
	if b.Len() == 0 {
		return nil
	}
	// The writes travel with COMMIT, in the transaction's last round trip.
	e.tx.Defer(b, func(br pgx.BatchResults) error {
		for _, c := range checks {
			tag, err := br.Exec()
			if err != nil {
				return e.writeError(err)
			}
			if int(tag.RowsAffected()) != c.want {
				return fmt.Errorf("ledger: wrote %d %s, expected %d", tag.RowsAffected(), c.what, c.want)
			}
		}
		return nil
	})
	return nil
}

const (
	// deleteTransfers deletes transfers written before the locks that the
	// engine then refused.
	deleteTransfers = `DELETE FROM transfers WHERE id = ANY($1)`

	// fixTransfers sets the time and region, found under the locks, of
	// transfers written before them.
	fixTransfers = `
UPDATE transfers SET created_at = f.created_at, region = f.region
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS f(id, created_at, region)
WHERE transfers.id = f.id`
)

// writeEarlyFixes queues what makes the transfers written before the locks
// (writeEarly) what the engine decided under them: the refused ones are
// deleted, and the others' time and region set where they differ from what
// was written. Neither happens in the common case (every transfer applied,
// no clock behind an account's last entry, no account moved to another
// region meanwhile), which costs nothing here. check records each queued
// statement's expected row count.
func (e *engine) writeEarlyFixes(b *pgx.Batch, check func(what string, n int)) {
	w := &e.writes
	kept := make(map[uuid.UUID]struct{}, len(w.transfers))
	var ids []uuid.UUID
	var ats []time.Time
	var regions []string
	for i, t := range w.transfers {
		kept[t.ID] = struct{}{}
		if !t.CreatedAt.Equal(e.now) || w.regions[i] != e.earlyRegion[t.ID] {
			ids = append(ids, t.ID)
			ats = append(ats, t.CreatedAt)
			regions = append(regions, w.regions[i])
		}
	}
	var refused []uuid.UUID
	for id := range e.earlyRegion {
		if _, ok := kept[id]; !ok {
			refused = append(refused, id)
		}
	}
	if len(refused) > 0 {
		b.Queue(deleteTransfers, pgUUIDs(refused))
		check("refused transfers deleted", len(refused))
	}
	if len(ids) > 0 {
		b.Queue(fixTransfers, pgUUIDs(ids), pgTimes(ats), pgTexts(regions))
		check("transfers' times and regions", len(ids))
	}
}

// writeError interprets a failed write. A concurrent transaction that
// committed the same idempotency key first makes this attempt retry: the next
// one finds that transfer and answers with it.
func (e *engine) writeError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "transfers_idempotency_key" {
		return pgtx.Retry(err)
	}
	return err
}

// lookupKeys resolves the idempotency keys of jobs: a key already used with
// the same request answers the job with the stored transfer; with another
// request, it refuses the job. A key repeated within the batch makes the later
// jobs follow the first.
func (e *engine) lookupKeys(ctx context.Context, jobs []*job) error {
	first := make(map[string]int)
	var keys []string
	for i, j := range jobs {
		if j.err != nil || j.result != nil || j.dup != nil || j.keyChecked || j.t == nil || j.t.IdempotencyKey == "" {
			continue
		}
		j.keyChecked = true
		k := j.t.IdempotencyKey
		if f, ok := first[k]; ok {
			if string(jobs[f].hash) != string(j.hash) {
				j.err = idempotencyConflict(k)
			} else {
				j.dup = jobs[f]
			}
			continue
		}
		first[k] = i
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	rows, err := e.tx.Query(ctx, `SELECT `+transferColumns+` FROM transfers WHERE idempotency_key = ANY($1)`, keys)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var hash []byte
		t, err := scanTransfer(rows, &hash)
		if err != nil {
			return err
		}
		i := first[t.IdempotencyKey]
		if string(hash) != string(jobs[i].hash) {
			jobs[i].err = idempotencyConflict(t.IdempotencyKey)
			continue
		}
		t.Replayed = true
		jobs[i].result = &t
	}
	return rows.Err()
}

func idempotencyConflict(key string) *Error {
	e := newError(ECONFLICT, ReasonIdempotencyConflict, "idempotency key %q was already used for a different request", key)
	e.Field = "idempotency_key"
	return e
}
