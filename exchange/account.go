package exchange

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Units and accounts, for a principal: each method decides whether p may,
// then asks the ledger. Reads answer what p may not see exactly as what
// does not exist.

// mayManageOrgAt checks that p acts for an organization named by the input
// field (or "" for none): ErrForbidden (Field set) when p does not,
// ErrUnknownOrg (Field set) when the organization does not exist.
func (s *Store) mayManageOrgAt(ctx context.Context, p Principal, org uuid.UUID, field string) error {
	err := s.CanManageOrg(ctx, p, org)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownOrg):
		e := newError(ledger.ENOTFOUND, ReasonUnknownOrg, "unknown organization %s", org)
		e.Field = field
		return e
	case hidden(err) || isForbidden(err):
		e := forbiddenBecause(fmt.Sprintf("you do not act for organization %s", org))
		e.Field = field
		return e
	}
	return fmt.Errorf("checking who manages organization %s: %w", org, err)
}

// requireAdmin refuses, with ErrForbidden, a principal who is not a network
// admin; what says what only an admin may do.
func requireAdmin(p Principal, what string) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if !p.Admin {
		return forbiddenBecause("only a network admin may " + what)
	}
	return nil
}

// requireMember refuses a zero Principal: reads open to every member still
// need one.
func requireMember(p Principal) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	return nil
}

// CreateUnit creates a unit, for the network admin only, since every
// organization shares the units. It returns ErrForbidden for anyone else,
// ErrUnauthenticated for a zero Principal, and ledger.Store.CreateUnit's
// errors.
func (s *Store) CreateUnit(ctx context.Context, p Principal, u ledger.Unit) (ledger.Unit, error) {
	if err := requireAdmin(p, "create units"); err != nil {
		return ledger.Unit{}, err
	}
	return s.led.CreateUnitThen(ctx, u, func(ctx context.Context, tx *pgtx.Tx) error {
		record(tx, p, s.clock(), auditEvent{kind: "unit.created", details: map[string]any{"unit": u.Code, "scale": u.Scale}})
		return nil
	})
}

// Units lists every unit, for any member: ErrUnauthenticated for a zero
// Principal.
func (s *Store) Units(ctx context.Context, p Principal) ([]ledger.Unit, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	return s.led.Units(ctx)
}

// Unit returns the unit with the given code to any member (every
// organization shares the units), from the ledger's in-process cache after
// the first time (a unit never changes once made): ledger.ErrUnknownUnit
// for none; ErrUnauthenticated for a zero Principal.
func (s *Store) Unit(ctx context.Context, p Principal, code string) (ledger.Unit, error) {
	if err := requireMember(p); err != nil {
		return ledger.Unit{}, err
	}
	return s.led.Unit(ctx, code)
}

