package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Funds. A fund pools money in one unit for an organization (normally the
// network): members and organizations contribute from their accounts, money
// from outside the network comes in from the fund's external account, and
// local organizations ask for grants, which the fund's governors (the
// coordinators of its organization and above, and the admin) decide on and
// disburse. Every value movement is one ledger transfer, written in the same
// transaction as the fund's own record of it (a movement), so the public
// report (FundReport) lists every inflow and outflow by organization.
//
// Who may do what is decided by the callers with the Can* methods: creating
// a fund, outside donations, decisions and disbursements need CanManageOrg
// on the fund's organization; a contribution needs CanMoveFrom on the
// account it comes from; a grant request and its withdrawal CanManageOrg on
// the requesting organization.

// The reasons of the fund errors.
const (
	ReasonUnknownFund  ledger.Reason = "unknown_fund"
	ReasonUnknownGrant ledger.Reason = "unknown_grant"
	ReasonGrantStatus  ledger.Reason = "grant_status"
)

// Sentinel errors of funds and grants, for errors.Is.
var (
	// ErrUnknownFund: no fund has the id.
	ErrUnknownFund = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownFund, Index: -1}
	// ErrUnknownGrant: no grant request has the id.
	ErrUnknownGrant = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownGrant, Index: -1}
	// ErrGrantStatus: the grant's status does not allow the step asked for
	// (deciding a grant already decided, disbursing one not approved,
	// withdrawing one no longer requested).
	ErrGrantStatus = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonGrantStatus, Index: -1}
)

func unknownFund(id uuid.UUID) *ledger.Error {
	return newError(ErrUnknownFund.Code, ReasonUnknownFund, "unknown fund %s", id)
}

func unknownGrant(id uuid.UUID) *ledger.Error {
	return newError(ErrUnknownGrant.Code, ReasonUnknownGrant, "unknown grant request %s", id)
}

func grantStatus(g Grant, step string) *ledger.Error {
	return newError(ErrGrantStatus.Code, ReasonGrantStatus, "grant request %s is %s; only a %s", g.ID, g.Status, step)
}

// Fund is a pool of money of one organization.
type Fund struct {
	ID    uuid.UUID
	OrgID uuid.UUID // the organization that owns and governs it
	Name  string
	Unit  string
	// AccountID is the ledger account (kind fund) that holds the money.
	AccountID uuid.UUID
	// ExternalAccountID is the ledger account (kind external) that stands for
	// the world outside the network: outside donations come from it.
	ExternalAccountID uuid.UUID
	CreatedBy         uuid.UUID
	CreatedAt         time.Time
}

// NewFund is a request to create a fund.
type NewFund struct {
	ID        uuid.UUID // optional; a new one is made when zero
	OrgID     uuid.UUID // the owning organization
	Name      string    // 1 to 200 characters once trimmed
	Unit      string    // an existing ledger unit, such as USD
	CreatedBy uuid.UUID // the member creating it
}

