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
// Who may decide, disburse and see grants, and change a fund's rules, is
// decided here: those methods take the acting Principal (see
// fund_rules.go). For the others the callers ask: creating a fund needs
// CanManageOrg on its organization, an outside donation CanGovernFund, a
// contribution CanMoveFrom on the account it comes from, and a grant
// request and its withdrawal CanManageOrg on the requesting organization.

// The reasons of the fund errors.
const (
	ReasonUnknownFund  ledger.Reason = "unknown_fund"
	ReasonUnknownGrant ledger.Reason = "unknown_grant"
	ReasonGrantStatus  ledger.Reason = "grant_status"
)

// Sentinel errors of funds and grants, for errors.Is.
var (
	// ErrUnknownFund: no fund has the id.
	ErrUnknownFund = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownFund}
	// ErrUnknownGrant: no grant request has the id.
	ErrUnknownGrant = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownGrant}
	// ErrGrantStatus: the grant's status does not allow the step asked for
	// (deciding a grant already decided, disbursing one not approved,
	// withdrawing one no longer requested).
	ErrGrantStatus = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonGrantStatus}
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
	// Rules say what a decision's tally needs and when a disbursement
	// needs a second governor; they are public.
	Rules     FundRules
	CreatedBy uuid.UUID
	CreatedAt time.Time
}

// NewFund is a request to create a fund.
type NewFund struct {
	ID    uuid.UUID // optional; a new one is made when zero
	OrgID uuid.UUID // the owning organization
	Name  string    // 1 to 200 characters once trimmed
	Unit  string    // an existing ledger unit, such as USD
	// Rules are the fund's rules; nil means DefaultFundRules.
	Rules *FundRules
}

