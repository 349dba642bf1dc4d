package exchange

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange/matching"
)

// FairnessWindow is how far back Fairness looks: help received or asked of
// someone longer ago no longer weighs on their matches.
const FairnessWindow = 30 * 24 * time.Hour

// Fairness returns the recent history matching weighs so that help is
// spread across people: for each of the members given, how much they
// received (what their agreements as receiver accepted in the last
// FairnessWindow and not cancelled or expired since take, as for capacity), and how much
// they were asked to give (the quantity of every agreement proposed to or
// by them as giver in that window, whatever became of it: a giver asked
// often is not asked first again). Quantities are in hundredths, as
// matching counts them; members without history are left out. Any member
// may ask (the figures are counts that rank matches, no agreement's
// content): ErrUnauthenticated for a zero Principal.
func (s *Store) Fairness(ctx context.Context, p Principal, members []uuid.UUID) (matching.Fairness, error) {
	if err := requireMember(p); err != nil {
		return matching.Fairness{}, err
	}
	f := matching.Fairness{Received: map[string]int64{}, Asked: map[string]int64{}}
	if len(members) == 0 {
		return f, nil
	}
	since := s.clock().Add(-FairnessWindow)
	rows, err := s.db.Pool.Query(ctx, `
SELECT receiver, 'received', sum(`+consumedSQL+`) FROM agreements
WHERE receiver = ANY($1) AND accepted_at >= $2 AND `+consumesSQL+`
GROUP BY receiver
UNION ALL
SELECT giver, 'asked', sum(quantity) FROM agreements
WHERE giver = ANY($1) AND created_at >= $2
GROUP BY giver`, members, since)
	if err != nil {
		return f, err
	}
	var member uuid.UUID
	var what string
	var quantity decimal.Decimal
	_, err = pgx.ForEachRow(rows, []any{&member, &what, &quantity}, func() error {
		m := f.Received
		if what == "asked" {
			m = f.Asked
		}
		m[member.String()] += hundredths(quantity, false)
		return nil
	})
	return f, err
}

// Subtree returns an organization and every organization under it (the
// groups of a city's assembly, say) to whoever acts for it (CanManageOrg):
// what matching proposes over. It returns ErrForbidden (Field "org_id")
// for anyone else, ErrUnknownOrg (Field "org_id") for an organization that
// does not exist, ErrUnauthenticated for a zero Principal.
func (s *Store) Subtree(ctx context.Context, p Principal, orgID uuid.UUID) ([]uuid.UUID, error) {
	if err := s.mayManageOrgAt(ctx, p, orgID, "org_id"); err != nil {
		return nil, err
	}
	return s.subtree(ctx, orgID)
}

// subtree is Subtree, for anyone.
func (s *Store) subtree(ctx context.Context, orgID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.db.Pool.Query(ctx, `
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT o.id, down.depth + 1 FROM orgs o JOIN down ON o.parent_id = down.id WHERE down.depth < $2
)
SELECT id FROM down ORDER BY depth, id`, orgID, maxDepth)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}
