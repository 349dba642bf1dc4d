package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/journal"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// MaxStatementEntries bounds the entries of one statement. A statement is
// a report read in one snapshot, so it is not paginated (pages read at
// different instants could disagree with the balances); a period with more
// entries is refused with ErrStatementTooLarge, and the client asks for
// shorter periods.
const MaxStatementEntries = 5000

// ReasonStatementTooLarge is the reason of ErrStatementTooLarge.
const ReasonStatementTooLarge ledger.Reason = "statement_too_large"

// ErrStatementTooLarge: the period holds more than MaxStatementEntries
// entries.
var ErrStatementTooLarge = &ledger.Error{Code: ledger.EINVALID, Reason: ReasonStatementTooLarge}

// Statement is what an organization's accounts did over a period [From,
// To): for each account, its balance when the period opened, every entry in
// it with the balance after it, and its balance when the period closed.
type Statement struct {
	Org      Org
	From, To time.Time // From is zero for a statement from the beginning
	// Subtree is set on a statement of the organization's whole subtree
	// (SubtreeStatement): the accounts and obligations of every
	// organization under it too, each naming its organization.
	Subtree  bool
	Accounts []StatementAccount
	// Obligations are what the organization was owed and owed at To, off
	// the ledger: the obligations recorded before To and not disputed,
	// with what was outstanding at To (their amount less the payments and
	// clearings made before it), those with nothing outstanding left out;
	// by unit, then due date.
	Obligations []StatementObligation
}

// StatementObligation is one open obligation of a statement, seen from the
// organization: Receivable when it is the creditor, payable otherwise.
type StatementObligation struct {
	ID               uuid.UUID
	OrgID            uuid.UUID // the organization of the statement's subtree it is seen from
	Receivable       bool
	Counterparty     uuid.UUID // the other organization
	CounterpartyName string
	Unit             string
	Amount           decimal.Decimal
	Outstanding      decimal.Decimal // at the statement's To
	DueDate          time.Time
	Reference        string
	Status           ObligationStatus // now
}

// StatementAccount is one account of a statement. Closing is Opening plus
// the entries' amounts.
type StatementAccount struct {
	ID    uuid.UUID
	OrgID uuid.UUID // the organization that owns it
	Unit  string
	Kind  ledger.AccountKind
	Name  string
	// Label is the account's readable name, after its owner, as the
	// journal export names it (journal.AccountNames).
	Label   string
	Status  ledger.AccountStatus
	Opening decimal.Decimal
	Closing decimal.Decimal
	Entries []StatementEntry
}

// StatementEntry is one movement of an account, with what a reader needs
// to recognize it: the transfer's memo and metadata (a trade's id, in-kind
// support's description) and the account on the other side of the posting.
type StatementEntry struct {
	PostedAt     time.Time
	TransferID   uuid.UUID
	Posting      int
	Amount       decimal.Decimal // negative for value going out
	BalanceAfter decimal.Decimal
	Memo         string
	Metadata     json.RawMessage // nil when the transfer has none
	Counterparty StatementParty
}

// StatementParty is the account on the other side of an entry's posting
// and its owner; OrgName is set when an organization owns it.
type StatementParty struct {
	AccountID   uuid.UUID
	AccountName string
	Label       string // as StatementAccount.Label
	Owner       string
	OrgName     string
}

// Statement returns the statement of an organization's accounts over [from,
// to): a zero from means from the beginning, a zero to means up to and
// including now (the microsecond after it, the database's precision). Who may:
// those who may read the organization's accounts (CanReadAccount: the
// coordinators of the organization and of those above it, and the admin).
//
// It returns ErrUnknownOrg; ErrNotVisible for a principal who may not read
// the organization's accounts; ErrUnauthenticated for a zero Principal;
// ledger.ErrInvalidRequest when from is not before to; and
// ErrStatementTooLarge for a period of more than MaxStatementEntries
// entries.
func (s *Store) Statement(ctx context.Context, p Principal, orgID uuid.UUID, from, to time.Time) (Statement, error) {
	return s.statement(ctx, p, orgID, from, to, false)
}

// SubtreeStatement is Statement for an organization's whole subtree: the
// accounts of every organization under it too (each StatementAccount names
// its OrgID) and the obligations of each of them (each seen from its
// OrgID: one between two organizations of the subtree appears once from
// each side), read in one snapshot. Who may, and the errors, are
// Statement's; the bound of MaxStatementEntries holds for the whole
// subtree.
func (s *Store) SubtreeStatement(ctx context.Context, p Principal, orgID uuid.UUID, from, to time.Time) (Statement, error) {
	return s.statement(ctx, p, orgID, from, to, true)
}