// OpenAccount opens an account for p. in.Owner is OrgOwner or MemberOwner;
// orgID, for a member's account, is the organization the member belongs to
// that p acts for (uuid.Nil for none, which only the admin may). Who may:
//   - an organization's account: whoever acts for the organization (its
//     coordinators, those of the organizations above it, the admin); an
//     external account (unbounded below, so it can create value from
//     nothing) only the admin;
//   - a member's account: a coordinator of orgID, which the member belongs
//     to; the admin, for whom orgID is optional.
//
// A member's account in the unit of orgID's time bank, opened with neither
// bound, gets the time bank's credit limit and cap. When in.ID is taken by
// an account with the same owner, unit, kind and name, that account is
// returned: an earlier attempt of the same request made it.
//
// It returns ErrForbidden (Field owner.org or org_id), ErrUnknownOrg (Field
// set), ErrUnknownMember (Field owner.member), ErrNotAMember (Field org_id),
// ledger.ErrUnknownUnit (Field unit), ErrUnauthenticated for a zero
// Principal, and ledger.Store.CreateAccount's other errors.
func (s *Store) OpenAccount(ctx context.Context, p Principal, in ledger.NewAccount, orgID uuid.UUID) (ledger.Account, error) {
	if err := requireMember(p); err != nil {
		return ledger.Account{}, err
	}
	kind, id, ok := ParseOwner(in.Owner)
	switch {
	case !ok:
		return ledger.Account{}, invalid("owner", "owner must name a member or an organization")
	case kind == OwnerOrg:
		if in.Kind == ledger.KindExternal {
			if err := requireAdmin(p, "open external accounts"); err != nil {
				return ledger.Account{}, err
			}
		}
		if err := s.mayManageOrgAt(ctx, p, id, "owner.org"); err != nil {
			return ledger.Account{}, err
		}
	default:
		if err := s.mayOpenFor(ctx, p, id, orgID); err != nil {
			return ledger.Account{}, err
		}
		if err := s.refuseErased(ctx, id); err != nil {
			return ledger.Account{}, err
		}
	}
	if err := s.timebankBounds(ctx, &in, orgID); err != nil {
		return ledger.Account{}, err
	}
	// The account lives in its owner's home region, whatever the request
	// said.
	region, err := accountRegion(ctx, s.db.Pool, in.Owner, orgID)
	if err != nil {
		return ledger.Account{}, err
	}
	in.Region = region
	acc, err := s.createAccountFor(ctx, p, in, orgID)
	if errors.Is(err, ledger.ErrUnknownUnit) {
		e := newError(ledger.ENOTFOUND, ledger.ReasonUnknownUnit, "unknown unit %q", in.Unit)
		e.Field, e.Unit = "unit", in.Unit
		return ledger.Account{}, e
	}
	if err != nil {
		return s.sameAccount(ctx, in, err)
	}
	return acc, nil
}

// createAccountFor opens an account; a member's account opened for an
// organization (org not uuid.Nil) is recorded as the member's account there,
// in the same transaction (see member_accounts).
func (s *Store) createAccountFor(ctx context.Context, p Principal, in ledger.NewAccount, org uuid.UUID) (ledger.Account, error) {
	kind, member, ok := ParseOwner(in.Owner)
	var acc ledger.Account
	err := s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		var err error
		if acc, err = lt.CreateAccount(ctx, in); err != nil {
			return err
		}
		ev := auditEvent{kind: "account.opened", subject: acc.ID, details: map[string]any{"unit": acc.Unit, "kind": acc.Kind}}
		ev.org, ev.member = ownerIDs(acc.Owner)
		if ev.org == uuid.Nil {
			ev.org = org
		}
		record(tx, p, acc.CreatedAt, ev)
		if !ok || kind != OwnerMember || org == uuid.Nil {
			return nil
		}
		return recordMemberAccount(ctx, tx, acc.ID, member, org)
	})
	if err != nil {
		return ledger.Account{}, err
	}
	return acc, nil
}

// recordMemberAccount records, in tx, that a member's account was opened
// for an organization.
func recordMemberAccount(ctx context.Context, tx *pgtx.Tx, account, member, org uuid.UUID) error {
	_, err := tx.Exec(ctx, `INSERT INTO member_accounts (account_id, member_id, org_id) VALUES ($1, $2, $3)`, account, member, org)
	return err
}

// mayOpenFor checks that p may open an account for member: the member
// exists and, when org is given, belongs to it and p acts for it; without
// org, p is the admin.
func (s *Store) mayOpenFor(ctx context.Context, p Principal, member, org uuid.UUID) error {
	if org != uuid.Nil {
		if err := s.mayManageOrgAt(ctx, p, org, "org_id"); err != nil {
			return err
		}
	} else if err := requireAdmin(p, "open a member's account without naming the organization"); err != nil {
		return err
	}
	ms, err := s.membershipsOf(ctx, member)
	if errors.Is(err, ErrUnknownMember) {
		e := newError(ledger.ENOTFOUND, ReasonUnknownMember, "unknown member %s", member)
		e.Field = "owner.member"
		return e
	}
	if err != nil || org == uuid.Nil {
		return err
	}
	for _, m := range ms {
		if m.OrgID == org {
			return nil
		}
	}
	e := newError(ledger.EINVALID, ReasonNotAMember, "member %s does not belong to organization %s", member, org)
	e.Field = "org_id"
	return e
}

