package exchange

import (
	"context"
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

// Grants: a local organization's request for money from a fund, the
// fund's decision on it, and its disbursement.

// GrantStatus is where a grant request is in its life.
type GrantStatus string

// The grant statuses:
//
//	requested → approved → disbursed
//	requested → approved → awaiting_second_approval → disbursed
//	requested → rejected | withdrawn
//
// A grant above its fund's second-approval amount awaits a second approval
// after a first governor's disbursement, until a second, different one
// disburses it.
const (
	GrantRequested              GrantStatus = "requested"
	GrantApproved               GrantStatus = "approved"
	GrantAwaitingSecondApproval GrantStatus = "awaiting_second_approval"
	GrantRejected               GrantStatus = "rejected"
	GrantDisbursed              GrantStatus = "disbursed"
	GrantWithdrawn              GrantStatus = "withdrawn"
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
	// FirstApprovedBy and FirstApprovedAt are the governor whose
	// disbursement was the first of two, when the fund asked for two.
	FirstApprovedBy *uuid.UUID
	FirstApprovedAt *time.Time
	// DisbursedBy is the governor who paid it (nil for grants paid before
	// it was recorded).
	DisbursedBy *uuid.UUID
	TransferID  *uuid.UUID // set once disbursed
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewGrant is a request for a grant.
type NewGrant struct {
	ID        uuid.UUID // optional; a new one is made when zero
	FundID    uuid.UUID
	OrgID     uuid.UUID       // the requesting organization, not the fund's own
	Amount    decimal.Decimal // > 0, within the unit's scale
	Purpose   string          // 1 to 1000 characters once trimmed
	ToAccount uuid.UUID       // an account of OrgID in the fund's unit
}

// RequestGrant records a grant request and notifies the fund's governors
// (but the member who asked), in one transaction. It returns ErrUnknownFund,
// ErrUnknownOrg, ledger.ErrUnknownAccount (Field to_account),
// ledger.ErrInvalidRequest for a bad purpose, a request of the fund's own
// organization or an account not the organization's,
// ledger.ErrNonPositiveAmount, ledger.ErrTooManyDecimals,
// ledger.ErrUnitMismatch, and an ECONFLICT error when the ID is taken. p
// must act for OrgID: ErrForbidden (Field org_id) otherwise. The request
// is recorded as p's member's.
func (s *Store) RequestGrant(ctx context.Context, p Principal, in NewGrant) (Grant, error) {
	f, err := s.fund(ctx, in.FundID)
	if err != nil {
		return Grant{}, err
	}
	if err := s.mayManageOrgAt(ctx, p, in.OrgID, "org_id"); err != nil {
		return Grant{}, err
	}
	purpose, err := checkText("purpose", in.Purpose, 1, 1000)
	if err != nil {
		return Grant{}, err
	}
	if in.OrgID == f.OrgID {
		return Grant{}, invalid("org_id", "organization %s owns the fund; grants go to the organizations under it", in.OrgID)
	}
	org, err := s.org(ctx, in.OrgID)
	if err != nil {
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
	g := Grant{ID: in.ID, FundID: f.ID, OrgID: in.OrgID, RequestedBy: p.MemberID, Amount: in.Amount, Purpose: purpose,
		ToAccount: acc.ID, Status: GrantRequested, CreatedAt: now, UpdatedAt: now}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `
INSERT INTO grant_requests (id, fund_id, org_id, requested_by, amount, purpose, to_account, status, created_at, updated_at, region)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE((SELECT region FROM orgs WHERE id = $3), ''))`,
			g.ID, g.FundID, g.OrgID, g.RequestedBy, g.Amount, g.Purpose, g.ToAccount, g.Status, g.CreatedAt, g.UpdatedAt)
		switch pgCode(err) {
		case uniqueViolation:
			return idTaken("grant request", g.ID)
		case foreignKeyViolation:
			return unknownMember(g.RequestedBy)
		}
		if err != nil {
			return err
		}
		record(tx, p, now, g.event("grant.requested"))
		ps := grantParams(g, f)
		ps["Org"], ps["Fund"] = org.Name, f.Name
		return s.tellGovernors(ctx, tx, now, f, g, "grant_requested",
			fmt.Sprintf("%s asks the fund %q for %s %s: %s", org.Name, f.Name, g.Amount, f.Unit, g.Purpose), ps, g.RequestedBy)
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// event is the audit event of a step of g.
func (g Grant) event(kind string) auditEvent {
	d := map[string]any{"status": g.Status, "fund_id": g.FundID, "amount": g.Amount.String()}
	if g.TransferID != nil {
		d["transfer_id"] = *g.TransferID
	}
	return auditEvent{kind: kind, subject: g.ID, org: g.OrgID, details: d}
}

// checkAmount checks that amount is positive and fits unit's scale, as
// ledger.Unit.CheckAmount decides (Field "amount").
func (s *Store) checkAmount(ctx context.Context, amount decimal.Decimal, unit string) error {
	u, err := s.led.Unit(ctx, unit)
	if err != nil {
		return err
	}
	return u.CheckAmount(amount, "amount")
}

const grantColumns = `g.id, g.fund_id, g.org_id, g.requested_by, g.amount, g.purpose, g.to_account, g.status,
g.decided_by, g.decided_at, g.decision_note, g.votes_for, g.votes_against, g.votes_abstain, g.transfer_id, g.created_at, g.updated_at,
g.first_approved_by, g.first_approved_at, g.disbursed_by`

func scanGrant(r pgx.Row) (Grant, error) {
	var g Grant
	var vf, va, vx *int64
	err := r.Scan(&g.ID, &g.FundID, &g.OrgID, &g.RequestedBy, &g.Amount, &g.Purpose, &g.ToAccount, &g.Status,
		&g.DecidedBy, &g.DecidedAt, &g.DecisionNote, &vf, &va, &vx, &g.TransferID, &g.CreatedAt, &g.UpdatedAt,
		&g.FirstApprovedBy, &g.FirstApprovedAt, &g.DisbursedBy)
	if err == nil && vf != nil && va != nil && vx != nil {
		g.Votes = &GrantVotes{For: *vf, Against: *va, Abstain: *vx}
	}
	g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
	for _, at := range []**time.Time{&g.DecidedAt, &g.FirstApprovedAt} {
		if *at != nil {
			t := (*at).UTC()
			*at = &t
		}
	}
	return g, err
}

// Grant returns a grant request p may see: the fund's governors, those who
// act for the requesting organization, and the member who asked may. It
// returns ErrUnknownGrant for a grant that does not exist or that p may not
// see, and ErrUnauthenticated for a zero Principal.
func (s *Store) Grant(ctx context.Context, p Principal, id uuid.UUID) (Grant, error) {
	g, _, _, err := s.grantFor(ctx, p, id)
	return g, err
}

// grant reads a grant request, or ErrUnknownGrant.
func (s *Store) grant(ctx context.Context, id uuid.UUID) (Grant, error) {
	g, err := scanGrant(s.db.Pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grant_requests g WHERE g.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Grant{}, unknownGrant(id)
	}
	return g, err
}

// Grants lists the grant requests of a fund that p may see, in id order,
// one page at a time; next is the After of the following page, or uuid.Nil
// after the last one. The fund's governors see every request; anyone else
// those of the organizations they act for (the ones they coordinate and
// those under them) and those they made. It returns ErrUnauthenticated for
// a zero Principal, ErrUnknownFund and ledger.ErrInvalidRequest for a bad
// limit.
func (s *Store) Grants(ctx context.Context, p Principal, fundID uuid.UUID, pg Page) (grants []Grant, next uuid.UUID, err error) {
	limit, err := pg.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	all := true
	switch err := s.CanGovernFund(ctx, p, fundID, "see its grants"); {
	case errors.Is(err, ErrForbidden):
		all = false
	case err != nil:
		return nil, uuid.Nil, err
	}
	governed := p.Coordinated()
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
ORDER BY g.id LIMIT $7`, fundID, pg.After, all, governed, p.MemberID, maxDepth, limit+1)
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
	GrantID uuid.UUID
	Approve bool
	Note    string      // up to 2000 characters
	Votes   *GrantVotes // the tally, when there was a vote; counts >= 0
}

// DecideGrant records p's approval or rejection of a requested grant, by p
// and when (the store's clock), and notifies the member who asked and the
// coordinators of the requesting organization, in one transaction. The
// decision must agree with the fund's rules (FundRules), read under a lock
// of the fund's row so that a change of the rules is seen whole: the tally
// has at least the quorum's votes, an approval reaches the majority and a
// rejection does not.
//
// It returns ErrUnauthenticated for a zero Principal; ErrUnknownGrant for a
// grant that does not exist or that p may not see; ErrForbidden when p
// does not govern the fund, or asked for the grant, or coordinates the
// requesting organization (see MayActOnGrant); ledger.ErrInvalidRequest for
// a bad note or a negative count; ErrGrantStatus when the grant is no
// longer requested; ErrQuorumNotReached and ErrAgainstTally. A refused
// decision changes nothing.
func (s *Store) DecideGrant(ctx context.Context, p Principal, d GrantDecision) (Grant, error) {
	g, _, fundGov, err := s.grantFor(ctx, p, d.GrantID)
	if err != nil {
		return Grant{}, err
	}
	if err := p.MayActOnGrant(fundGov, g, "decide"); err != nil {
		return Grant{}, err
	}
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
	status, kind, verb := GrantRejected, "grant_rejected", "rejected"
	if d.Approve {
		status, kind, verb = GrantApproved, "grant_approved", "approved"
	}
	now := s.clock()
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		var err error
		if g, err = lockGrant(ctx, tx, d.GrantID); err != nil {
			return err
		}
		f, err := shareFund(ctx, tx, g.FundID)
		if err != nil {
			return err
		}
		if g.Status != GrantRequested {
			return grantStatus(g, "requested grant can be decided")
		}
		if err := f.Rules.checkDecision(d.Approve, d.Votes); err != nil {
			return err
		}
		g, err = scanGrant(tx.QueryRow(ctx, `
UPDATE grant_requests g SET status = $2, decided_by = $3, decided_at = $4, decision_note = $5,
    votes_for = $6, votes_against = $7, votes_abstain = $8, updated_at = $4
WHERE g.id = $1 RETURNING `+grantColumns, g.ID, status, p.MemberID, now, note, vf, va, vx))
		if err != nil {
			return err
		}
		record(tx, p, now, g.event("grant."+verb))
		ps := grantParams(g, f)
		ps["Note"] = note
		return s.tellRequester(ctx, tx, now, p, g, kind,
			fmt.Sprintf("the grant of %s %s for %q was %s", g.Amount, f.Unit, g.Purpose, verb)+orNote(note), ps)
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

func orNote(note string) string {
	if note == "" {
		return ""
	}
	return ": " + note
}

// shareFund reads a fund's row under a share lock: its rules cannot change
// until the transaction ends (SetFundRules locks it for update). Every
// path locks a grant before its fund.
func shareFund(ctx context.Context, tx *pgtx.Tx, id uuid.UUID) (Fund, error) {
	return scanFund(tx.QueryRow(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id = $1 FOR SHARE`, id))
}

// tellRequester notifies the member who asked for g and the coordinators
// of the requesting organization, but not p.
func (s *Store) tellRequester(ctx context.Context, tx *pgtx.Tx, now time.Time, p Principal, g Grant, kind, message string, ps map[string]string) error {
	coords, err := governingMembers(ctx, tx, []uuid.UUID{g.OrgID}, false)
	if err != nil {
		return err
	}
	to := without(append([]uuid.UUID{g.RequestedBy}, coords...), p.MemberID)
	return notify(ctx, tx, now, notice{Kind: kind, Grant: &g.ID, Message: message, Params: ps}, to...)
}

// tellGovernors notifies the fund's governors (the coordinators of its
// organization and above, the admin) of g, less except.
func (s *Store) tellGovernors(ctx context.Context, tx *pgtx.Tx, now time.Time, f Fund, g Grant, kind, message string, ps map[string]string, except ...uuid.UUID) error {
	to, err := governingMembers(ctx, tx, []uuid.UUID{f.OrgID}, true, except...)
	if err != nil {
		return err
	}
	return notify(ctx, tx, now, notice{Kind: kind, Grant: &g.ID, Message: message, Params: ps}, to...)
}

// grantParams are the parameters of a grant's notifications: its amount,
// unit and purpose.
func grantParams(g Grant, f Fund) map[string]string {
	return map[string]string{"Amount": places(g.Amount), "Unit": f.Unit, "Purpose": g.Purpose}
}

// lockGrant reads a grant and locks its row for the transaction.
func lockGrant(ctx context.Context, tx *pgtx.Tx, id uuid.UUID) (Grant, error) {
	g, err := scanGrant(tx.QueryRow(ctx, `SELECT `+grantColumns+` FROM grant_requests g WHERE g.id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Grant{}, unknownGrant(id)
	}
	return g, err
}

// WithdrawGrant withdraws a grant request that is still requested, for
// whoever acts for the requesting organization (the admin among them). It
// returns ErrUnknownGrant for a grant p may not see (see Grant),
// ErrForbidden for one p may see but not withdraw, and ErrGrantStatus.
func (s *Store) WithdrawGrant(ctx context.Context, p Principal, id uuid.UUID) (Grant, error) {
	g, err := s.Grant(ctx, p, id)
	if err != nil {
		return Grant{}, err
	}
	switch err := s.CanManageOrg(ctx, p, g.OrgID); {
	case hidden(err) || isForbidden(err):
		return Grant{}, forbiddenBecause("only those who act for the requesting organization may withdraw its grant request")
	case err != nil:
		return Grant{}, err
	}
	now := s.clock()
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		var err error
		if g, err = lockGrant(ctx, tx, id); err != nil {
			return err
		}
		if g.Status != GrantRequested {
			return grantStatus(g, "requested grant can be withdrawn")
		}
		g, err = scanGrant(tx.QueryRow(ctx, `UPDATE grant_requests g SET status = $2, updated_at = $3 WHERE g.id = $1 RETURNING `+grantColumns,
			id, GrantWithdrawn, now))
		record(tx, p, now, g.event("grant.withdrawn"))
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// Disburse is p's disbursement of an approved grant. When the fund needs
// no second approval for the grant's amount (FundRules.SecondApprovalAbove
// unset, or the amount at or below it), or when the grant awaits a second
// approval and p is not the governor who gave the first, it pays the grant:
// one ledger transfer from the fund's account to the grant's account, the
// grant marked disbursed by p and the outflow recorded, all in one
// transaction. When the amount is above the fund's second-approval amount
// and the grant is approved, it records p's approval instead (status
// GrantAwaitingSecondApproval, FirstApprovedBy p) and moves nothing; the
// returned movement is then the zero value. A grant already awaiting a
// second approval needs it even if the rules changed since. Each step
// locks the grant first, so a grant is paid at most once however many
// disbursements race, and by two different governors when two are needed.
// The requester and the coordinators of the requesting organization are
// notified of each step, and the fund's other governors when a second
// approval is awaited.
//
// It returns ErrUnauthenticated for a zero Principal; ErrUnknownGrant for a
// grant that does not exist or that p may not see; ErrForbidden when p may
// not act on it (see MayActOnGrant), or gave the first approval of a grant
// that awaits the second; ErrGrantStatus (not approved, or already
// disbursed); and the ledger's refusals (ledger.ErrInsufficientFunds when
// the fund holds too little, ledger.ErrAccountFrozen, …), which change
// nothing.
func (s *Store) Disburse(ctx context.Context, p Principal, grantID uuid.UUID) (Grant, FundMovement, error) {
	g, _, fundGov, err := s.grantFor(ctx, p, grantID)
	if err != nil {
		return Grant{}, FundMovement{}, err
	}
	if err := p.MayActOnGrant(fundGov, g, "disburse"); err != nil {
		return Grant{}, FundMovement{}, err
	}
	var m FundMovement
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		m = FundMovement{}
		var err error
		if g, err = lockGrant(ctx, tx, grantID); err != nil {
			return err
		}
		f, err := shareFund(ctx, tx, g.FundID)
		if err != nil {
			return err
		}
		now := s.clock()
		switch {
		case g.Status == GrantApproved && f.Rules.needsSecondApproval(g.Amount):
			return s.firstApproval(ctx, tx, now, p, f, &g)
		case g.Status == GrantAwaitingSecondApproval && g.FirstApprovedBy != nil && *g.FirstApprovedBy == p.MemberID:
			return forbiddenBecause(fmt.Sprintf("you gave grant %s its first approval: a second, different governor of the fund must disburse it", g.ID))
		case g.Status != GrantApproved && g.Status != GrantAwaitingSecondApproval:
			return grantStatus(g, "approved grant can be disbursed")
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
		g.Status, g.TransferID, g.DisbursedBy, g.UpdatedAt = GrantDisbursed, &m.TransferID, &p.MemberID, t.CreatedAt
		deferExec(tx, `UPDATE grant_requests SET status = $2, transfer_id = $3, disbursed_by = $4, updated_at = $5 WHERE id = $1`,
			g.ID, g.Status, t.ID, p.MemberID, g.UpdatedAt)
		deferExec(tx, insertMovement, m.ID, m.FundID, m.TransferID, m.Direction, m.OrgID, m.Source, m.Amount, m.Memo, m.At, m.GrantID)
		record(tx, p, now, g.event("grant.disbursed"))
		return s.tellRequester(ctx, tx, now, p, g, "grant_disbursed",
			fmt.Sprintf("the grant of %s %s for %q was paid", g.Amount, f.Unit, g.Purpose), grantParams(g, f))
	})
	if err != nil {
		return Grant{}, FundMovement{}, err
	}
	return g, m, nil
}

// firstApproval records p's approval of a disbursement that needs two, and
// tells the requester's side and the governors who may give the second.
func (s *Store) firstApproval(ctx context.Context, tx *pgtx.Tx, now time.Time, p Principal, f Fund, g *Grant) error {
	var err error
	*g, err = scanGrant(tx.QueryRow(ctx, `
UPDATE grant_requests g SET status = $2, first_approved_by = $3, first_approved_at = $4, updated_at = $4
WHERE g.id = $1 RETURNING `+grantColumns, g.ID, GrantAwaitingSecondApproval, p.MemberID, now))
	if err != nil {
		return err
	}
	record(tx, p, now, g.event("grant.first_approved"))
	what := fmt.Sprintf("the grant of %s %s for %q", g.Amount, f.Unit, g.Purpose)
	if err := s.tellRequester(ctx, tx, now, p, *g, "grant_awaiting_second_approval",
		what+" has its first approval and awaits a second governor's before it is paid", grantParams(*g, f)); err != nil {
		return err
	}
	// Those on the requesting side may not give the second approval.
	requesting, err := governingMembers(ctx, tx, []uuid.UUID{g.OrgID}, false)
	if err != nil {
		return err
	}
	// To the governors it says whose approval it awaits (Above).
	ps := grantParams(*g, f)
	if f.Rules.SecondApprovalAbove != nil {
		ps["Above"] = places(*f.Rules.SecondApprovalAbove)
	}
	return s.tellGovernors(ctx, tx, now, f, *g, "grant_awaiting_second_approval",
		what+fmt.Sprintf(" is above %s %s: it awaits your approval, a second governor's, before it is paid", f.Rules.SecondApprovalAbove, f.Unit),
		ps, append(requesting, p.MemberID, g.RequestedBy)...)
}
