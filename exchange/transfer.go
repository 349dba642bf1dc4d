package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/ledger"
)

// Plain transfers and holds, for a principal: each method below decides
// whether p may, then asks the ledger. The rules, in the order they are
// checked:
//
//  1. p moves value only out of accounts p may move from
//     (Principal.MayMoveFrom): an account p may not even see is answered as
//     one that does not exist (ledger.ErrUnknownAccount, Field set), one p
//     may see but not move from is ErrForbidden (Field set).
//  2. A fund's account takes no plain transfer, in or out (ErrFundAccount):
//     its money moves only by the fund's contributions and disbursements,
//     which write the fund's book in the same transaction.
//  3. A transfer that an agreement, a trade, a fund, an obligation's payment
//     or a clearing run made is changed only through them (ErrManagedTransfer), as this package's own tables record;
//     what a client wrote in a transfer's metadata has no say.

// ReasonFundAccount and ReasonManagedTransfer are the reasons of rules 2 and
// 3 above.
const (
	ReasonFundAccount     ledger.Reason = "fund_account"
	ReasonManagedTransfer ledger.Reason = "managed_transfer"
)

var (
	// ErrFundAccount is returned when a plain transfer names a fund's
	// account, in or out: a fund's money moves only by Contribute and
	// Disburse. Field names the posting's side.
	ErrFundAccount = &ledger.Error{Code: ledger.EINVALID, Reason: ReasonFundAccount}
	// ErrManagedTransfer is returned when a transfer made by an agreement, a
	// trade, a fund, an obligation's payment or a clearing run is posted,
	// voided or reversed by hand: the record that made it would then say
	// otherwise.
	ErrManagedTransfer = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonManagedTransfer}
)

// unknownAccount is the error for an account that does not exist or that
// the principal may not see: the two are answered alike. field names the
// input that named it, if any.
func unknownAccount(id uuid.UUID, field string) *ledger.Error {
	e := newError(ledger.ENOTFOUND, ledger.ReasonUnknownAccount, "unknown account %s", id)
	e.Field = field
	return e
}

// unknownTransfer is the error for a transfer that does not exist or that
// the principal may not see.
func unknownTransfer(id uuid.UUID) *ledger.Error {
	return newError(ledger.ENOTFOUND, ledger.ReasonUnknownTransfer, "unknown transfer %s", id)
}

// hidden reports whether an authorization error means "may not see".
func hidden(err error) bool {
	var le *ledger.Error
	return errors.As(err, &le) && le.Code == ledger.ENOTFOUND
}

// isForbidden reports whether an authorization error means "may see, may
// not do".
func isForbidden(err error) bool {
	var le *ledger.Error
	return errors.As(err, &le) && le.Code == EFORBIDDEN
}

// accountRefs returns the accounts with the given ids that exist, by id,
// with only what never changes about them filled in (id, unit, owner,
// kind), from the ledger's in-process cache: enough to decide who may.
func (s *Store) accountRefs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]ledger.Account, error) {
	refs, err := s.led.AccountRefs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]ledger.Account, len(refs))
	for id, r := range refs {
		out[id] = ledger.Account{ID: r.ID, Unit: r.Unit, Owner: r.Owner, Kind: r.Kind}
	}
	return out, nil
}

// mayMoveFrom checks that p may move value out of account id (found in
// accs): ledger.ErrUnknownAccount, as for an account that does not exist,
// when p may not even see it; ErrForbidden when p may see it but not move
// from it. shown says that p was shown the account already (it is in a
// transfer p may read), so that ErrForbidden is the answer either way.
// field names the input that named the account.
func (s *Store) mayMoveFrom(ctx context.Context, p Principal, accs map[uuid.UUID]ledger.Account, id uuid.UUID, field string, shown bool) error {
	acc, ok := accs[id]
	if !ok {
		return unknownAccount(id, field)
	}
	err := s.CanMoveFrom(ctx, p, acc)
	switch {
	case err == nil:
		return nil
	case hidden(err) && !shown:
		return unknownAccount(id, field)
	case hidden(err) || isForbidden(err):
		e := forbiddenBecause(fmt.Sprintf("you may not move value out of account %s", id))
		e.Field = field
		return e
	}
	return err
}