// CreateFund creates a fund and opens its two ledger accounts, all in one
// transaction: either the fund exists with both accounts or nothing was
// written. It returns ledger.ErrInvalidRequest for a bad name,
// ErrUnknownOrg, ErrUnknownMember, ledger.ErrUnknownUnit, and an ECONFLICT
// error when the ID is taken. Who may call it is decided by CanManageOrg on
// OrgID.
func (s *Store) CreateFund(ctx context.Context, in NewFund) (Fund, error) {
	name, err := checkText("name", in.Name, 1, 200)
	if err != nil {
		return Fund{}, err
	}
	if in.ID == uuid.Nil {
		in.ID = newID()
	}
	if _, err := s.Org(ctx, in.OrgID); err != nil {
		return Fund{}, withFieldName(err, "org_id")
	}
	f := Fund{ID: in.ID, OrgID: in.OrgID, Name: name, Unit: in.Unit, CreatedBy: in.CreatedBy, CreatedAt: s.clock()}
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		acc, err := lt.CreateAccount(ctx, ledger.NewAccount{Unit: in.Unit, Owner: OrgOwner(in.OrgID), Kind: ledger.KindFund, Name: name})
		if err != nil {
			return err
		}
		ext, err := lt.CreateAccount(ctx, ledger.NewAccount{Unit: in.Unit, Owner: OrgOwner(in.OrgID), Kind: ledger.KindExternal,
			Name: "outside the network (" + truncateRunes(name, 150) + ")"})
		if err != nil {
			return err
		}
		f.Unit, f.AccountID, f.ExternalAccountID = acc.Unit, acc.ID, ext.ID
		_, err = tx.Exec(ctx, `
INSERT INTO funds (id, org_id, name, unit, account_id, external_account_id, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			f.ID, f.OrgID, f.Name, f.Unit, f.AccountID, f.ExternalAccountID, f.CreatedBy, f.CreatedAt)
		switch pgCode(err) {
		case uniqueViolation:
			return idTaken("fund", f.ID)
		case foreignKeyViolation:
			return unknownMember(f.CreatedBy)
		}
		return err
	})
	if errors.Is(err, ledger.ErrUnknownUnit) {
		return Fund{}, withFieldName(err, "unit")
	}
	if err != nil {
		return Fund{}, err
	}
	return f, nil
}

// withField sets the field of a domain error that names none.
func withFieldName(err error, field string) error {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Field != "" || le.Code == ledger.EINTERNAL {
		return err
	}
	e := *le
	e.Field = field
	return &e
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

const fundColumns = `f.id, f.org_id, f.name, f.unit, f.account_id, f.external_account_id, f.created_by, f.created_at`

func scanFund(r pgx.Row) (Fund, error) {
	var f Fund
	err := r.Scan(&f.ID, &f.OrgID, &f.Name, &f.Unit, &f.AccountID, &f.ExternalAccountID, &f.CreatedBy, &f.CreatedAt)
	f.CreatedAt = f.CreatedAt.UTC()
	return f, err
}

// Fund returns a fund, or ErrUnknownFund. Funds are public.
func (s *Store) Fund(ctx context.Context, id uuid.UUID) (Fund, error) {
	f, err := scanFund(s.db.Pool.QueryRow(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Fund{}, unknownFund(id)
	}
	return f, err
}

// Funds lists funds in id order, one page at a time; next is the After of
// the following page, or uuid.Nil after the last one. It returns
// ledger.ErrInvalidRequest for a limit outside 0..MaxLimit.
func (s *Store) Funds(ctx context.Context, p Page) (funds []Fund, next uuid.UUID, err error) {
	limit, err := p.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id > $1 ORDER BY f.id LIMIT $2`, p.After, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	funds, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fund, error) { return scanFund(r) })
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(funds) > limit {
		funds = funds[:limit]
		next = funds[limit-1].ID
	}
	return funds, next, nil
}

// Direction says whether a movement brought money into a fund or took it out.
type Direction string

// The directions.
const (
	Inflow  Direction = "in"
	Outflow Direction = "out"
)

// FundMovement is one transfer into or out of a fund, as the fund records it.
type FundMovement struct {
	ID         uuid.UUID
	FundID     uuid.UUID
	TransferID uuid.UUID // the ledger transfer that moved the money
	Direction  Direction
	// OrgID is the organization credited with an inflow or paid by an
	// outflow; nil only for money from outside the network, whose donor is
	// Source.
	OrgID   *uuid.UUID
	Source  string
	Amount  decimal.Decimal
	Memo    string
	At      time.Time
	GrantID *uuid.UUID // the grant an outflow paid
}

// Contribution is a request to put money into a fund. Exactly one of From
// (an account inside the network) and Source (money from outside) is set.
type Contribution struct {
	FundID uuid.UUID
	// From is the account the money comes from, in the fund's unit. For an
	// organization's account the contribution is credited to that
	// organization; for a member's, OrgID must name an organization the
	// member belongs to, which is credited (the member is not named in the
	// public report).
	From  uuid.UUID
	OrgID uuid.UUID
	// Source is the donor's name for money from outside the network (1 to
	// 200 characters): it comes from the fund's external account.
	Source string
	Amount decimal.Decimal
	Memo   string // shown in the public report; up to 1000 characters
	// IdempotencyKey is passed to the ledger: a retry with the same key and
	// request moves the money once and returns the first movement.
	IdempotencyKey string
}

