package exchange

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/journal"
	"github.com/mutual-ledger/mutual/ledger"
)

// MyView is what a member sees of themselves: their record, their
// organizations with their role in each, and every account they own with
// its balances.
type MyView struct {
	Member Member
	// Orgs are the member's organizations, oldest membership first.
	Orgs []MyOrg
	// Accounts are the member's accounts, oldest first, closed ones too
	// (their history stays readable).
	Accounts []MyAccount
}

// MyOrg is one organization of the member's, with their role there.
type MyOrg struct {
	OrgID    uuid.UUID
	Name     string
	Kind     Kind
	Role     Role
	JoinedAt time.Time
}

// MyAccount is one of the member's accounts: the account with its balances
// (holds past their expiry not counted), its unit, its readable name (as
// exports and statements name it, journal.AccountNames), and the
// organization it was opened for (uuid.Nil when none: an account the admin
// opened for the member alone).
type MyAccount struct {
	ledger.Account
	UnitDef ledger.Unit
	Label   string
	OrgID   uuid.UUID
}

// Me returns p's own view. Every member may read their own; it returns
// ErrUnauthenticated for a zero Principal (and for System, which is no
// member), and ErrUnknownMember when p's member no longer exists.
func (s *Store) Me(ctx context.Context, p Principal) (MyView, error) {
	if err := requireMember(p); err != nil {
		return MyView{}, err
	}
	m, err := s.member(ctx, p.MemberID)
	if err != nil {
		return MyView{}, err
	}
	v := MyView{Member: m, Orgs: []MyOrg{}, Accounts: []MyAccount{}}
	rows, err := s.db.Pool.Query(ctx, `
SELECT o.id, o.name, o.kind, ms.role, ms.created_at
FROM memberships ms JOIN orgs o ON o.id = ms.org_id
WHERE ms.member_id = $1 ORDER BY ms.created_at, o.id`, p.MemberID)
	if err != nil {
		return MyView{}, err
	}
	v.Orgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (MyOrg, error) {
		var o MyOrg
		err := r.Scan(&o.OrgID, &o.Name, &o.Kind, &o.Role, &o.JoinedAt)
		return o, err
	})
	if err != nil {
		return MyView{}, err
	}
	// The accounts_owner index (owner, unit) serves the lookup.
	rows, err = s.db.Pool.Query(ctx, `
SELECT a.id, COALESCE(ma.org_id, '00000000-0000-0000-0000-000000000000'::UUID)
FROM accounts a LEFT JOIN member_accounts ma ON ma.account_id = a.id
WHERE a.owner = $1 ORDER BY a.created_at, a.id`, MemberOwner(p.MemberID))
	if err != nil {
		return MyView{}, err
	}
	type ref struct{ id, org uuid.UUID }
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ref, error) {
		var x ref
		err := r.Scan(&x.id, &x.org)
		return x, err
	})
	if err != nil || len(refs) == 0 {
		return v, err
	}
	ids := make([]uuid.UUID, len(refs))
	for i, x := range refs {
		ids[i] = x.id
	}
	labels, err := journal.AccountNames(ctx, s.db.Pool, ids)
	if err != nil {
		return MyView{}, err
	}
	units := map[string]ledger.Unit{}
	for _, x := range refs {
		acc, err := s.led.Account(ctx, x.id)
		if err != nil {
			return MyView{}, err
		}
		u, ok := units[acc.Unit]
		if !ok {
			if u, err = s.led.Unit(ctx, acc.Unit); err != nil {
				return MyView{}, err
			}
			units[acc.Unit] = u
		}
		v.Accounts = append(v.Accounts, MyAccount{Account: acc, UnitDef: u, Label: labels[x.id], OrgID: x.org})
	}
	return v, nil
}