// mayMoveAll checks rules 1 and 2 for every posting of a transfer request.
func (s *Store) mayMoveAll(ctx context.Context, p Principal, accs map[uuid.UUID]ledger.Account, ps []ledger.Posting) error {
	for i, ps := range ps {
		if err := s.mayMoveFrom(ctx, p, accs, ps.From, fmt.Sprintf("postings[%d].from", i), false); err != nil {
			return err
		}
		for _, side := range []struct {
			name string
			id   uuid.UUID
		}{{"from", ps.From}, {"to", ps.To}} {
			if acc, ok := accs[side.id]; ok && acc.Kind == ledger.KindFund {
				e := newError(ledger.EINVALID, ReasonFundAccount,
					"account %s is a fund's: money moves in and out of a fund only by the fund's contributions and grant disbursements", side.id)
				e.Field = fmt.Sprintf("postings[%d].%s", i, side.name)
				return e
			}
		}
	}
	return nil
}

func postingAccounts(reqs ...ledger.TransferRequest) []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range reqs {
		for _, p := range r.Postings {
			ids = append(ids, p.From, p.To)
		}
	}
	return ids
}

// Transfer writes one transfer, or a hold when req.Pending, for p. It
// returns ledger.ErrUnknownAccount (Field names the posting) for a from
// account p may not see, ErrForbidden (Field set) for one p may see but not
// move from, ErrFundAccount, ErrUnauthenticated for a zero Principal, and
// the ledger's refusals (see ledger.Store.CreateTransfer).
func (s *Store) Transfer(ctx context.Context, p Principal, req ledger.TransferRequest) (ledger.Transfer, error) {
	accs, err := s.accountRefs(ctx, postingAccounts(req))
	if err != nil {
		return ledger.Transfer{}, err
	}
	if err := s.mayMoveAll(ctx, p, accs, req.Postings); err != nil {
		return ledger.Transfer{}, err
	}
	return s.led.CreateTransferThen(ctx, req, s.auditThen(p, "transfer.created", accs, nil))
}

// Transfers writes many transfers for p in one database transaction, each
// checked as Transfer checks one. Atomic: all are written, or none and the
// error is the first refusal, placed at its position in reqs (errs.At).
// Not atomic: each stands alone, and the results say, in order, what was
// written or why not; the error is then only for a failure of the whole
// batch (the database's).
func (s *Store) Transfers(ctx context.Context, p Principal, reqs []ledger.TransferRequest, atomic bool) ([]ledger.Result, error) {
	accs, err := s.accountRefs(ctx, postingAccounts(reqs...))
	if err != nil {
		return nil, err
	}
	if atomic {
		for i, r := range reqs {
			if err := s.mayMoveAll(ctx, p, accs, r.Postings); err != nil {
				return nil, errs.At(i, err)
			}
		}
		return s.led.CreateTransfersThen(ctx, reqs, true, s.auditThen(p, "transfer.created", accs, nil))
	}
	results := make([]ledger.Result, len(reqs))
	var allowed []ledger.TransferRequest
	var positions []int // positions[j] is the index in reqs of allowed[j]
	for i, r := range reqs {
		if err := s.mayMoveAll(ctx, p, accs, r.Postings); err != nil {
			var le *ledger.Error
			if !errors.As(err, &le) || le.Code == ledger.EINTERNAL {
				return nil, err
			}
			results[i].Err = err
			continue
		}
		allowed = append(allowed, r)
		positions = append(positions, i)
	}
	if len(allowed) == 0 {
		return results, nil
	}
	res, err := s.led.CreateTransfersThen(ctx, allowed, false, s.auditThen(p, "transfer.created", accs, nil))
	if err != nil {
		return nil, err
	}
	for j, x := range res {
		results[positions[j]] = x
	}
	return results, nil
}

