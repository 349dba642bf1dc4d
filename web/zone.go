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
// visitor sees UTC, except on an organization's public board, which shows
// its days in the organization's zone to everyone.

// zoneService is what the pages ask of the exchange to know a zone.
type zoneService interface {
	OrgMatching(ctx context.Context, p exchange.Principal, orgID uuid.UUID) (exchange.OrgMatching, error)
	// PublicTimeZone returns an organization's time zone, for anyone.
	PublicTimeZone(ctx context.Context, orgID uuid.UUID) (string, error)
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

// inZone sets the zone the request's times are shown in: the signed-in
// member's home organization's. A zone that cannot be read leaves UTC
// (the time is still named), and is logged.
func (s *Server) inZone(r *Request) {
	if r.Principal == nil {
		return
	}
	org, ok := homeOrgOf(*r.Principal)
	if !ok {
		return
	}
	p := *r.Principal
	s.showIn(r, org, func(ctx context.Context) (string, error) {
		m, err := s.ex.OrgMatching(ctx, p, org)
		return m.TimeZone, err
	})
}

// inOrgZone sets the zone of the request's times to org's, for whoever
// reads: an organization's public board shows its listings' days as its
// neighbors count them, whoever prints it.
func (s *Server) inOrgZone(r *Request, org uuid.UUID) {
	s.showIn(r, org, func(ctx context.Context) (string, error) {
		return s.ex.PublicTimeZone(ctx, org)
	})
}

// showIn sets the zone of the request's times to org's, which read
// returns when the zone kept for org is older than zoneTTL.
func (s *Server) showIn(r *Request, org uuid.UUID, read func(context.Context) (string, error)) {
	now := s.now()
	s.zones.mu.Lock()
	e, ok := s.zones.m[org]
	s.zones.mu.Unlock()
	if !ok || now.After(e.until) {
		name, err := read(r.Context())
		if err != nil {
			s.log.Warn("reading an organization's time zone", "org", org, "err", err)
			return
		}
		loc, err := time.LoadLocation(name)
		if err != nil || strings.EqualFold(name, "UTC") {
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
	r.Lang = r.Lang.InZone(e.loc)
}
