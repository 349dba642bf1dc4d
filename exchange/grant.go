package exchange

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Grants: a local organization's request for money from a fund, the
// fund's decision on it, and its disbursement.

// GrantStatus is where a grant request is in its life.
type GrantStatus string

// The grant statuses:
//
//	requested → approved → disbursed
//	requested → rejected | withdrawn
const (
	GrantRequested GrantStatus = "requested"
	GrantApproved  GrantStatus = "approved"
	GrantRejected  GrantStatus = "rejected"
	GrantDisbursed GrantStatus = "disbursed"
	GrantWithdrawn GrantStatus = "withdrawn"
)

// GrantVotes is the tally of a vote on a grant.
type GrantVotes struct {
	For, Against, Abstain int64
}

// Grant is a request of an organization for money from a fund, with the
// decision on it and the transfer that paid it.
type Grant struct {
	ID          uuid.UUID
	FundID      uuid.UUID
	OrgID       uuid.UUID // the requesting organization
	RequestedBy uuid.UUID
	Amount      decimal.Decimal
	Purpose     string
	ToAccount   uuid.UUID // the organization's account the money goes to
	Status      GrantStatus
	// DecidedBy and DecidedAt are set once the grant is approved or
	// rejected; Votes when the decision recorded a tally.
	DecidedBy    *uuid.UUID
	DecidedAt    *time.Time
	DecisionNote string
	Votes        *GrantVotes
	TransferID   *uuid.UUID // set once disbursed
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewGrant is a request for a grant.
type NewGrant struct {
	ID          uuid.UUID // optional; a new one is made when zero
	FundID      uuid.UUID
	OrgID       uuid.UUID // the requesting organization, not the fund's own
	RequestedBy uuid.UUID
	Amount      decimal.Decimal // > 0, within the unit's scale
	Purpose     string          // 1 to 1000 characters once trimmed
	ToAccount   uuid.UUID       // an account of OrgID in the fund's unit
}

// RequestGrant records a grant request. It returns ErrUnknownFund,
// ErrUnknownOrg, ledger.ErrUnknownAccount (Field to_account),
// ledger.ErrInvalidRequest for a bad purpose, a request of the fund's own
// organization or an account not the organization's,
// ledger.ErrNonPositiveAmount, ledger.ErrTooManyDecimals,
// ledger.ErrUnitMismatch, and an ECONFLICT error when the ID is taken. Who
// may call it is decided by CanManageOrg on OrgID.
func (s *Store) RequestGrant(ctx context.Context, in NewGrant) (Grant, error) {
	f, err := s.Fund(ctx, in.FundID)
	if err != nil {
		return Grant{}, err
	}
	purpose, err := checkText("purpose", in.Purpose, 1, 1000)
	if err != nil {
		return Grant{}, err
	}
	if in.OrgID == f.OrgID {
		return Grant{}, invalid("org_id", "organization %s owns the fund; grants go to the organizations under it", in.OrgID)
	}
	if _, err := s.Org(ctx, in.OrgID); err != nil {
		return Grant{}, withFieldName(err, "org_id")
	}
	if err := s.checkAmount(ctx, in.Amount, f.Unit); err != nil {
		return Grant{}, err
	}
	acc, err := s.led.Account(ctx, in.ToAccount)
	if err != nil {
		return Grant{}, withFieldName(err, "to_account")
	}
	if acc.Owner != OrgOwner(in.OrgID) {
		return Grant{}, invalid("to_account", "account %s is not organization %s's; the grant goes to an account of the requesting organization", acc.ID, in.OrgID)
	}
	if acc.Unit != f.Unit {
		e := newError(ledger.ErrUnitMismatch.Code, ledger.ReasonUnitMismatch, "account %s holds %s, the fund %s", acc.ID, acc.Unit, f.Unit)
		e.Field, e.Account, e.Unit = "to_account", acc.ID, f.Unit
		return Grant{}, e
	}
	if in.ID == uuid.Nil {
		in.ID = newID()
	}
	now := s.clock()
	g := Grant{ID: in.ID, FundID: f.ID, OrgID: in.OrgID, RequestedBy: in.RequestedBy, Amount: in.Amount, Purpose: purpose,
		ToAccount: acc.ID, Status: GrantRequested, CreatedAt: now, UpdatedAt: now}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `
INSERT INTO grant_requests (id, fund_id, org_id, requested_by, amount, purpose, to_account, status, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			g.ID, g.FundID, g.OrgID, g.RequestedBy, g.Amount, g.Purpose, g.ToAccount, g.Status, g.CreatedAt, g.UpdatedAt)
		switch pgCode(err) {
		case uniqueViolation:
			return idTaken("grant request", g.ID)
		case foreignKeyViolation:
			return unknownMember(g.RequestedBy)
		}
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// checkAmount checks that amount is positive and fits unit's scale.
func (s *Store) checkAmount(ctx context.Context, amount decimal.Decimal, unit string) error {
	u, err := s.led.Unit(ctx, unit)
	if err != nil {
		return err
	}
	if amount.Sign() <= 0 {
		e := newError(ledger.ErrNonPositiveAmount.Code, ledger.ReasonNonPositiveAmount, "amount must be positive, not %s", amount)
		e.Field = "amount"
		return e
	}
	if !amount.Equal(amount.Truncate(u.Scale)) {
		e := newError(ledger.ErrTooManyDecimals.Code, ledger.ReasonTooManyDecimals, "amount %s has more decimals than %s allows (%d)", amount, unit, u.Scale)
		e.Field, e.Unit = "amount", unit
		return e
	}
	return nil
}

const grantColumns = `g.id, g.fund_id, g.org_id, g.requested_by, g.amount, g.purpose, g.to_account, g.status,
g.decided_by, g.decided_at, g.decision_note, g.votes_for, g.votes_against, g.votes_abstain, g.transfer_id, g.created_at, g.updated_at`

func scanGrant(r pgx.Row) (Grant, error) {
	var g Grant
	var vf, va, vx *int64
	err := r.Scan(&g.ID, &g.FundID, &g.OrgID, &g.RequestedBy, &g.Amount, &g.Purpose, &g.ToAccount, &g.Status,
		&g.DecidedBy, &g.DecidedAt, &g.DecisionNote, &vf, &va, &vx, &g.TransferID, &g.CreatedAt, &g.UpdatedAt)
	if err == nil && vf != nil && va != nil && vx != nil {
		g.Votes = &GrantVotes{For: *vf, Against: *va, Abstain: *vx}
	}
	g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
	if g.DecidedAt != nil {
		t := g.DecidedAt.UTC()
		g.DecidedAt = &t
	}
	return g, err
}

// Grant returns a grant request, or ErrUnknownGrant. Who may see it is
// decided by the caller: the fund's governors, those who act for the
// requesting organization, and the member who asked.
func (s *Store) Grant(ctx context.Context, id uuid.UUID) (Grant, error) {
	g, err := scanGrant(s.db.Pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grant_requests g WHERE g.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Grant{}, unknownGrant(id)
	}
	return g, err
}

// GrantQuery selects a fund's grant requests.
type GrantQuery struct {
	FundID uuid.UUID
	// All lists every request, for the fund's governors. Otherwise only
	// those of the organizations under (and including) Governed, and those
	// Requester made, are listed.
	All       bool
	Governed  []uuid.UUID
	Requester uuid.UUID
}

// Grants lists a fund's grant requests in id order, one page at a time;
// next is the After of the following page, or uuid.Nil after the last one.
// It returns ErrUnknownFund and ledger.ErrInvalidRequest for a bad limit.
func (s *Store) Grants(ctx context.Context, q GrantQuery, p Page) (grants []Grant, next uuid.UUID, err error) {
	limit, err := p.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	if _, err := s.Fund(ctx, q.FundID); err != nil {
		return nil, uuid.Nil, err
	}
	governed := q.Governed
	if governed == nil {
		governed = []uuid.UUID{}
	}
	rows, err := s.db.Pool.Query(ctx, `
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM orgs WHERE id = ANY($4)
  UNION ALL
    SELECT o.id, down.depth + 1 FROM orgs o JOIN down ON o.parent_id = down.id WHERE down.depth < $6
)
SELECT `+grantColumns+` FROM grant_requests g
WHERE g.fund_id = $1 AND g.id > $2
  AND ($3 OR g.requested_by = $5 OR g.org_id IN (SELECT id FROM down))
ORDER BY g.id LIMIT $7`, q.FundID, p.After, q.All, governed, q.Requester, maxDepth, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	grants, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Grant, error) { return scanGrant(r) })
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(grants) > limit {
		grants = grants[:limit]
		next = grants[limit-1].ID
	}
	return grants, next, nil
}

// Coordinated returns the organizations p coordinates (or administers), in
// id order: p acts for them and every organization under them.
func (p Principal) Coordinated() []uuid.UUID {
	var out []uuid.UUID
	for o, r := range p.Roles {
		if r.governs() {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

// GrantDecision is a fund's decision on a grant request.
type GrantDecision struct {
	GrantID   uuid.UUID
	Approve   bool
	DecidedBy uuid.UUID   // the member who records it
	Note      string      // up to 2000 characters
	Votes     *GrantVotes // the tally, when there was a vote; counts >= 0
}

// DecideGrant records the approval or rejection of a requested grant, by
// whom and when (the store's clock). It returns ErrUnknownGrant,
// ErrGrantStatus when the grant is no longer requested, and
// ledger.ErrInvalidRequest for a bad note or a negative count. Who may call
// it is decided by CanManageOrg on the fund's organization.
func (s *Store) DecideGrant(ctx context.Context, d GrantDecision) (Grant, error) {
	note, err := checkText("note", d.Note, 0, 2000)
	if err != nil {
		return Grant{}, err
	}
	var vf, va, vx *int64
	if v := d.Votes; v != nil {
		if v.For < 0 || v.Against < 0 || v.Abstain < 0 {
			return Grant{}, invalid("votes", "vote counts must be zero or more")
		}
		vf, va, vx = &v.For, &v.Against, &v.Abstain
	}
	status := GrantRejected
	if d.Approve {
		status = GrantApproved
	}
	now := s.clock()
	var g Grant
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		var err error
		if g, err = lockGrant(ctx, tx, d.GrantID); err != nil {
			return err
		}
		if g.Status != GrantRequested {
			return grantStatus(g, "requested grant can be decided")
		}
		g, err = scanGrant(tx.QueryRow(ctx, `
UPDATE grant_requests g SET status = $2, decided_by = $3, decided_at = $4, decision_note = $5,
    votes_for = $6, votes_against = $7, votes_abstain = $8, updated_at = $4
WHERE g.id = $1 RETURNING `+grantColumns, g.ID, status, d.DecidedBy, now, note, vf, va, vx))
		if pgCode(err) == foreignKeyViolation {
			return unknownMember(d.DecidedBy)
		}
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// lockGrant reads a grant and locks its row for the transaction.
func lockGrant(ctx context.Context, tx *pgtx.Tx, id uuid.UUID) (Grant, error) {
	g, err := scanGrant(tx.QueryRow(ctx, `SELECT `+grantColumns+` FROM grant_requests g WHERE g.id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Grant{}, unknownGrant(id)
	}
	return g, err
}