func (s *Store) statement(ctx context.Context, p Principal, orgID uuid.UUID, from, to time.Time, subtree bool) (Statement, error) {
	if p.MemberID == uuid.Nil {
		return Statement{}, unauthenticated()
	}
	if to.IsZero() {
		to = s.clock().Add(time.Microsecond)
	}
	from, to = from.UTC().Truncate(time.Microsecond), to.UTC().Truncate(time.Microsecond)
	if !from.IsZero() && !from.Before(to) {
		return Statement{}, invalid("from", "from %s must be before to %s", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	org, err := s.org(ctx, orgID)
	if err != nil {
		return Statement{}, err
	}
	gov, err := s.governorsFor(ctx, p, OrgOwner(orgID))
	if err != nil {
		return Statement{}, err
	}
	if err := p.MayReadAccount(OrgOwner(orgID), gov); err != nil {
		return Statement{}, err
	}
	st := Statement{Org: org, From: from, To: to, Subtree: subtree}
	// One snapshot for the balances and the entries, so that every
	// account's closing balance is its opening plus its entries.
	err = s.db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, func(tx *pgtx.Tx) error {
		st.Accounts, st.Obligations = nil, nil
		orgs := []uuid.UUID{st.Org.ID}
		if st.Subtree {
			var err error
			if orgs, err = subtreeIDs(ctx, tx, st.Org.ID); err != nil {
				return err
			}
		}
		if err := readStatement(ctx, tx, &st, orgs); err != nil {
			return err
		}
		return readStatementObligations(ctx, tx, &st, orgs)
	})
	if err != nil {
		return Statement{}, err
	}
	return st, nil
}

// statementAccounts selects the accounts of the organizations $1 (their
// owner strings), with the organization that owns each ($2, in the same
// order).
const statementAccounts = `
SELECT a.id, t.org, a.unit, a.kind, a.name, a.status
FROM unnest($1::TEXT[], $2::UUID[]) AS t(owner, org)
JOIN accounts a ON a.owner = t.owner
ORDER BY a.unit, a.name, a.id`

// subtreeIDs returns the organizations of id's subtree, id first.
func subtreeIDs(ctx context.Context, tx *pgtx.Tx, id uuid.UUID) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, subtreeOrgs, id, maxDepth)
	if err != nil {
		return nil, err
	}
	type row struct {
		id    uuid.UUID
		depth int64
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		var top *uuid.UUID
		var region string
		err := r.Scan(&x.id, &top, &region, &x.depth)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	ids := []uuid.UUID{id}
	for _, x := range all {
		if x.depth > 0 {
			ids = append(ids, x.id)
		}
	}
	return ids, nil
}

// statementEntries selects the entries of the period with their transfers'
// memo, metadata and postings, the postings naming the other side: for each
// account $1, those after seq $2 up to seq $3, along the journal's primary
// key.
const statementEntries = `
SELECT e.account_id, e.transfer_id, e.posting, e.amount, e.balance_after, e.posted_at, t.memo, t.metadata, t.postings
FROM unnest($1::UUID[], $2::BIGINT[], $3::BIGINT[]) AS r(account_id, lo, hi)
JOIN entries e ON e.account_id = r.account_id AND e.seq > r.lo AND e.seq <= r.hi
JOIN transfers t ON t.id = e.transfer_id
ORDER BY e.account_id, e.seq LIMIT $4`

func readStatement(ctx context.Context, tx *pgtx.Tx, st *Statement, orgs []uuid.UUID) error {
	owners := make([]string, len(orgs))
	for i, o := range orgs {
		owners[i] = OrgOwner(o)
	}
	rows, err := tx.Query(ctx, statementAccounts, owners, orgs)
	if err != nil {
		return err
	}
	st.Accounts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementAccount, error) {
		var a StatementAccount
		err := r.Scan(&a.ID, &a.OrgID, &a.Unit, &a.Kind, &a.Name, &a.Status)
		return a, err
	})
	if err != nil || len(st.Accounts) == 0 {
		return err
	}
	// Each account's balance just before from and before to, and the seqs
	// of its entries there, by a binary search of its entries each: the
	// period's entries are those between the two seqs.
	ids := make([]uuid.UUID, len(st.Accounts))
	for i, a := range st.Accounts {
		ids[i] = a.ID
	}
	lo, opening, err := ledger.EntriesBefore(ctx, tx, ids, st.From)
	if err != nil {
		return err
	}
	hi, closing, err := ledger.EntriesBefore(ctx, tx, ids, st.To)
	if err != nil {
		return err
	}
	for i := range st.Accounts {
		st.Accounts[i].Opening, st.Accounts[i].Closing = opening[i], closing[i]
	}
	at := make(map[uuid.UUID]int, len(st.Accounts))
	for i, a := range st.Accounts {
		at[a.ID] = i
	}
	rows, err = tx.Query(ctx, statementEntries, ids, lo, hi, MaxStatementEntries+1)
	if err != nil {
		return err
	}
	type row struct {
		account  uuid.UUID
		entry    StatementEntry
		postings []byte
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		var posting int64
		err := r.Scan(&x.account, &x.entry.TransferID, &posting, &x.entry.Amount, &x.entry.BalanceAfter,
			&x.entry.PostedAt, &x.entry.Memo, &x.entry.Metadata, &x.postings)
		x.entry.Posting = int(posting)
		return x, err
	})
	if err != nil {
		return err
	}
	if len(entries) > MaxStatementEntries {
		e := newError(ErrStatementTooLarge.Code, ReasonStatementTooLarge,
			"the period holds more than %d entries; ask for a shorter period with from and to", MaxStatementEntries)
		e.Field = "from"
		return e
	}
	var others []uuid.UUID
	for i := range entries {
		x := &entries[i]
		other, err := otherSide(x.postings, x.entry.Posting, x.entry.Amount.Sign() < 0)
		if err != nil {
			return fmt.Errorf("transfer %s: %w", x.entry.TransferID, err)
		}
		x.entry.Counterparty.AccountID = other
		others = append(others, other)
	}
	parties, err := readParties(ctx, tx, others)
	if err != nil {
		return err
	}
	labels, err := journal.AccountNames(ctx, tx, append(ids, others...))
	if err != nil {
		return err
	}
	for i := range st.Accounts {
		st.Accounts[i].Label = labels[st.Accounts[i].ID]
	}
	for _, x := range entries {
		x.entry.Counterparty = parties[x.entry.Counterparty.AccountID]
		x.entry.Counterparty.Label = labels[x.entry.Counterparty.AccountID]
		a := &st.Accounts[at[x.account]]
		a.Entries = append(a.Entries, x.entry)
	}
	return nil
}