// CreateFund creates a fund and opens its two ledger accounts, all in one
// transaction: either the fund exists with both accounts or nothing was
// written. It returns ledger.ErrInvalidRequest for a bad name or rules
// (see FundRules; Field names the rule),
// ErrUnknownOrg, ErrUnknownMember, ledger.ErrUnknownUnit, and an ECONFLICT
// error when the ID is taken. p must act for the fund's organization
// (in.OrgID, or the network when it is uuid.Nil): ErrForbidden (Field
// org_id) otherwise. The fund is recorded as created by p's member.
func (s *Store) CreateFund(ctx context.Context, p Principal, in NewFund) (Fund, error) {
	if in.OrgID == uuid.Nil {
		n, err := s.network(ctx)
		if err != nil {
			return Fund{}, err
		}
		in.OrgID = n.ID
	}
	if err := s.mayManageOrgAt(ctx, p, in.OrgID, "org_id"); err != nil {
		return Fund{}, err
	}
	name, err := checkText("name", in.Name, 1, 200)
	if err != nil {
		return Fund{}, err
	}
	if in.ID == uuid.Nil {
		in.ID = newID()
	}
	org, err := s.org(ctx, in.OrgID)
	if err != nil {
		return Fund{}, withFieldName(err, "org_id")
	}
	rules := DefaultFundRules()
	if in.Rules != nil {
		rules = *in.Rules
		if err := s.checkRules(ctx, rules, in.Unit); err != nil {
			return Fund{}, err
		}
	}
	f := Fund{ID: in.ID, OrgID: in.OrgID, Name: name, Unit: in.Unit, Rules: rules, CreatedBy: p.MemberID, CreatedAt: s.clock()}
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		acc, err := lt.CreateAccount(ctx, ledger.NewAccount{Unit: in.Unit, Owner: OrgOwner(in.OrgID), Kind: ledger.KindFund, Name: name, Region: org.Region})
		if err != nil {
			return err
		}
		ext, err := lt.CreateAccount(ctx, ledger.NewAccount{Unit: in.Unit, Owner: OrgOwner(in.OrgID), Kind: ledger.KindExternal,
			Name: "outside the network (" + truncateRunes(name, 150) + ")", Region: org.Region})
		if err != nil {
			return err
		}
		f.Unit, f.AccountID, f.ExternalAccountID = acc.Unit, acc.ID, ext.ID
		_, err = tx.Exec(ctx, `
INSERT INTO funds (id, org_id, name, unit, account_id, external_account_id, created_by, created_at, quorum, majority, second_approval_above)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			f.ID, f.OrgID, f.Name, f.Unit, f.AccountID, f.ExternalAccountID, f.CreatedBy, f.CreatedAt,
			f.Rules.Quorum, f.Rules.Majority, optDecimal(f.Rules.SecondApprovalAbove))
		switch pgCode(err) {
		case uniqueViolation:
			return idTaken("fund", f.ID)
		case foreignKeyViolation:
			return unknownMember(f.CreatedBy)
		}
		record(tx, p, f.CreatedAt, auditEvent{kind: "fund.created", subject: f.ID, org: f.OrgID,
			details: map[string]any{"unit": f.Unit, "account_id": f.AccountID}})
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

const fundColumns = `f.id, f.org_id, f.name, f.unit, f.account_id, f.external_account_id, f.created_by, f.created_at,
f.quorum, f.majority, f.second_approval_above`

func scanFund(r pgx.Row) (Fund, error) {
	var f Fund
	var above decimal.NullDecimal
	err := r.Scan(&f.ID, &f.OrgID, &f.Name, &f.Unit, &f.AccountID, &f.ExternalAccountID, &f.CreatedBy, &f.CreatedAt,
		&f.Rules.Quorum, &f.Rules.Majority, &above)
	f.CreatedAt = f.CreatedAt.UTC()
	if above.Valid {
		f.Rules.SecondApprovalAbove = &above.Decimal
	}
	return f, err
}

// Fund returns a fund, or ErrUnknownFund, to anyone: funds are public (a
// zero Principal may read them; GET /v1/funds/{id} needs a token, the
// public report does not).
func (s *Store) Fund(ctx context.Context, p Principal, id uuid.UUID) (Fund, error) {
	return s.fund(ctx, id)
}

// fund is Fund.
func (s *Store) fund(ctx context.Context, id uuid.UUID) (Fund, error) {
	f, err := scanFund(s.db.Pool.QueryRow(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Fund{}, unknownFund(id)
	}
	return f, err
}

// Funds lists funds in id order, one page at a time; next is the After of
// the following page, or uuid.Nil after the last one. It returns
// ledger.ErrInvalidRequest for a limit outside 0..MaxLimit. Anyone may
// list them, pr the zero Principal too: the list is public.
func (s *Store) Funds(ctx context.Context, pr Principal, p Page) (funds []Fund, next uuid.UUID, err error) {
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
// contribution changes nothing. p must govern the fund to record money
// from outside (Source; see CanGovernFund), and may give only from an
// account p may move value out of (From; see Transfer's rule 1): otherwise
// ErrForbidden, or ledger.ErrUnknownAccount (Field from_account) for an
// account p may not see.
func (s *Store) Contribute(ctx context.Context, p Principal, c Contribution) (FundMovement, error) {
	f, err := s.fund(ctx, c.FundID)
	if err != nil {
		return FundMovement{}, err
	}
	if c.Source != "" {
		err = s.CanGovernFund(ctx, p, f.ID, "record money from outside the network")
	} else if c.From != uuid.Nil {
		var accs map[uuid.UUID]ledger.Account
		if accs, err = s.accountRefs(ctx, []uuid.UUID{c.From}); err == nil {
			err = s.mayMoveFrom(ctx, p, accs, c.From, "from_account", false)
		}
	}
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
	return s.recordMovement(ctx, p, m, req)
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
	if _, err := s.org(ctx, c.OrgID); err != nil {
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
func (s *Store) recordMovement(ctx context.Context, p Principal, m FundMovement, req ledger.TransferRequest) (FundMovement, error) {
	// The member who gives, if a member does, is read before the
	// transaction: it must not wait for a second connection.
	var giver uuid.UUID
	if len(req.Postings) > 0 {
		accs, err := s.accountRefs(ctx, []uuid.UUID{req.Postings[0].From})
		if err != nil {
			return FundMovement{}, err
		}
		_, giver = ownerIDs(accs[req.Postings[0].From].Owner)
	}
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
		ev := auditEvent{kind: "fund.contributed", subject: m.TransferID,
			details: map[string]any{"fund_id": m.FundID, "amount": m.Amount.String(), "direction": m.Direction}}
		if m.OrgID != nil {
			ev.org = *m.OrgID
		}
		ev.member = giver
		record(tx, p, m.At, ev)
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
