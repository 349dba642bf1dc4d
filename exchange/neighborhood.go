package exchange

import (
	"context"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Neighborhood is a neighborhood an organization's listings name, with a
// point that stands for it: the mean of its listings' places.
type Neighborhood struct {
	Name  string
	City  string
	Place Point
	// Listings is how many listings name it.
	Listings int64
}

// Neighborhoods returns the neighborhoods that the listings posted in an
// organization name (whatever their status), by name and city, each with
// the mean point of those listings: what a person picks from when they
// post, or search near where they live. Only listings p may see count
// (Viewer.MaySee): all of the organization's for its members, its public
// ones for others. It returns ErrUnauthenticated for a zero Principal; an
// unknown organization has none.
func (s *Store) Neighborhoods(ctx context.Context, p Principal, orgID uuid.UUID) ([]Neighborhood, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	v := ViewerOf(p)
	all := v.All || slices.Contains(v.Orgs, orgID)
	// The mean of longitudes is wrong across the antimeridian; a
	// neighborhood does not straddle it.
	rows, err := s.db.Pool.Query(ctx, `
SELECT neighborhood, city, avg(lat), avg(lon), count(*) FROM listings
WHERE org_id = $1 AND neighborhood <> '' AND ($2 OR visibility = 'public' OR owner_member = $3)
GROUP BY neighborhood, city
ORDER BY neighborhood, city`, orgID, all, p.MemberID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Neighborhood, error) {
		var n Neighborhood
		err := r.Scan(&n.Name, &n.City, &n.Place.Lat, &n.Place.Lon, &n.Listings)
		return n, err
	})
}
