package web

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// Times of day are shown in the time zone of the signed-in member's
// organization (its matching settings, or the nearest above it that has
// some; UTC by default), named beside each time, and dates typed in a
// form (a statement's period, a search's window) are days of that zone. A
// visitor sees UTC.

// zoneService is what the pages ask of the exchange to know a zone.
type zoneService interface {
	OrgMatching(ctx context.Context, p exchange.Principal, orgID uuid.UUID) (exchange.OrgMatching, error)
}

// zoneTTL is how long a zone read is kept: a coordinator's change shows
// within it, and a page costs no query for it.
const zoneTTL = time.Minute

// zones keeps the zones read, by organization.
type zones struct {
	mu sync.Mutex
	m  map[uuid.UUID]zoneEntry
}

type zoneEntry struct {
	loc   *time.Location
	until time.Time
}

// homeOrg is the organization whose zone a member's pages use: the first,
// in id order, they belong to as a member or coordinator (one where they
// are only the network's admin comes last).
func homeOrgOf(p exchange.Principal) (uuid.UUID, bool) {
	orgs := sortedOrgs(p)
	slices.SortStableFunc(orgs, func(a, b uuid.UUID) int {
		return compareBool(p.Roles[a] == exchange.RoleAdmin, p.Roles[b] == exchange.RoleAdmin)
	})
	if len(orgs) == 0 {
		return uuid.Nil, false
	}
	return orgs[0], true
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// inZone sets the zone the request's times are shown in. A zone that
// cannot be read leaves UTC (the time is still named), and is logged.
func (s *Server) inZone(r *Request) {
	if r.Principal == nil {
		return
	}
	org, ok := homeOrgOf(*r.Principal)
	if !ok {
		return
	}
	now := s.now()
	s.zones.mu.Lock()
	e, ok := s.zones.m[org]
	s.zones.mu.Unlock()
	if !ok || now.After(e.until) {
		m, err := s.ex.OrgMatching(r.Context(), *r.Principal, org)
		if err != nil {
			s.log.Warn("reading an organization's time zone", "org", org, "err", err)
			return
		}
		loc, err := time.LoadLocation(m.TimeZone)
		if err != nil || strings.EqualFold(m.TimeZone, "UTC") {
			loc = nil
		}
		e = zoneEntry{loc: loc, until: now.Add(zoneTTL)}
		s.zones.mu.Lock()
		if s.zones.m == nil {
			s.zones.m = map[uuid.UUID]zoneEntry{}
		}
		s.zones.m[org] = e
		s.zones.mu.Unlock()
	}
	if e.loc != nil {
		r.Lang = r.Lang.InZone(e.loc)
	}
}