// Contribute moves money into a fund and records the movement, in one
// transaction. It returns ErrUnknownFund; ledger.ErrInvalidRequest (with
// Field) for a request without exactly one of From and Source, a bad
// source or memo, an organization's account credited to another
// organization, a member's account without OrgID, or one of the fund's own
// accounts as From; ErrNotAMember when the member does not belong to OrgID;
// ErrUnknownOrg; and the ledger's refusals (ledger.ErrUnknownAccount,
// ledger.ErrUnitMismatch, ledger.ErrTooManyDecimals,
// ledger.ErrNonPositiveAmount, ledger.ErrInsufficientFunds,
// ledger.ErrLimitExceeded, ledger.ErrIdempotencyConflict, …). A refused
// contribution changes nothing. Who may call it is decided by CanMoveFrom on
// From, or for Source by CanManageOrg on the fund's organization.
func (s *Store) Contribute(ctx context.Context, c Contribution) (FundMovement, error) {
	f, err := s.Fund(ctx, c.FundID)
	if err != nil {
		return FundMovement{}, err
	}
	memo, err := checkText("memo", c.Memo, 0, ledger.MaxMemo)
	if err != nil {
		return FundMovement{}, err
	}
	if err := s.checkAmount(ctx, c.Amount, f.Unit); err != nil {
		return FundMovement{}, err
	}
	m := FundMovement{FundID: f.ID, Direction: Inflow, Amount: c.Amount, Memo: memo}
	from := f.ExternalAccountID
	switch {
	case (c.From == uuid.Nil) == (c.Source == ""):
		return FundMovement{}, invalid("from_account", "give from_account for money from an account in the network, or source for money from outside it, not both")
	case c.Source != "":
		if c.OrgID != uuid.Nil {
			return FundMovement{}, invalid("org_id", "money from outside the network is credited to its source, not to an organization")
		}
		if m.Source, err = checkText("source", c.Source, 1, 200); err != nil {
			return FundMovement{}, err
		}
	default:
		from = c.From
		org, err := s.creditedOrg(ctx, f, c)
		if err != nil {
			return FundMovement{}, err
		}
		m.OrgID = &org
	}
	meta := map[string]any{"fund": f.ID, "direction": Inflow}
	if m.OrgID != nil {
		meta["org"] = *m.OrgID
	} else {
		meta["source"] = m.Source
	}
	req := ledger.TransferRequest{
		IdempotencyKey: c.IdempotencyKey, Memo: memo, Metadata: metadataJSON(meta),
		Postings: []ledger.Posting{{From: from, To: f.AccountID, Amount: c.Amount, Unit: f.Unit}},
	}
	return s.recordMovement(ctx, m, req)
}

// creditedOrg returns the organization a contribution from c.From is
// credited to.
func (s *Store) creditedOrg(ctx context.Context, f Fund, c Contribution) (uuid.UUID, error) {
	if c.From == f.AccountID || c.From == f.ExternalAccountID {
		return uuid.Nil, invalid("from_account", "account %s is the fund's own; for money from outside the network give source instead", c.From)
	}
	acc, err := s.led.Account(ctx, c.From)
	if err != nil {
		return uuid.Nil, withFieldName(err, "from_account")
	}
	kind, owner, ok := ParseOwner(acc.Owner)
	switch {
	case !ok:
		return uuid.Nil, invalid("from_account", "account %s belongs to no member or organization, so no one can be credited", c.From)
	case kind == OwnerOrg && c.OrgID != uuid.Nil && c.OrgID != owner:
		return uuid.Nil, invalid("org_id", "account %s is organization %s's: its contribution is credited to it, not to %s", c.From, owner, c.OrgID)
	case kind == OwnerOrg:
		return owner, nil
	case c.OrgID == uuid.Nil:
		return uuid.Nil, invalid("org_id", "a contribution from a member's account is credited to an organization they belong to: give org_id")
	}
	if _, err := s.Org(ctx, c.OrgID); err != nil {
		return uuid.Nil, withFieldName(err, "org_id")
	}
	var member bool
	err = s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND member_id = $2)`, c.OrgID, owner).Scan(&member)
	if err != nil {
		return uuid.Nil, err
	}
	if !member {
		e := newError(ErrNotAMember.Code, ReasonNotAMember, "the owner of account %s does not belong to organization %s; name an organization they belong to", c.From, c.OrgID)
		e.Field = "org_id"
		return uuid.Nil, e
	}
	return c.OrgID, nil
}

// recordMovement writes the transfer req and the movement m of it in one
// transaction. A transfer replayed by its idempotency key returns the
// movement recorded the first time.
func (s *Store) recordMovement(ctx context.Context, m FundMovement, req ledger.TransferRequest) (FundMovement, error) {
	var replayed bool
	err := s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		replayed = false
		t, err := lt.CreateTransfer(ctx, req)
		if err != nil {
			return err
		}
		m.ID, m.TransferID, m.At = newID(), t.ID, t.CreatedAt
		if t.Replayed {
			replayed = true
			return nil
		}
		deferExec(tx, insertMovement, m.ID, m.FundID, m.TransferID, m.Direction, m.OrgID, m.Source, m.Amount, m.Memo, m.At, m.GrantID)
		return nil
	})
	if err != nil {
		return FundMovement{}, err
	}
	if replayed {
		return s.movementOf(ctx, m.TransferID)
	}
	return m, nil
}

const insertMovement = `
INSERT INTO fund_movements (id, fund_id, transfer_id, direction, org_id, source, amount, memo, at, grant_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// deferExec queues one write to travel with COMMIT, after the ledger's.
func deferExec(tx *pgtx.Tx, sql string, args ...any) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	tx.Defer(b, func(br pgx.BatchResults) error { _, err := br.Exec(); return err })
}

