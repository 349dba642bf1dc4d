package exchange

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/ledger"
)

// Directory lists the organizations of the network for anyone, signed in
// or not: the network's public directory says which organizations belong
// to it (as members or partners), what kind each is and in which city, so
// that a neighbor can find one to join. It shows nothing an organization
// keeps to itself (its members, accounts and listings are not in it).
// Organizations come in id order, one page at a time; the network itself
// is left out. next is the After of the following page, or uuid.Nil
// after the last one. It returns ledger.ErrInvalidRequest for a limit
// outside 0..MaxLimit.
func (s *Store) Directory(ctx context.Context, p Page) (orgs []Org, next uuid.UUID, err error) {
	limit, err := p.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.id > $1 AND o.kind <> 'network' ORDER BY o.id LIMIT $2`, p.After, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	orgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Org, error) { return scanOrg(r) })
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(orgs) > limit {
		orgs = orgs[:limit]
		next = orgs[limit-1].ID
	}
	return orgs, next, nil
}

// PublicOrg returns an organization for anyone, signed in or not, as the
// directory shows it (see Directory), or ErrUnknownOrg.
func (s *Store) PublicOrg(ctx context.Context, id uuid.UUID) (Org, error) {
	return s.org(ctx, id)
}

// PublicUnit returns a unit for anyone, signed in or not (a unit's code,
// name and scale say nothing about anyone; the public pages write a
// fund's amounts with its unit's places), or ledger.ErrUnknownUnit.
func (s *Store) PublicUnit(ctx context.Context, code string) (ledger.Unit, error) {
	return s.led.Unit(ctx, code)
}
