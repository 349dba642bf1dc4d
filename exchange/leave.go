package exchange

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Leaving an organization. A member leaves, or a coordinator of the
// organization (or above it) removes them, the way a time bank closes a
// member's file: the hours are squared first, so that nobody leaves owing
// the others or owed by them, and nothing they were in the middle of is
// left hanging. So leaving
//   - is refused (ErrAgreementsInProgress) while an agreement of theirs
//     on a listing of the organization is proposed, accepted or disputed:
//     finish or cancel it first;
//   - is refused (ErrBalanceNotSettled) while an account of theirs opened
//     for the organization holds a balance or a hold: the member gives
//     what they hold to the community pool, or a coordinator grants them
//     what they owe from it (or they give hours first), then they leave;
//   - closes those accounts, for good: their history stays in the ledger,
//     in exports and statements, but nothing moves through them again
//     (ledger.ErrAccountClosed);
//   - withdraws their open offers and needs in the organization;
//   - ends the membership: they no longer see the organization's listings
//     or act in it, and its coordinators no longer see them (unless they
//     also coordinate another organization of theirs). Their past records
//     stay, and the departure is recorded (who, when, in which role, ended
//     by whom).
//
// Leaving the last organization leaves a member of none: their record,
// their credentials and their closed accounts stay (erasing a person is a
// separate step). The network's last admin cannot leave it
// (ErrLastAdmin).

// The reasons of the errors only Leave returns.
const (
	ReasonBalanceNotSettled    ledger.Reason = "balance_not_settled"
	ReasonAgreementsInProgress ledger.Reason = "agreements_in_progress"
	ReasonLastAdmin            ledger.Reason = "last_admin"
)

var (
	// ErrBalanceNotSettled: an account the member holds for the
	// organization has a balance or a hold; the error names the account
	// and says what it holds.
	ErrBalanceNotSettled = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonBalanceNotSettled}
	// ErrAgreementsInProgress: an agreement of the member's on a listing of
	// the organization is proposed, accepted or disputed; the message names
	// it.
	ErrAgreementsInProgress = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonAgreementsInProgress}
	// ErrLastAdmin: the member is the network's only admin, who cannot
	// leave it.
	ErrLastAdmin = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonLastAdmin}
)

// Departure records a member leaving an organization.
type Departure struct {
	ID       uuid.UUID
	OrgID    uuid.UUID
	MemberID uuid.UUID
	Role     Role // the role they had
	JoinedAt time.Time
	LeftAt   time.Time
	// EndedBy is who ended the membership: the member, or the coordinator
	// or admin who removed them.
	EndedBy uuid.UUID
	// ClosedAccounts are the accounts closed on leaving, in id order.
	ClosedAccounts []uuid.UUID
	// WithdrawnListings is how many of their open listings were withdrawn.
	WithdrawnListings int
}

