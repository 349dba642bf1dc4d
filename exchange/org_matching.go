package exchange

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// OrgMatching is an organization's matching defaults: how far a need
// posted in it reaches when it does not say, and the time zone its offers'
// weekly hours are read in when they do not say. An organization without
// its own takes its nearest ancestor's, and the network without its own
// matching.DefaultMaxKm and UTC.
type OrgMatching struct {
	OrgID    uuid.UUID
	MaxKm    float64
	TimeZone string
	// From is the organization whose settings these are: OrgID itself,
	// an ancestor, or uuid.Nil for the program's defaults.
	From      uuid.UUID
	UpdatedAt *time.Time // when From's settings were last set; nil for the defaults
}

// defaultTimeZone is the zone of an organization that never set one.
const defaultTimeZone = "UTC"

// OrgMatching returns an organization's matching defaults, to any member
// (organizations are public). It returns ErrUnknownOrg, and
// ErrUnauthenticated for a zero Principal.
func (s *Store) OrgMatching(ctx context.Context, p Principal, orgID uuid.UUID) (OrgMatching, error) {
	if err := requireMember(p); err != nil {
		return OrgMatching{}, err
	}
	if _, err := s.org(ctx, orgID); err != nil {
		return OrgMatching{}, err
	}
	return orgMatching(ctx, s.db.Pool, orgID)
}

// PublicTimeZone returns the time zone an organization's times are read
// in (its own, or its nearest ancestor's, or UTC), for anyone: a public
// board shows its listings' days in it. It returns ErrUnknownOrg.
func (s *Store) PublicTimeZone(ctx context.Context, orgID uuid.UUID) (string, error) {
	if _, err := s.org(ctx, orgID); err != nil {
		return "", err
	}
	m, err := orgMatching(ctx, s.db.Pool, orgID)
	return m.TimeZone, err
}

// SetOrgMatching sets an organization's own matching defaults, for whoever
// acts for it (its coordinators, those above, the admin); the
// organizations under it without their own follow. Needs already posted
// keep the reach they were given. It returns ErrForbidden (Field "org_id")
// for anyone else, ErrUnknownOrg (Field "org_id"), ErrUnauthenticated, and
// ledger.ErrInvalidRequest for a max_km outside (0, MaxReachKm] (Field
// "max_km") or an unknown time zone (Field "time_zone").
func (s *Store) SetOrgMatching(ctx context.Context, p Principal, orgID uuid.UUID, maxKm float64, timeZone string) (OrgMatching, error) {
	if err := s.mayManageOrgAt(ctx, p, orgID, "org_id"); err != nil {
		return OrgMatching{}, err
	}
	if !(maxKm > 0 && maxKm <= MaxReachKm) || math.IsNaN(maxKm) {
		return OrgMatching{}, invalid("max_km", "max_km must be more than 0 and at most %d, not %v", MaxReachKm, maxKm)
	}
	if _, err := loadZone(timeZone); err != nil || timeZone == "" {
		return OrgMatching{}, invalid("time_zone", "unknown time zone %q: use an IANA name such as America/Mexico_City", timeZone)
	}
	now := s.clock()
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `
INSERT INTO org_matching (org_id, max_km, time_zone, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (org_id) DO UPDATE SET max_km = excluded.max_km, time_zone = excluded.time_zone,
    updated_at = excluded.updated_at, updated_by = excluded.updated_by`, orgID, maxKm, timeZone, now, p.MemberID)
		return err
	})
	if err != nil {
		return OrgMatching{}, err
	}
	return OrgMatching{OrgID: orgID, MaxKm: maxKm, TimeZone: timeZone, From: orgID, UpdatedAt: &now}, nil
}

// orgMatching is OrgMatching for anyone, read through q.
func orgMatching(ctx context.Context, q rowQuerier, orgID uuid.UUID) (OrgMatching, error) {
	m := OrgMatching{OrgID: orgID}
	err := q.QueryRow(ctx, `
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT o.id, o.parent_id, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent_id WHERE up.depth < $2
)
SELECT up.id, m.max_km, m.time_zone, m.updated_at
FROM up JOIN org_matching m ON m.org_id = up.id
ORDER BY up.depth LIMIT 1`, orgID, maxDepth).Scan(&m.From, &m.MaxKm, &m.TimeZone, &m.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return OrgMatching{OrgID: orgID, MaxKm: matching.DefaultMaxKm, TimeZone: defaultTimeZone}, nil
	}
	if m.UpdatedAt != nil {
		t := m.UpdatedAt.UTC()
		m.UpdatedAt = &t
	}
	return m, err
}