// timebankBounds gives a member's account that names its organization and
// no bounds the bounds of the organization's time-bank rules, when they
// count the account's unit.
func (s *Store) timebankBounds(ctx context.Context, in *ledger.NewAccount, org uuid.UUID) error {
	if org == uuid.Nil || in.Kind != ledger.KindMember || in.LowerBound != nil || in.UpperBound != nil {
		return nil
	}
	rules, err := s.timebankRulesOf(ctx, org)
	if errors.Is(err, ErrNoTimebank) {
		return nil
	}
	if err != nil || rules.Unit != in.Unit {
		return err
	}
	in.LowerBound, in.UpperBound = rules.Bounds()
	return nil
}

// sameAccount answers a creation that failed because the id is taken: when
// the account there is the one asked for, an earlier attempt of this
// request made it, and it is returned; otherwise the error stands.
func (s *Store) sameAccount(ctx context.Context, in ledger.NewAccount, err error) (ledger.Account, error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ECONFLICT {
		return ledger.Account{}, err
	}
	acc, gerr := s.led.Account(ctx, in.ID)
	if gerr != nil || acc.Owner != in.Owner || acc.Unit != in.Unit || acc.Kind != in.Kind || acc.Name != in.Name {
		return ledger.Account{}, err
	}
	return acc, nil
}

// Account returns an account with its balances, when p may read it (its
// owner, a coordinator of its governors, the admin): otherwise, as when it
// does not exist, ledger.ErrUnknownAccount.
func (s *Store) Account(ctx context.Context, p Principal, id uuid.UUID) (ledger.Account, error) {
	acc, err := s.led.Account(ctx, id)
	if errors.Is(err, ledger.ErrUnknownAccount) {
		return ledger.Account{}, unknownAccount(id, "")
	}
	if err != nil {
		return ledger.Account{}, err
	}
	if err := s.CanReadAccount(ctx, p, acc); err != nil {
		if hidden(err) {
			return ledger.Account{}, unknownAccount(id, "")
		}
		return ledger.Account{}, err
	}
	return acc, nil
}

// Entries returns the account, when p may read it (see Account), and one
// page of its entries, newest first, with the cursor of the next page (0
// for none); see ledger.Store.Entries.
func (s *Store) Entries(ctx context.Context, p Principal, id uuid.UUID, pg ledger.Page) (ledger.Account, []ledger.Entry, int64, error) {
	acc, err := s.Account(ctx, p, id)
	if err != nil {
		return ledger.Account{}, nil, 0, err
	}
	entries, next, err := s.led.Entries(ctx, id, pg)
	if errors.Is(err, ledger.ErrUnknownAccount) {
		return ledger.Account{}, nil, 0, unknownAccount(id, "")
	}
	return acc, entries, next, err
}

// AccountTransfers returns the posted transfers that moved an account's
// value, newest first, when p may read it (see Account): a page of
// pg.Limit of its entries, each transfer once, and the cursor of the next
// page (0 for none).
func (s *Store) AccountTransfers(ctx context.Context, p Principal, id uuid.UUID, pg ledger.Page) ([]ledger.Transfer, int64, error) {
	_, entries, next, err := s.Entries(ctx, p, id, pg)
	if err != nil {
		return nil, 0, err
	}
	var out []ledger.Transfer
	seen := make(map[uuid.UUID]bool)
	for _, e := range entries {
		if seen[e.TransferID] {
			continue // a transfer with several postings on the account
		}
		seen[e.TransferID] = true
		t, err := s.led.Transfer(ctx, e.TransferID)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, next, nil
}

// BalanceAt returns the account, when p may read it (see Account), and its
// posted balance at an instant.
func (s *Store) BalanceAt(ctx context.Context, p Principal, id uuid.UUID, at time.Time) (ledger.Account, decimal.Decimal, error) {
	acc, err := s.Account(ctx, p, id)
	if err != nil {
		return ledger.Account{}, decimal.Decimal{}, err
	}
	bal, err := s.led.BalanceAt(ctx, id, at)
	return acc, bal, err
}