// TransferFor returns a transfer p may see: one that touches an account p
// may read. A transfer that does not exist or that p may not see is
// ledger.ErrUnknownTransfer.
func (s *Store) TransferFor(ctx context.Context, p Principal, id uuid.UUID) (ledger.Transfer, error) {
	t, _, err := s.readableTransfer(ctx, p, id)
	return t, err
}

// TransfersFor is TransferFor for many transfers at once, in a constant
// number of round trips whatever their number: the transfers among ids
// that p may read (those touching an account p may read), by id. One that
// does not exist or that p may not read is left out, as TransferFor
// answers ErrUnknownTransfer for both. It returns ErrUnauthenticated for a
// zero Principal, or a database error.
func (s *Store) TransfersFor(ctx context.Context, p Principal, ids []uuid.UUID) (map[uuid.UUID]ledger.Transfer, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	ts, err := s.led.Transfers(ctx, ids)
	if err != nil {
		return nil, err
	}
	var accIDs []uuid.UUID
	for _, t := range ts {
		for _, ps := range t.Postings {
			accIDs = append(accIDs, ps.From, ps.To)
		}
	}
	accs, err := s.accountRefs(ctx, accIDs)
	if err != nil {
		return nil, err
	}
	// Who may read an account is decided once per account, as
	// readableTransfer decides it for each transfer.
	readable := map[uuid.UUID]bool{}
	mayRead := func(id uuid.UUID) (bool, error) {
		if ok, seen := readable[id]; seen {
			return ok, nil
		}
		acc, ok := accs[id]
		if !ok {
			readable[id] = false
			return false, nil
		}
		err := s.CanReadAccount(ctx, p, acc)
		if err != nil && !hidden(err) {
			return false, err
		}
		readable[id] = err == nil
		return err == nil, nil
	}
	out := make(map[uuid.UUID]ledger.Transfer, len(ts))
	for id, t := range ts {
		for _, ps := range t.Postings {
			from, err := mayRead(ps.From)
			if err != nil {
				return nil, err
			}
			to, err := mayRead(ps.To)
			if err != nil {
				return nil, err
			}
			if from || to {
				out[id] = t
				break
			}
		}
	}
	return out, nil
}

// readableTransfer is TransferFor, with the accounts the transfer touches.
func (s *Store) readableTransfer(ctx context.Context, p Principal, id uuid.UUID) (ledger.Transfer, map[uuid.UUID]ledger.Account, error) {
	t, err := s.led.Transfer(ctx, id)
	if errors.Is(err, ledger.ErrUnknownTransfer) {
		return ledger.Transfer{}, nil, unknownTransfer(id)
	}
	if err != nil {
		return ledger.Transfer{}, nil, err
	}
	var ids []uuid.UUID
	for _, ps := range t.Postings {
		ids = append(ids, ps.From, ps.To)
	}
	accs, err := s.accountRefs(ctx, ids)
	if err != nil {
		return ledger.Transfer{}, nil, err
	}
	for _, acc := range accs {
		err := s.CanReadAccount(ctx, p, acc)
		if err == nil {
			return t, accs, nil
		}
		if !hidden(err) {
			return ledger.Transfer{}, nil, err
		}
	}
	return ledger.Transfer{}, nil, unknownTransfer(id)
}

// changeable loads a transfer p may see, refuses it when an agreement, a
// trade or a fund made it, and checks that p may move value out of each
// account of the side given ("from" for a hold's postings, "to" for a
// reversal, which moves the value back).
func (s *Store) changeable(ctx context.Context, p Principal, id uuid.UUID, side string) (ledger.Transfer, map[uuid.UUID]ledger.Account, error) {
	t, accs, err := s.readableTransfer(ctx, p, id)
	if err != nil {
		return ledger.Transfer{}, nil, err
	}
	if err := s.managed(ctx, t.ID); err != nil {
		return ledger.Transfer{}, nil, err
	}
	for _, ps := range t.Postings {
		acc := ps.From
		if side == "to" {
			acc = ps.To
		}
		if err := s.mayMoveFrom(ctx, p, accs, acc, "", true); err != nil {
			return ledger.Transfer{}, nil, err
		}
	}
	return t, accs, nil
}

