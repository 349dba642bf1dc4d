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

// A fund's rules, and who governs it. A fund is governed by the
// coordinators of its organization and of the organizations above it, and
// by the network admin; they decide and disburse its grants, except the
// grants their own side asked for: the member who asked and the
// coordinators of the requesting organization never decide or pay it (the
// admin still may, unless the admin asked). Only the admin changes a
// fund's rules, and every change is recorded.

// Majority is how many of the votes cast for or against a grant it needs.
type Majority string

// The majorities. Abstentions count towards the quorum, never towards the
// majority.
const (
	// MajoritySimple: more votes for than against.
	MajoritySimple Majority = "simple"
	// MajorityTwoThirds: at least one vote for, and votes for at least two
	// thirds of the votes for and against (3·for ≥ 2·(for+against)), so 2
	// for and 1 against is reached, 3 for and 2 against is not.
	MajorityTwoThirds Majority = "two_thirds"
)

// Reached reports whether a tally reaches the majority.
func (m Majority) Reached(v GrantVotes) bool {
	if m == MajorityTwoThirds {
		return v.For > 0 && 3*v.For >= 2*(v.For+v.Against)
	}
	return v.For > v.Against
}

// MaxQuorum bounds a fund's quorum; the schema holds it too.
const MaxQuorum = 1000000

// FundRules are the rules a fund's grants follow.
type FundRules struct {
	// Quorum is the fewest votes (for + against + abstain) a decision
	// needs, 0 to MaxQuorum. With 0 a decision may be recorded without a
	// tally; with more, a decision without one is refused.
	Quorum int64
	// Majority is what an approval needs, and what a rejection must not
	// have: a tally that reaches it cannot be recorded as a rejection.
	Majority Majority
	// SecondApprovalAbove, when set (> 0, within the unit's scale), is the
	// amount above which a disbursement needs two different governors.
	SecondApprovalAbove *decimal.Decimal
}

// DefaultFundRules are the rules of a fund created without any, and of the
// funds that existed before funds had rules: no quorum (a decision may be
// recorded without a tally), a simple majority when there is a tally, and
// no second approval.
func DefaultFundRules() FundRules { return FundRules{Quorum: 0, Majority: MajoritySimple} }

// Equal reports whether two sets of rules are the same.
func (r FundRules) Equal(o FundRules) bool {
	if r.Quorum != o.Quorum || r.Majority != o.Majority || (r.SecondApprovalAbove == nil) != (o.SecondApprovalAbove == nil) {
		return false
	}
	return r.SecondApprovalAbove == nil || r.SecondApprovalAbove.Equal(*o.SecondApprovalAbove)
}

// needsSecondApproval reports whether paying amount needs two governors.
func (r FundRules) needsSecondApproval(amount decimal.Decimal) bool {
	return r.SecondApprovalAbove != nil && amount.GreaterThan(*r.SecondApprovalAbove)
}

// The reasons of a decision the fund's rules refuse.
const (
	ReasonQuorumNotReached ledger.Reason = "quorum_not_reached"
	ReasonAgainstTally     ledger.Reason = "decision_against_tally"
)

// Sentinel errors of the fund's rules, for errors.Is.
var (
	// ErrQuorumNotReached: the fund has a quorum and the decision has no
	// tally, or fewer votes than the quorum (Field "votes").
	ErrQuorumNotReached = &ledger.Error{Code: ledger.EINVALID, Reason: ReasonQuorumNotReached}
	// ErrAgainstTally: an approval whose tally does not reach the fund's
	// majority, or a rejection whose tally does (Field "decision").
	ErrAgainstTally = &ledger.Error{Code: ledger.EINVALID, Reason: ReasonAgainstTally}
)

// checkDecision checks a decision against the rules.
func (r FundRules) checkDecision(approve bool, v *GrantVotes) error {
	if r.Quorum > 0 {
		if v == nil {
			e := newError(ErrQuorumNotReached.Code, ReasonQuorumNotReached, "the fund's quorum is %d votes: record the tally of the vote", r.Quorum)
			e.Field = "votes"
			return e
		}
		if n := v.For + v.Against + v.Abstain; n < r.Quorum {
			e := newError(ErrQuorumNotReached.Code, ReasonQuorumNotReached, "the fund's quorum is %d votes; the tally has %d", r.Quorum, n)
			e.Field = "votes"
			return e
		}
	}
	if v == nil {
		return nil
	}
	reached := r.Majority.Reached(*v)
	var msg string
	switch {
	case approve && !reached:
		msg = fmt.Sprintf("%d for, %d against does not reach the fund's %s majority: the grant cannot be approved", v.For, v.Against, r.Majority.words())
	case !approve && reached:
		msg = fmt.Sprintf("%d for, %d against reaches the fund's %s majority: the grant cannot be rejected", v.For, v.Against, r.Majority.words())
	default:
		return nil
	}
	e := newError(ErrAgainstTally.Code, ReasonAgainstTally, "%s", msg)
	e.Field = "decision"
	return e
}