const movementColumns = `m.id, m.fund_id, m.transfer_id, m.direction, m.org_id, m.source, m.amount, m.memo, m.at, m.grant_id`

func scanMovement(r pgx.Row, extra ...any) (FundMovement, error) {
	var m FundMovement
	err := r.Scan(append([]any{&m.ID, &m.FundID, &m.TransferID, &m.Direction, &m.OrgID, &m.Source, &m.Amount, &m.Memo, &m.At, &m.GrantID}, extra...)...)
	m.At = m.At.UTC()
	return m, err
}

// movementOf returns the movement of a transfer.
func (s *Store) movementOf(ctx context.Context, transfer uuid.UUID) (FundMovement, error) {
	m, err := scanMovement(s.db.Pool.QueryRow(ctx, `SELECT `+movementColumns+` FROM fund_movements m WHERE m.transfer_id = $1`, transfer))
	if errors.Is(err, pgx.ErrNoRows) {
		return FundMovement{}, fmt.Errorf("transfer %s was replayed by its idempotency key but records no fund movement", transfer)
	}
	return m, err
}

func metadataJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and UUIDs always encode
	}
	return b
}

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

// ReportPeriod is the length of the periods a fund report groups movements by.
type ReportPeriod string

// The report periods, in UTC.
const (
	PeriodMonth   ReportPeriod = "month"
	PeriodQuarter ReportPeriod = "quarter"
	PeriodYear    ReportPeriod = "year"
)