// WithdrawGrant withdraws a grant request that is still requested. It
// returns ErrUnknownGrant and ErrGrantStatus. Who may call it is decided by
// CanManageOrg on the requesting organization.
func (s *Store) WithdrawGrant(ctx context.Context, id uuid.UUID) (Grant, error) {
	now := s.clock()
	var g Grant
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		var err error
		if g, err = lockGrant(ctx, tx, id); err != nil {
			return err
		}
		if g.Status != GrantRequested {
			return grantStatus(g, "requested grant can be withdrawn")
		}
		g, err = scanGrant(tx.QueryRow(ctx, `UPDATE grant_requests g SET status = $2, updated_at = $3 WHERE g.id = $1 RETURNING `+grantColumns,
			id, GrantWithdrawn, now))
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// Disburse pays an approved grant: one ledger transfer from the fund's
// account to the grant's account, the grant marked disbursed and the
// outflow recorded, all in one transaction that first locks the grant, so
// that a grant is paid at most once however many disbursements race. It
// returns the grant and the outflow, or ErrUnknownGrant, ErrGrantStatus
// (not approved, or already disbursed), and the ledger's refusals
// (ledger.ErrInsufficientFunds when the fund holds too little,
// ledger.ErrAccountFrozen, …), which change nothing. Who may call it is
// decided by CanManageOrg on the fund's organization.
func (s *Store) Disburse(ctx context.Context, grantID uuid.UUID) (Grant, FundMovement, error) {
	var g Grant
	var m FundMovement
	err := s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		var err error
		if g, err = lockGrant(ctx, tx, grantID); err != nil {
			return err
		}
		if g.Status != GrantApproved {
			return grantStatus(g, "approved grant can be disbursed")
		}
		f, err := scanFund(tx.QueryRow(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id = $1`, g.FundID))
		if err != nil {
			return err
		}
		t, err := lt.CreateTransfer(ctx, ledger.TransferRequest{
			Postings: []ledger.Posting{{From: f.AccountID, To: g.ToAccount, Amount: g.Amount, Unit: f.Unit}},
			Memo:     truncateRunes(g.Purpose, ledger.MaxMemo),
			Metadata: metadataJSON(map[string]any{"fund": f.ID, "grant": g.ID, "direction": Outflow}),
		})
		if err != nil {
			return err
		}
		org, grant := g.OrgID, g.ID
		m = FundMovement{ID: newID(), FundID: f.ID, TransferID: t.ID, Direction: Outflow, OrgID: &org,
			Amount: g.Amount, Memo: t.Memo, At: t.CreatedAt, GrantID: &grant}
		g.Status, g.TransferID, g.UpdatedAt = GrantDisbursed, &m.TransferID, t.CreatedAt
		deferExec(tx, `UPDATE grant_requests SET status = $2, transfer_id = $3, updated_at = $4 WHERE id = $1`,
			g.ID, g.Status, t.ID, g.UpdatedAt)
		deferExec(tx, insertMovement, m.ID, m.FundID, m.TransferID, m.Direction, m.OrgID, m.Source, m.Amount, m.Memo, m.At, m.GrantID)
		return nil
	})
	if err != nil {
		return Grant{}, FundMovement{}, err
	}
	return g, m, nil
}
