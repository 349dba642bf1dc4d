package exchange

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/ledger"
)

// MemberAccounts returns a member's accounts with their balances, by unit
// and then by when they were opened: to the member themselves, and to
// whoever may read the member (CanReadMember), each account only when p
// may read it (CanReadAccount). It returns ErrUnauthenticated for a zero
// Principal, and what CanReadMember returns for a member p may not read
// (ErrNotVisible also for one that does not exist).
func (s *Store) MemberAccounts(ctx context.Context, p Principal, memberID uuid.UUID) ([]ledger.Account, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	if p.MemberID != memberID {
		if err := s.CanReadMember(ctx, p, memberID); err != nil {
			return nil, err
		}
	}
	// The accounts_owner index (owner, unit) serves the lookup.
	rows, err := s.db.Pool.Query(ctx, `SELECT id FROM accounts WHERE owner = $1 ORDER BY unit, created_at, id`, MemberOwner(memberID))
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Account, 0, len(ids))
	for _, id := range ids {
		acc, err := s.led.Account(ctx, id)
		if err != nil {
			return nil, err
		}
		switch err := s.CanReadAccount(ctx, p, acc); {
		case hidden(err) || isForbidden(err):
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, acc)
	}
	return out, nil
}
