package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Home regions. Every organization has one (Org.Region): the region it was
// given when it was made or, when it was given none, its parent's. Every row
// that belongs to an organization carries its owner's region in a region
// column that the store writes from the owner's row, never from a request:
// the organization's accounts (and, through the ledger, their entries,
// holds and the transfers that take value from them), its listings,
// memberships, grant requests and the trades it proposes; an agreement takes
// its need's. A member's account takes the region of the organization it is
// opened for. On a multi-region CockroachDB those tables are REGIONAL BY ROW
// on that column (see schema.MultiRegion), so a city's rows live in its
// region; "" is the cluster's primary region.

// checkRegion checks a region name: "" (none) or 1 to 64 lower-case
// letters, digits and hyphens, starting with a letter or digit, which is
// how CockroachDB's regions are named ("us-east1", "europe-west2"). The
// names end up in the locality statements of `mutual migrate
// --multi-region`, so nothing else is let in.
func checkRegion(field, region string) error {
	if !validRegion(region) {
		return invalid(field, "%s must be lower-case letters, digits and hyphens, at most 64, starting with a letter or digit (such as us-east1), not %q", field, region)
	}
	return nil
}

// validRegion reports whether region is "" or a region name checkRegion
// accepts.
func validRegion(region string) bool {
	if len(region) > 64 {
		return false
	}
	for i, c := range region {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// accountRegion returns the region an account of owner, opened for org
// (uuid.Nil for none), lives in: an organization's account its
// organization's; a member's account that of org, or without one that of
// the organization the member joined first; "" for any other owner.
func accountRegion(ctx context.Context, q rowQuerier, owner string, org uuid.UUID) (string, error) {
	kind, id, ok := ParseOwner(owner)
	var region string
	var err error
	switch {
	case !ok:
		return "", nil
	case kind == OwnerOrg:
		err = q.QueryRow(ctx, `SELECT region FROM orgs WHERE id = $1`, id).Scan(&region)
	case org != uuid.Nil:
		err = q.QueryRow(ctx, `SELECT region FROM orgs WHERE id = $1`, org).Scan(&region)
	default:
		err = q.QueryRow(ctx, `
SELECT o.region FROM memberships m JOIN orgs o ON o.id = m.org_id
WHERE m.member_id = $1 ORDER BY m.created_at, m.org_id LIMIT 1`, id).Scan(&region)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return region, err
}

// SetOrgRegion moves an organization to another home region, for the
// network admin only: the organization and those below it that lived in its
// old region (those given a region of their own stay where they are) take
// the new one, and so do, in the same transaction, the rows they own: their
// accounts with their entries and holds and the transfers that take value
// from them, their listings and the agreements on their needs, their
// memberships, grant requests and the trades they proposed. "" gives the
// organization its parent's region (the network's: none). A member's
// accounts stay where they were opened: a person may belong to
// organizations in several regions.
//
// On a multi-region cluster, rewriting a row's region moves it to that
// region; a large organization's move is one large transaction, to be done
// in a quiet hour.
//
// It returns the organization as moved; ErrForbidden for anyone but the
// admin; ErrUnauthenticated for a zero Principal; ErrUnknownOrg; and
// ledger.ErrInvalidRequest (Field "region") for a malformed region.
func (s *Store) SetOrgRegion(ctx context.Context, p Principal, orgID uuid.UUID, region string) (Org, error) {
	if err := requireAdmin(p, "change an organization's home region"); err != nil {
		return Org{}, err
	}
	if err := checkRegion("region", region); err != nil {
		return Org{}, err
	}
	var out Org
	// SERIALIZABLE: the organizations below are read, then their rows
	// rewritten; an organization made under them meanwhile must not keep
	// the old region.
	err := s.db.Run(ctx, pgtx.Options{Isolation: pgx.Serializable}, func(tx *pgtx.Tx) error {
		o, err := scanOrg(tx.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.id = $1 FOR UPDATE`, orgID))
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownOrg(orgID)
		}
		if err != nil {
			return err
		}
		to := region
		if to == "" && o.ParentID != nil {
			if err := tx.QueryRow(ctx, `SELECT region FROM orgs WHERE id = $1`, *o.ParentID).Scan(&to); err != nil {
				return err
			}
		}
		out = o
		out.Region = to
		if to == o.Region {
			return nil
		}
		return moveRegion(ctx, tx, o, to)
	})
	if err != nil {
		return Org{}, err
	}
	return out, nil
}

// moveRegion rewrites the region of o, of the organizations below it that
// shared its region, and of every row they own.
func moveRegion(ctx context.Context, tx *pgtx.Tx, o Org, to string) error {
	rows, err := tx.Query(ctx, `
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT c.id, down.depth + 1 FROM orgs c JOIN down ON c.parent_id = down.id
    WHERE c.region = $2 AND down.depth < $3
)
SELECT id FROM down`, o.ID, o.Region, maxDepth)
	if err != nil {
		return err
	}
	orgs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	owners := make([]string, len(orgs))
	for i, id := range orgs {
		owners[i] = OrgOwner(id)
	}
	rows, err = tx.Query(ctx, `UPDATE accounts SET region = $2 WHERE owner = ANY($1) RETURNING id`, owners, to)
	if err != nil {
		return err
	}
	accounts, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	steps := []struct {
		what, sql string
		arg       any
	}{
		{"organizations", `UPDATE orgs SET region = $2 WHERE id = ANY($1)`, orgs},
		{"entries", `UPDATE entries SET region = $2 WHERE account_id = ANY($1)`, accounts},
		{"holds", `UPDATE reservations SET region = $2 WHERE account_id = ANY($1)`, accounts},
		// A transfer lives with the account its first posting takes value
		// from; postings are JSON, so this reads the transfers of the old
		// region (a rare, administrative move).
		{"transfers", `UPDATE transfers SET region = $2 WHERE region = $3 AND (postings -> 0 ->> 'from')::UUID = ANY($1)`, accounts},
		{"listings", `UPDATE listings SET region = $2 WHERE org_id = ANY($1)`, orgs},
		{"agreements", `UPDATE agreements SET region = $2 WHERE need_id IN (SELECT id FROM listings WHERE org_id = ANY($1))`, orgs},
		{"memberships", `UPDATE memberships SET region = $2 WHERE org_id = ANY($1)`, orgs},
		{"grant requests", `UPDATE grant_requests SET region = $2 WHERE org_id = ANY($1)`, orgs},
		{"trades", `UPDATE trades SET region = $2 WHERE proposer_org = ANY($1)`, orgs},
	}
	for _, st := range steps {
		args := []any{st.arg, to}
		if st.what == "transfers" {
			args = append(args, o.Region)
		}
		if _, err := tx.Exec(ctx, st.sql, args...); err != nil {
			return fmt.Errorf("moving the %s of organization %s to region %q: %w", st.what, o.ID, to, err)
		}
	}
	return nil
}