// readStatementObligations reads the obligations of the organizations orgs
// open at st.To, each seen from one of them.
func readStatementObligations(ctx context.Context, tx *pgtx.Tx, st *Statement, orgs []uuid.UUID) error {
	rows, err := tx.Query(ctx, `
SELECT o.id, s.org, o.creditor_org = s.org, CASE WHEN o.creditor_org = s.org THEN o.debtor_org ELSE o.creditor_org END,
    (SELECT name FROM orgs WHERE id = CASE WHEN o.creditor_org = s.org THEN o.debtor_org ELSE o.creditor_org END),
    o.unit, o.amount,
    o.amount - COALESCE((SELECT sum(x.amount) FROM obligation_settlements x WHERE x.obligation_id = o.id AND x.created_at < $2), 0),
    o.due_date, o.reference, o.status
FROM unnest($1::UUID[]) AS s(org)
JOIN obligations o ON o.creditor_org = s.org OR o.debtor_org = s.org
WHERE o.created_at < $2 AND o.status <> 'disputed'
ORDER BY o.unit, o.due_date, o.id, s.org`, orgs, st.To)
	if err != nil {
		return err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementObligation, error) {
		var o StatementObligation
		err := r.Scan(&o.ID, &o.OrgID, &o.Receivable, &o.Counterparty, &o.CounterpartyName, &o.Unit, &o.Amount, &o.Outstanding,
			&o.DueDate, &o.Reference, &o.Status)
		o.DueDate = o.DueDate.UTC()
		return o, err
	})
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Outstanding.Sign() > 0 {
			st.Obligations = append(st.Obligations, o)
		}
	}
	return nil
}

// otherSide returns the account on the other side of a transfer's posting:
// its to account for a debit, its from account for a credit.
func otherSide(postings []byte, posting int, debit bool) (uuid.UUID, error) {
	var ps []struct {
		From uuid.UUID `json:"from"`
		To   uuid.UUID `json:"to"`
	}
	if err := json.Unmarshal(postings, &ps); err != nil {
		return uuid.Nil, err
	}
	if posting < 0 || posting >= len(ps) {
		return uuid.Nil, errors.New("an entry names a posting the transfer does not have")
	}
	if debit {
		return ps[posting].To, nil
	}
	return ps[posting].From, nil
}

// readParties returns the accounts with the given ids, with their owners'
// names when organizations own them.
func readParties(ctx context.Context, tx *pgtx.Tx, ids []uuid.UUID) (map[uuid.UUID]StatementParty, error) {
	out := make(map[uuid.UUID]StatementParty, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, name, owner FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	parties, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementParty, error) {
		var x StatementParty
		err := r.Scan(&x.AccountID, &x.AccountName, &x.Owner)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	var orgIDs []uuid.UUID
	for _, x := range parties {
		if kind, id, ok := ParseOwner(x.Owner); ok && kind == OwnerOrg {
			orgIDs = append(orgIDs, id)
		}
	}
	names := map[string]string{}
	if len(orgIDs) > 0 {
		rows, err := tx.Query(ctx, `SELECT id, name FROM orgs WHERE id = ANY($1)`, orgIDs)
		if err != nil {
			return nil, err
		}
		var id uuid.UUID
		var name string
		if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			names[OrgOwner(id)] = name
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for _, x := range parties {
		x.OrgName = names[x.Owner]
		out[x.AccountID] = x
	}
	return out, nil
}