func (m Majority) words() string {
	if m == MajorityTwoThirds {
		return "two-thirds"
	}
	return "simple"
}

// checkRules checks rules for a fund in unit.
func (s *Store) checkRules(ctx context.Context, r FundRules, unit string) error {
	if r.Quorum < 0 || r.Quorum > MaxQuorum {
		return invalid("quorum", "quorum must be 0 to %d votes, not %d", MaxQuorum, r.Quorum)
	}
	if r.Majority != MajoritySimple && r.Majority != MajorityTwoThirds {
		return invalid("majority", "majority must be simple or two_thirds, not %q", r.Majority)
	}
	if r.SecondApprovalAbove == nil {
		return nil
	}
	err := s.checkAmount(ctx, *r.SecondApprovalAbove, unit)
	var le *ledger.Error
	if errors.As(err, &le) && le.Field == "amount" {
		e := *le
		e.Field = "second_approval_above"
		e.Message = "second_approval_above: " + e.Message
		return &e
	}
	return err
}

// FundRuleChange is the record of one change of a fund's rules.
type FundRuleChange struct {
	ID        uuid.UUID
	FundID    uuid.UUID
	ChangedBy uuid.UUID
	ChangedAt time.Time
	Reason    string
	Old, New  FundRules
}

// SetFundRules replaces a fund's rules and records the change (who, when,
// why, the rules before and after) in the same transaction, which locks the
// fund's row so that decisions and disbursements see the rules before or
// after, never half. Rules equal to the fund's change nothing and record
// nothing (a retried request is harmless): the change returned is then the
// zero value. Grants already decided are not decided again; a grant already
// awaiting a second approval still needs it.
//
// Only the network admin may change a fund's rules. It returns
// ErrUnauthenticated for a zero Principal, ErrUnknownFund, ErrForbidden for
// anyone but the admin, and ledger.ErrInvalidRequest for a missing or too
// long reason (Field "reason") or bad rules (Field "quorum", "majority" or
// "second_approval_above"; ledger.ErrTooManyDecimals and
// ledger.ErrNonPositiveAmount for the amount).
func (s *Store) SetFundRules(ctx context.Context, p Principal, fundID uuid.UUID, rules FundRules, reason string) (Fund, FundRuleChange, error) {
	if p.MemberID == uuid.Nil {
		return Fund{}, FundRuleChange{}, unauthenticated()
	}
	f, err := s.fund(ctx, fundID)
	if err != nil {
		return Fund{}, FundRuleChange{}, err
	}
	if !p.Admin {
		return Fund{}, FundRuleChange{}, forbiddenBecause("only the network admin may change a fund's rules")
	}
	reason, err = checkText("reason", reason, 1, 1000)
	if err != nil {
		return Fund{}, FundRuleChange{}, err
	}
	if err := s.checkRules(ctx, rules, f.Unit); err != nil {
		return Fund{}, FundRuleChange{}, err
	}
	var c FundRuleChange
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		c = FundRuleChange{}
		var err error
		if f, err = scanFund(tx.QueryRow(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id = $1 FOR UPDATE`, fundID)); err != nil {
			return err
		}
		if f.Rules.Equal(rules) {
			return nil
		}
		c = FundRuleChange{ID: newID(), FundID: f.ID, ChangedBy: p.MemberID, ChangedAt: s.clock(), Reason: reason, Old: f.Rules, New: rules}
		if _, err := tx.Exec(ctx, `UPDATE funds SET quorum = $2, majority = $3, second_approval_above = $4 WHERE id = $1`,
			f.ID, rules.Quorum, rules.Majority, optDecimal(rules.SecondApprovalAbove)); err != nil {
			return err
		}
		f.Rules = rules
		_, err = tx.Exec(ctx, `
INSERT INTO fund_rule_changes (id, fund_id, changed_by, changed_at, reason, old_quorum, new_quorum, old_majority, new_majority,
    old_second_approval_above, new_second_approval_above)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			c.ID, c.FundID, c.ChangedBy, c.ChangedAt, c.Reason, c.Old.Quorum, c.New.Quorum, c.Old.Majority, c.New.Majority,
			optDecimal(c.Old.SecondApprovalAbove), optDecimal(c.New.SecondApprovalAbove))
		record(tx, p, c.ChangedAt, auditEvent{kind: "fund.rules_changed", subject: f.ID, org: f.OrgID,
			details: map[string]any{"change_id": c.ID}})
		return err
	})
	if err != nil {
		return Fund{}, FundRuleChange{}, err
	}
	return f, c, nil
}