// managedBy finds what made a transfer, in the exchange's own tables: an
// agreement's hold or the transfer that posted it, a trade's transfer, a
// fund's movement, an obligation's payment, a clearing run's transfer. Each
// column is unique, hence indexed.
const managedBy = `
SELECT 'agreement', id FROM agreements WHERE hold_id = $1
UNION ALL SELECT 'agreement', id FROM agreements WHERE transfer_id = $1
UNION ALL SELECT 'trade', id FROM trades WHERE transfer_id = $1
UNION ALL SELECT 'fund', fund_id FROM fund_movements WHERE transfer_id = $1
UNION ALL SELECT 'obligation', obligation_id FROM obligation_settlements WHERE transfer_id = $1
UNION ALL SELECT 'clearing run', id FROM clearing_runs WHERE transfer_id = $1
LIMIT 1`

// managed returns ErrManagedTransfer when an agreement, a trade, a fund, an
// obligation's payment or a clearing run made transfer id. These rows are written in the transaction that writes
// the transfer, so whoever can see the transfer can see them, and they are
// never removed: the answer cannot change between this read and the write.
func (s *Store) managed(ctx context.Context, id uuid.UUID) error {
	var kind string
	var owner uuid.UUID
	err := s.db.Pool.QueryRow(ctx, managedBy, id).Scan(&kind, &owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	how := map[string]string{
		"agreement":    "through the agreement (confirm, cancel, dispute)",
		"trade":        "through the trade",
		"fund":         "through the fund",
		"obligation":   "by paying the obligation",
		"clearing run": "with a new clearing run",
	}[kind]
	return newError(ledger.ECONFLICT, ReasonManagedTransfer, "transfer %s belongs to %s %s; change it %s", id, kind, owner, how)
}

// PostHold posts a hold for p, in full or (r.Amounts, one per posting) in
// part, and returns the transfer that moved the value; posting nothing
// (every amount zero) voids the hold, and the hold is returned as it now is.
// p needs the right to move value out of the hold's from accounts. It
// returns ledger.ErrUnknownTransfer for a hold p may not see, ErrForbidden,
// ErrManagedTransfer, and the ledger's refusals (see
// ledger.Store.PostPending).
func (s *Store) PostHold(ctx context.Context, p Principal, id uuid.UUID, r ledger.PostRequest) (ledger.Transfer, error) {
	hold, accs, err := s.changeable(ctx, p, id, "from")
	if err != nil {
		return ledger.Transfer{}, err
	}
	t, err := s.led.PostPendingThen(ctx, hold.ID, r, s.auditThen(p, "hold.posted", accs, nil))
	if err != nil {
		return ledger.Transfer{}, err
	}
	if t.ID == hold.ID {
		// Nothing posted: the hold is voided. The ledger returns the hold as
		// it was before, so read it again.
		return s.led.Transfer(ctx, hold.ID)
	}
	return t, nil
}

// VoidHold voids a hold for p: its reservations are released and nothing
// moves. p needs the right to move value out of the hold's from accounts.
// Its errors are PostHold's, with ledger.Store.VoidPending's refusals.
func (s *Store) VoidHold(ctx context.Context, p Principal, id uuid.UUID) (ledger.Transfer, error) {
	hold, accs, err := s.changeable(ctx, p, id, "from")
	if err != nil {
		return ledger.Transfer{}, err
	}
	return s.led.VoidPendingThen(ctx, hold.ID, s.auditThen(p, "hold.voided", accs, nil))
}

// Reverse writes, for p, the transfer that undoes a posted one. Since the
// reversal moves value back out of the original's to accounts, p needs the
// right to move value out of those. Its errors are PostHold's, with
// ledger.Store.Reverse's refusals.
func (s *Store) Reverse(ctx context.Context, p Principal, id uuid.UUID, r ledger.ReverseRequest) (ledger.Transfer, error) {
	orig, accs, err := s.changeable(ctx, p, id, "to")
	if err != nil {
		return ledger.Transfer{}, err
	}
	return s.led.ReverseThen(ctx, orig.ID, r, s.auditThen(p, "transfer.reversed", accs, map[string]any{"reverses": orig.ID}))
}