// start returns the start of the period t falls in, and the start of the
// next one.
func (p ReportPeriod) start(t time.Time) (time.Time, time.Time) {
	t = t.UTC()
	switch p {
	case PeriodYear:
		s := time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(1, 0, 0)
	case PeriodQuarter:
		s := time.Date(t.Year(), (t.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(0, 3, 0)
	}
	s := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return s, s.AddDate(0, 1, 0)
}

// label names the period starting at s: "2026-03", "2026-Q1" or "2026".
func (p ReportPeriod) label(s time.Time) string {
	switch p {
	case PeriodYear:
		return s.Format("2006")
	case PeriodQuarter:
		return fmt.Sprintf("%d-Q%d", s.Year(), (int(s.Month())-1)/3+1)
	}
	return s.Format("2006-01")
}

// MaxReportMovements bounds the movements one report lists; a longer
// history is reported a range (From, To) at a time.
const MaxReportMovements = 10000

// ReportQuery asks for a fund's report.
type ReportQuery struct {
	FundID uuid.UUID
	// From and To, when set, bound the movements reported: From <= at < To.
	From, To *time.Time
	Period   ReportPeriod // "" means PeriodMonth
}

// FundReport is a fund's public report: where its money came from and went, by
// organization and period. It names no member but those who decided grants,
// since a decision is a public act.
type FundReport struct {
	Fund   Fund
	Period ReportPeriod
	From   *time.Time
	To     *time.Time
	// Balance is the fund account's posted balance in the ledger now.
	// Recorded is all the fund's recorded inflows minus its outflows;
	// Reconciled says they are equal, as they are unless value reached the
	// fund's account other than through the fund (a plain transfer to it).
	Balance    decimal.Decimal
	Recorded   decimal.Decimal
	Reconciled bool
	// In and Out total the movements reported (within From and To).
	In, Out   decimal.Decimal
	Periods   []FundPeriod
	Movements []FundReportMovement // every movement reported, oldest first
}

// FundPeriod is one period of a report, with its inflows and outflows
// grouped by whom they are attributed to (largest first).
type FundPeriod struct {
	Label      string // "2026-03", "2026-Q1" or "2026"
	Start, End time.Time
	In, Out    decimal.Decimal
	Inflows    []FundAttribution
	Outflows   []FundAttribution
}

// FundAttribution is the money one organization (or, for money from outside
// the network, one source) brought or received in a period.
type FundAttribution struct {
	OrgID  *uuid.UUID // nil for a source outside the network
	Name   string     // the organization's name, or the source as given
	Amount decimal.Decimal
	Count  int
	Grants []PaidGrant // for outflows: the grants paid
}

// PaidGrant is a disbursed grant as the report shows it.
type PaidGrant struct {
	GrantID      uuid.UUID
	TransferID   uuid.UUID
	Purpose      string
	Amount       decimal.Decimal
	DecidedBy    string // the name of the member who recorded the decision
	DecidedAt    time.Time
	DecisionNote string
	Votes        *GrantVotes
	PaidAt       time.Time
}

// FundReportMovement is a movement with the name it is attributed to.
type FundReportMovement struct {
	FundMovement
	Name string
}

// FundReport returns a fund's report. It reads one snapshot of the
// database, so the balance and the movements agree. It returns
// ErrUnknownFund, and ledger.ErrInvalidRequest for an unknown period, To
// not after From, or more than MaxReportMovements movements in the range.
// Reports are public.
func (s *Store) FundReport(ctx context.Context, q ReportQuery) (FundReport, error) {
	if q.Period == "" {
		q.Period = PeriodMonth
	}
	if q.Period != PeriodMonth && q.Period != PeriodQuarter && q.Period != PeriodYear {
		return FundReport{}, invalid("period", "period must be month, quarter or year, not %q", q.Period)
	}
	if q.From != nil && q.To != nil && !q.To.After(*q.From) {
		return FundReport{}, invalid("to", "to must be after from")
	}
	r := FundReport{Period: q.Period, From: q.From, To: q.To}
	var paid map[uuid.UUID]PaidGrant
	// One snapshot: REPEATABLE READ (SERIALIZABLE on CockroachDB), read only.
	err := s.db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, func(tx *pgtx.Tx) error {
		var err error
		r.Fund, err = scanFund(tx.QueryRow(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id = $1`, q.FundID))
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownFund(q.FundID)
		}
		if err != nil {
			return err
		}
		// The balance is the ledger's own column: read here, in the same
		// snapshot as the movements, rather than through ledger.Store.
		err = tx.QueryRow(ctx, `
SELECT a.balance, COALESCE((SELECT sum(CASE WHEN m.direction = 'in' THEN m.amount ELSE -m.amount END)
                            FROM fund_movements m WHERE m.fund_id = $2), 0)
FROM accounts a WHERE a.id = $1`, r.Fund.AccountID, r.Fund.ID).Scan(&r.Balance, &r.Recorded)
		if err != nil {
			return err
		}
		r.Movements, paid, err = reportMovements(ctx, tx, q)
		return err
	})
	if err != nil {
		return FundReport{}, err
	}
	r.Reconciled = r.Balance.Equal(r.Recorded)
	r.In, r.Out = decimal.Zero, decimal.Zero
	for _, m := range r.Movements {
		if m.Direction == Inflow {
			r.In = r.In.Add(m.Amount)
		} else {
			r.Out = r.Out.Add(m.Amount)
		}
	}
	r.Periods = groupByPeriod(q.Period, r.Movements, paid)
	return r, nil
}

// reportMovements reads the movements of a report, with the grants the
// outflows paid.
func reportMovements(ctx context.Context, tx *pgtx.Tx, q ReportQuery) ([]FundReportMovement, map[uuid.UUID]PaidGrant, error) {
	rows, err := tx.Query(ctx, `
SELECT `+movementColumns+`, COALESCE(o.name, m.source),
       g.purpose, g.decided_at, COALESCE(d.name, ''), g.decision_note, g.votes_for, g.votes_against, g.votes_abstain
FROM fund_movements m
LEFT JOIN orgs o ON o.id = m.org_id
LEFT JOIN grant_requests g ON g.id = m.grant_id
LEFT JOIN members d ON d.id = g.decided_by
WHERE m.fund_id = $1 AND ($2::TIMESTAMPTZ IS NULL OR m.at >= $2) AND ($3::TIMESTAMPTZ IS NULL OR m.at < $3)
ORDER BY m.at, m.id
LIMIT $4`, q.FundID, q.From, q.To, MaxReportMovements+1)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ms []FundReportMovement
	paid := make(map[uuid.UUID]PaidGrant)
	for rows.Next() {
		var rm FundReportMovement
		var purpose, decider, note *string
		var decidedAt *time.Time
		var vf, va, vx *int64
		rm.FundMovement, err = scanMovement(rows, &rm.Name, &purpose, &decidedAt, &decider, &note, &vf, &va, &vx)
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, rm)
		if rm.GrantID != nil && purpose != nil && decidedAt != nil {
			pg := PaidGrant{GrantID: *rm.GrantID, TransferID: rm.TransferID, Purpose: *purpose, Amount: rm.Amount,
				DecidedBy: *decider, DecidedAt: decidedAt.UTC(), DecisionNote: *note, PaidAt: rm.At}
			if vf != nil && va != nil && vx != nil {
				pg.Votes = &GrantVotes{For: *vf, Against: *va, Abstain: *vx}
			}
			paid[rm.TransferID] = pg
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(ms) > MaxReportMovements {
		return nil, nil, invalid("to", "the fund has more than %d movements in this range; narrow it with from and to", MaxReportMovements)
	}
	return ms, paid, nil
}

// groupByPeriod groups movements (oldest first) into periods, and each
// period's inflows and outflows by organization or source.
func groupByPeriod(p ReportPeriod, ms []FundReportMovement, paid map[uuid.UUID]PaidGrant) []FundPeriod {
	out := []FundPeriod{}
	for i := 0; i < len(ms); {
		start, end := p.start(ms[i].At)
		pr := FundPeriod{Label: p.label(start), Start: start, End: end, In: decimal.Zero, Out: decimal.Zero}
		in, outs := map[string]*FundAttribution{}, map[string]*FundAttribution{}
		for ; i < len(ms) && ms[i].At.Before(end); i++ {
			m := ms[i]
			groups, total := in, &pr.In
			if m.Direction == Outflow {
				groups, total = outs, &pr.Out
			}
			*total = total.Add(m.Amount)
			key := "source:" + m.Source
			if m.OrgID != nil {
				key = "org:" + m.OrgID.String()
			}
			a := groups[key]
			if a == nil {
				a = &FundAttribution{OrgID: m.OrgID, Name: m.Name, Amount: decimal.Zero}
				groups[key] = a
			}
			a.Amount, a.Count = a.Amount.Add(m.Amount), a.Count+1
			if g, ok := paid[m.TransferID]; ok {
				a.Grants = append(a.Grants, g)
			}
		}
		pr.Inflows, pr.Outflows = sortedAttributions(in), sortedAttributions(outs)
		out = append(out, pr)
	}
	return out
}

// sortedAttributions returns the groups largest first, then by name.
func sortedAttributions(groups map[string]*FundAttribution) []FundAttribution {
	out := make([]FundAttribution, 0, len(groups))
	for _, a := range groups {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b FundAttribution) int {
		if c := b.Amount.Cmp(a.Amount); c != 0 {
			return c
		}
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return slices.Compare(keyBytes(a.OrgID), keyBytes(b.OrgID))
	})
	return out
}

func keyBytes(id *uuid.UUID) []byte {
	if id == nil {
		return nil
	}
	return id[:]
}