// FundRuleChanges lists the changes of a fund's rules, oldest first, one
// page at a time; next is the After of the following page, or uuid.Nil
// after the last. They are for the fund's governors: it returns
// ErrUnauthenticated for a zero Principal, ErrUnknownFund, ErrForbidden for
// anyone else (the fund is public, so the refusal hides nothing), and
// ledger.ErrInvalidRequest for a bad limit.
func (s *Store) FundRuleChanges(ctx context.Context, p Principal, fundID uuid.UUID, pg Page) (cs []FundRuleChange, next uuid.UUID, err error) {
	limit, err := pg.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	if err := s.CanGovernFund(ctx, p, fundID, "see the changes of its rules"); err != nil {
		return nil, uuid.Nil, err
	}
	// Record ids are UUIDv7, made in time order: id order is change order.
	rows, err := s.db.Pool.Query(ctx, `
SELECT id, fund_id, changed_by, changed_at, reason, old_quorum, new_quorum, old_majority, new_majority,
       old_second_approval_above, new_second_approval_above
FROM fund_rule_changes WHERE fund_id = $1 AND id > $2 ORDER BY id LIMIT $3`, fundID, pg.After, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	cs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (FundRuleChange, error) {
		var c FundRuleChange
		var oldAbove, newAbove decimal.NullDecimal
		err := r.Scan(&c.ID, &c.FundID, &c.ChangedBy, &c.ChangedAt, &c.Reason, &c.Old.Quorum, &c.New.Quorum,
			&c.Old.Majority, &c.New.Majority, &oldAbove, &newAbove)
		c.ChangedAt = c.ChangedAt.UTC()
		if oldAbove.Valid {
			c.Old.SecondApprovalAbove = &oldAbove.Decimal
		}
		if newAbove.Valid {
			c.New.SecondApprovalAbove = &newAbove.Decimal
		}
		return c, err
	})
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(cs) > limit {
		cs = cs[:limit]
		next = cs[limit-1].ID
	}
	return cs, next, nil
}

// MayGovernFund decides whether p governs a fund, given the fund's
// organization and its ancestors: their coordinators and the admin do;
// anyone else gets ErrForbidden saying they may not do what (funds are
// public: there is nothing to hide).
func (p Principal) MayGovernFund(fundOrgAndAncestors []uuid.UUID, what string) error {
	err := p.MayManageOrg(fundOrgAndAncestors)
	if e, ok := err.(*ledger.Error); ok && e.Code == EFORBIDDEN {
		e.Message = "only the coordinators of the fund's organization and the network admin may " + what
	}
	return err
}

// MayActOnGrant decides whether p may decide or disburse (what) a grant of
// a fund whose organization and ancestors are given: p must govern the
// fund, and must not be on the side that asked: neither the member who
// asked, nor a coordinator of the requesting organization (the admin still
// may, unless the admin asked). It returns nil or ErrForbidden saying why.
func (p Principal) MayActOnGrant(fundOrgAndAncestors []uuid.UUID, g Grant, what string) error {
	if err := p.MayGovernFund(fundOrgAndAncestors, what+" its grants"); err != nil {
		return err
	}
	if g.RequestedBy == p.MemberID {
		return forbiddenBecause(fmt.Sprintf("you asked for grant %s: another governor of the fund must %s it", g.ID, what))
	}
	if !p.Admin && p.Roles[g.OrgID].governs() {
		return forbiddenBecause(fmt.Sprintf("you coordinate organization %s, which asked for grant %s: another governor of the fund must %s it", g.OrgID, g.ID, what))
	}
	return nil
}