// Leave ends memberID's membership of orgID on behalf of p, as described
// above. Who may: the member themselves; whoever acts for the organization
// (CanManageOrg) for a member they may see, except that only an admin
// removes an admin.
//
// It returns, in the order checked: ErrUnauthenticated for a zero
// Principal; ErrUnknownOrg; ErrUnknownMember for a member p may not see
// (as for one that does not exist); ErrForbidden; ErrNotAMember (Field
// "member_id") when the member does not belong to the organization (the
// organizations under it are not it); ErrLastAdmin; ErrAgreementsInProgress;
// ErrBalanceNotSettled (Account set). Nothing changes when it fails.
func (s *Store) Leave(ctx context.Context, p Principal, orgID, memberID uuid.UUID) (Departure, error) {
	if err := requireMember(p); err != nil {
		return Departure{}, err
	}
	if _, err := s.org(ctx, orgID); err != nil {
		return Departure{}, err
	}
	if p.MemberID != memberID {
		if _, err := s.readableMember(ctx, p, memberID, "member_id"); err != nil {
			return Departure{}, err
		}
		if err := s.mayManageOrgAt(ctx, p, orgID, ""); err != nil {
			return Departure{}, err
		}
	}
	now := s.clock()
	var d Departure
	err := s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		d = Departure{ID: newID(), OrgID: orgID, MemberID: memberID, LeftAt: now, EndedBy: p.MemberID, ClosedAccounts: []uuid.UUID{}}
		if err := lockDeparture(ctx, tx, &d); err != nil {
			return err
		}
		if d.Role == RoleAdmin && !p.Admin && p.MemberID != memberID {
			return forbiddenBecause("only a network admin may remove an admin")
		}
		// The exchange's rows first, then the ledger's (closeOrgAccounts),
		// as every transaction locks them. Withdrawing her open listings
		// locks them, so no agreement is proposed on them once checked.
		tag, err := tx.Exec(ctx, `
UPDATE listings SET status = 'withdrawn', updated_at = $3
WHERE org_id = $1 AND owner_member = $2 AND status = 'open'`, orgID, memberID, now)
		if err != nil {
			return err
		}
		d.WithdrawnListings = int(tag.RowsAffected())
		if err := checkNoAgreements(ctx, tx, orgID, memberID); err != nil {
			return err
		}
		if err := closeOrgAccounts(ctx, tx, lt, &d); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM memberships WHERE org_id = $1 AND member_id = $2`, orgID, memberID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
INSERT INTO membership_departures (id, org_id, member_id, role, joined_at, left_at, ended_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, d.ID, orgID, memberID, d.Role, d.JoinedAt, now, p.MemberID)
		kind := "member.left"
		if p.MemberID != memberID {
			kind = "member.removed"
		}
		record(tx, p, now, auditEvent{kind: kind, subject: memberID, org: orgID, member: memberID,
			details: map[string]any{"role": d.Role, "closed_accounts": len(d.ClosedAccounts), "withdrawn_listings": d.WithdrawnListings}})
		return err
	})
	s.auth.forget() // the member's credentials no longer stand for the role
	if err != nil {
		return Departure{}, err
	}
	return d, nil
}

// lockDeparture locks the membership that ends, and with it every admin's
// (in the memberships' key order, one statement), so that two admins
// leaving at once cannot both count the other as the one who stays; it
// fills in the role and the date joined.
func lockDeparture(ctx context.Context, tx *pgtx.Tx, d *Departure) error {
	rows, err := tx.Query(ctx, `
SELECT org_id, member_id, role, created_at FROM memberships
WHERE (org_id = $1 AND member_id = $2) OR role = 'admin'
ORDER BY org_id, member_id FOR UPDATE`, d.OrgID, d.MemberID)
	if err != nil {
		return err
	}
	found, admins := false, 0
	var org, member uuid.UUID
	var role Role
	var joined time.Time
	_, err = pgx.ForEachRow(rows, []any{&org, &member, &role, &joined}, func() error {
		if org == d.OrgID && member == d.MemberID {
			found, d.Role, d.JoinedAt = true, role, joined
		}
		if role == RoleAdmin {
			admins++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		e := newError(ErrNotAMember.Code, ReasonNotAMember, "member %s does not belong to organization %s", d.MemberID, d.OrgID)
		e.Field = "member_id"
		return e
	}
	if d.Role == RoleAdmin && admins < 2 {
		return newError(ErrLastAdmin.Code, ReasonLastAdmin,
			"member %s is the network's only admin: make another member admin before they leave", d.MemberID)
	}
	return nil
}

// checkNoAgreements refuses while an agreement of the member's on a
// listing of the organization is still in progress.
func checkNoAgreements(ctx context.Context, tx *pgtx.Tx, orgID, memberID uuid.UUID) error {
	var id uuid.UUID
	var status string
	err := tx.QueryRow(ctx, `
SELECT ag.id, ag.status FROM agreements ag
JOIN listings o ON o.id = ag.offer_id JOIN listings n ON n.id = ag.need_id
WHERE (ag.giver = $2 OR ag.receiver = $2) AND (o.org_id = $1 OR n.org_id = $1)
  AND ag.status IN ('proposed', 'accepted', 'disputed')
ORDER BY ag.created_at, ag.id LIMIT 1`, orgID, memberID).Scan(&id, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return newError(ErrAgreementsInProgress.Code, ReasonAgreementsInProgress,
		"agreement %s is %s: complete or cancel it (a disputed one is resolved by a coordinator) before leaving", id, status)
}

// closeOrgAccounts closes the member's accounts opened for the
// organization, or says which one is not settled and how to settle it.
func closeOrgAccounts(ctx context.Context, tx *pgtx.Tx, lt *ledger.Tx, d *Departure) error {
	rows, err := tx.Query(ctx, `
SELECT a.id, a.unit, a.balance, a.pending_debits + a.pending_credits FROM member_accounts ma JOIN accounts a ON a.id = ma.account_id
WHERE ma.org_id = $1 AND ma.member_id = $2 AND a.status <> 'closed' ORDER BY a.id`, d.OrgID, d.MemberID)
	if err != nil {
		return err
	}
	var id uuid.UUID
	var unit string
	var bal, held decimal.Decimal
	_, err = pgx.ForEachRow(rows, []any{&id, &unit, &bal, &held}, func() error {
		d.ClosedAccounts = append(d.ClosedAccounts, id)
		return nil
	})
	if err != nil || len(d.ClosedAccounts) == 0 {
		return err
	}
	err = lt.CloseAccounts(ctx, d.ClosedAccounts)
	var le *ledger.Error
	if !errors.As(err, &le) || le.Reason != ledger.ReasonAccountNotEmpty {
		return err
	}
	// Say what the account holds, read under the lock CloseAccounts took.
	if err := tx.QueryRow(ctx, `SELECT unit, balance, pending_debits + pending_credits FROM accounts WHERE id = $1`, le.Account).
		Scan(&unit, &bal, &held); err != nil {
		return err
	}
	var e *ledger.Error
	switch {
	case !held.IsZero():
		e = newError(ErrBalanceNotSettled.Code, ReasonBalanceNotSettled,
			"account %s has %s %s held for agreements or transfers in progress: finish or release them before leaving", le.Account, held, unit)
	case bal.Sign() > 0:
		e = newError(ErrBalanceNotSettled.Code, ReasonBalanceNotSettled,
			"account %s holds %s %s: give them to the community pool (or to another member) before leaving", le.Account, bal, unit)
	default:
		e = newError(ErrBalanceNotSettled.Code, ReasonBalanceNotSettled,
			"account %s owes %s %s: give the hours, or a coordinator grants them from the community pool, before leaving", le.Account, bal.Neg(), unit)
	}
	e.Account, e.Unit = le.Account, unit
	return e
}
