package exchange

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Bootstrap makes a fresh installation usable: when no network organization
// exists it creates, in one transaction, the network named networkName, a
// member "admin" with RoleAdmin on it, and a token "first-run" for that
// member that never expires, and returns them with the token's secret and
// created = true. When a network already exists it returns it with
// created = false, a zero admin and token, and no secret. Any number of
// processes may call it at once: exactly one creates. It returns
// ledger.ErrInvalidRequest for a bad name.
func (s *Store) Bootstrap(ctx context.Context, networkName string) (org Org, admin Member, token Token, secret string, created bool, err error) {
	o, err := checkNewOrg(NewOrg{Name: networkName, Kind: KindNetwork})
	if err != nil {
		return Org{}, Member{}, Token{}, "", false, err
	}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		// Fresh each attempt: an attempt that is retried leaves nothing behind.
		org, admin, token, secret, created = Org{}, Member{}, Token{}, "", false
		existing, err := scanOrg(tx.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.kind = 'network'`))
		if err == nil {
			org = existing
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		now := s.clock()
		o.ID, o.CreatedAt = newID(), now
		// Two bootstrappers both found no network. The unique index on the
		// one network makes the second insert wait for the first
		// transaction; once that commits, DO NOTHING inserts nothing, and the
		// next statement (a new snapshot at READ COMMITTED) sees the winner's
		// network. At SERIALIZABLE (CockroachDB's default) the conflict is a
		// retry instead, whose first SELECT finds the network.
		tag, err := tx.Exec(ctx, `
INSERT INTO orgs (id, parent_id, name, kind, city, region, membership, created_at)
VALUES ($1, NULL, $2, 'network', '', '', $3, $4)
ON CONFLICT DO NOTHING`, o.ID, o.Name, o.Membership, o.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			org, err = scanOrg(tx.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.kind = 'network'`))
			return err
		}
		m := Member{ID: newID(), Name: "admin", CreatedAt: now}
		if err := insertMember(ctx, tx, m); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (org_id, member_id, role, created_at, region)
VALUES ($1, $2, 'admin', $3, COALESCE((SELECT region FROM orgs WHERE id = $1), ''))`,
			o.ID, m.ID, now); err != nil {
			return err
		}
		m.Memberships = []Membership{{OrgID: o.ID, MemberID: m.ID, Role: RoleAdmin, CreatedAt: now}}
		t := Token{ID: newID(), MemberID: m.ID, Name: "first-run", CreatedAt: now}
		sec := newSecret()
		if err := insertToken(ctx, tx, t, sec); err != nil {
			return err
		}
		org, admin, token, secret, created = o, m, t, sec, true
		return nil
	})
	if err != nil {
		return Org{}, Member{}, Token{}, "", false, err
	}
	return org, admin, token, secret, created, nil
}