// mayReadGrant decides whether p may see a grant: the fund's governors,
// the member who asked, and whoever acts for the requesting organization
// (given it and its ancestors); anyone else gets ErrNotVisible.
func (p Principal) mayReadGrant(fundGov []uuid.UUID, g Grant, orgGov []uuid.UUID) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if p.MayManageOrg(fundGov) == nil || g.RequestedBy == p.MemberID || p.MayManageOrg(orgGov) == nil {
		return nil
	}
	return notVisible()
}

// CanGovernFund reports whether p governs a fund, as
// Principal.MayGovernFund decides: nil; ErrForbidden saying p may not do
// what; ErrUnknownFund; ErrUnauthenticated for a zero Principal; or a
// database error.
func (s *Store) CanGovernFund(ctx context.Context, p Principal, fundID uuid.UUID, what string) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	f, err := s.fund(ctx, fundID)
	if err != nil {
		return err
	}
	gov, err := s.governors(ctx, OrgOwner(f.OrgID))
	if err != nil {
		return err
	}
	return p.MayGovernFund(gov, what)
}

// grantFor returns a grant p may see, its fund and the governors of the
// fund's organization (it and its ancestors), or ErrUnknownGrant, as for a
// grant that does not exist.
func (s *Store) grantFor(ctx context.Context, p Principal, id uuid.UUID) (Grant, Fund, []uuid.UUID, error) {
	if p.MemberID == uuid.Nil {
		return Grant{}, Fund{}, nil, unauthenticated()
	}
	g, err := s.grant(ctx, id)
	if err != nil {
		return Grant{}, Fund{}, nil, err
	}
	f, err := s.fund(ctx, g.FundID)
	if err != nil {
		return Grant{}, Fund{}, nil, err
	}
	fundGov, err := s.governors(ctx, OrgOwner(f.OrgID))
	if err != nil {
		return Grant{}, Fund{}, nil, err
	}
	var orgGov []uuid.UUID
	if p.MayManageOrg(fundGov) != nil && g.RequestedBy != p.MemberID {
		if orgGov, err = s.governors(ctx, OrgOwner(g.OrgID)); err != nil {
			return Grant{}, Fund{}, nil, err
		}
	}
	if err := p.mayReadGrant(fundGov, g, orgGov); err != nil {
		return Grant{}, Fund{}, nil, unknownGrant(id)
	}
	return g, f, fundGov, nil
}

// governingMembers returns the members who govern orgs: those with a
// coordinator or admin role in one of them or, when up is set, in an
// organization above one of them; less those in except. One query, in the
// caller's transaction, so that a notification reaches whoever governs
// when the change commits.
func governingMembers(ctx context.Context, tx *pgtx.Tx, orgs []uuid.UUID, up bool, except ...uuid.UUID) ([]uuid.UUID, error) {
	depth := 0
	if up {
		depth = maxDepth
	}
	if except == nil {
		except = []uuid.UUID{}
	}
	rows, err := tx.Query(ctx, `
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT o.id, o.parent_id, 0 FROM orgs o WHERE o.id = ANY($1)
  UNION ALL
    SELECT o.id, o.parent_id, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent_id WHERE up.depth < $2
)
SELECT DISTINCT m.member_id FROM memberships m
WHERE m.org_id IN (SELECT id FROM up) AND m.role IN ('coordinator', 'admin') AND NOT (m.member_id = ANY($3))
ORDER BY m.member_id`, orgs, depth, except)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// nearestCoordinators returns the coordinators (and admins) of org itself
// or, when it has none, of the nearest organization above it that has
// some: those who act for it. Less except; in the caller's transaction.
func nearestCoordinators(ctx context.Context, tx *pgtx.Tx, org uuid.UUID, except ...uuid.UUID) ([]uuid.UUID, error) {
	if except == nil {
		except = []uuid.UUID{}
	}
	rows, err := tx.Query(ctx, `
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT o.id, o.parent_id, 0 FROM orgs o WHERE o.id = $1
  UNION ALL
    SELECT o.id, o.parent_id, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent_id WHERE up.depth < $2
), c AS (
    SELECT m.member_id, up.depth FROM memberships m JOIN up ON m.org_id = up.id WHERE m.role IN ('coordinator', 'admin')
)
SELECT DISTINCT member_id FROM c
WHERE depth = (SELECT min(depth) FROM c) AND NOT (member_id = ANY($3))
ORDER BY member_id`, org, maxDepth, except)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// without returns ids less those in except, in order, each once.
func without(ids []uuid.UUID, except ...uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range ids {
		if id != uuid.Nil && !slices.Contains(except, id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
