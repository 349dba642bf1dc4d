package exchange

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MemberNames returns the names of the members among ids that p may know
// by name: those who share an organization with p (a name is what a
// member chose for the others to see), and every member for the admin.
// Members p may not know by name, or that do not exist, are left out, so a
// page shows them as "a neighbor". It returns ErrUnauthenticated for a
// zero Principal.
func (s *Store) MemberNames(ctx context.Context, p Principal, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT m.id, m.name FROM members m
WHERE m.id = ANY($1)
  AND ($2 OR m.id = $3 OR EXISTS (
      SELECT 1 FROM memberships a JOIN memberships b ON a.org_id = b.org_id
      WHERE a.member_id = m.id AND b.member_id = $3))`, ids, p.Admin, p.MemberID)
	if err != nil {
		return nil, err
	}
	var id uuid.UUID
	var name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		out[id] = name
		return nil
	})
	return out, err
}
