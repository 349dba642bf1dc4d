package exchange

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Kind says what an organization is.
type Kind string

// The organization kinds. The network is the root of the tree; the others
// hang under it (usually local under network, the rest under a local, but
// the exchange does not insist on that shape).
const (
	KindNetwork      Kind = "network"      // the continental network, the one root
	KindLocal        Kind = "local"        // a city's assembly or a federation
	KindCouncil      Kind = "council"      // a neighborhood council
	KindTimebank     Kind = "timebank"     // a time bank
	KindCoop         Kind = "coop"         // a cooperative
	KindMunicipality Kind = "municipality" // a municipality or one of its departments
)

func (k Kind) valid() bool {
	switch k {
	case KindNetwork, KindLocal, KindCouncil, KindTimebank, KindCoop, KindMunicipality:
		return true
	}
	return false
}

// MembershipType says how an organization belongs to the network.
type MembershipType string

// The membership types.
const (
	MemberOrganization  MembershipType = "member"
	PartnerOrganization MembershipType = "partner"
)

// Org is an organization. Organizations are public: any authenticated
// principal may read them.
type Org struct {
	ID         uuid.UUID
	ParentID   *uuid.UUID // nil only for the network
	Name       string
	Kind       Kind
	City       string
	Region     string // home region ("us-east1"): its own or its parent's; "" for none (see region.go)
	Membership MembershipType
	CreatedAt  time.Time
}

// NewOrg is a request to create an organization.
type NewOrg struct {
	ID       uuid.UUID  // optional; a new one is made when zero
	ParentID *uuid.UUID // required for every kind but network, which must leave it nil
	Name     string     // 1 to 200 characters once trimmed
	Kind     Kind
	City     string // optional, up to 200 characters
	Region   string // optional (see checkRegion); the parent's when ""
	// Membership defaults to MemberOrganization.
	Membership MembershipType
}

// CreateOrg creates an organization. It returns ledger.ErrInvalidRequest
// (with Field set) for a bad name, kind, city, region or membership type, a
// network given a parent or another kind given none; ErrUnknownOrg when the
// parent does not exist; ErrNetworkExists for a second network; and an
// ECONFLICT error when the ID is taken. Nothing is written when it fails.
// It is for System only (setup and fixtures: ErrForbidden for a member,
// ErrUnauthenticated for a zero Principal); a member's request goes through
// AddOrg, which decides who may.
func (s *Store) CreateOrg(ctx context.Context, p Principal, in NewOrg) (Org, error) {
	if err := requireSystem(p, "AddOrg"); err != nil {
		return Org{}, err
	}
	return s.createOrgBy(ctx, p, in)
}

// createOrgBy is CreateOrg for anyone, recorded as done by p.
func (s *Store) createOrgBy(ctx context.Context, p Principal, in NewOrg) (Org, error) {
	o, err := checkNewOrg(in)
	if err != nil {
		return Org{}, err
	}
	o.CreatedAt = s.clock()
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		ev := auditEvent{kind: "org.created", subject: o.ID, org: o.ID, details: map[string]any{"kind": o.Kind}}
		if o.ParentID != nil {
			ev.details["parent_id"] = *o.ParentID
		}
		record(tx, p, o.CreatedAt, ev)
		return insertOrg(ctx, tx, &o)
	})
	if err != nil {
		return Org{}, err
	}
	return o, nil
}

func checkNewOrg(in NewOrg) (Org, error) {
	name, err := checkText("name", in.Name, 1, 200)
	if err != nil {
		return Org{}, err
	}
	city, err := checkText("city", in.City, 0, 200)
	if err != nil {
		return Org{}, err
	}
	region, err := checkText("region", in.Region, 0, 64)
	if err != nil {
		return Org{}, err
	}
	if err := checkRegion("region", region); err != nil {
		return Org{}, err
	}
	if !in.Kind.valid() {
		return Org{}, invalid("kind", "kind must be network, local, council, timebank, coop or municipality, not %q", in.Kind)
	}
	if in.Membership == "" {
		in.Membership = MemberOrganization
	}
	if in.Membership != MemberOrganization && in.Membership != PartnerOrganization {
		return Org{}, invalid("membership", "membership must be member or partner, not %q", in.Membership)
	}
	if in.Kind == KindNetwork && in.ParentID != nil {
		return Org{}, invalid("parent_id", "the network is the root and has no parent")
	}
	if in.Kind != KindNetwork && in.ParentID == nil {
		return Org{}, invalid("parent_id", "an organization of kind %s needs a parent", in.Kind)
	}
	if in.ID == uuid.Nil {
		in.ID = newID()
	}
	if in.ParentID != nil && *in.ParentID == in.ID {
		return Org{}, invalid("parent_id", "an organization cannot be its own parent")
	}
	var parent *uuid.UUID
	if in.ParentID != nil {
		p := *in.ParentID
		parent = &p
	}
	return Org{ID: in.ID, ParentID: parent, Name: name, Kind: in.Kind, City: city, Region: region, Membership: in.Membership}, nil
}

// insertOrg inserts a checked organization and translates the constraints
// that can still refuse it: the parent's foreign key, and the two unique
// indexes (the primary key, and the one network).
func insertOrg(ctx context.Context, tx *pgtx.Tx, o *Org) error {
	// An organization given no region takes its parent's.
	err := tx.QueryRow(ctx, `
INSERT INTO orgs (id, parent_id, name, kind, city, region, membership, created_at)
VALUES ($1, $2, $3, $4, $5, COALESCE(NULLIF($6::TEXT, ''), (SELECT region FROM orgs WHERE id = $2), ''), $7, $8)
RETURNING region`,
		o.ID, o.ParentID, o.Name, o.Kind, o.City, o.Region, o.Membership, o.CreatedAt).Scan(&o.Region)
	switch pgCode(err) {
	case foreignKeyViolation:
		e := newError(ErrUnknownOrg.Code, ReasonUnknownOrg, "unknown parent organization %s", *o.ParentID)
		e.Field = "parent_id"
		return e
	case uniqueViolation:
		if o.Kind == KindNetwork {
			return newError(ErrNetworkExists.Code, ReasonNetworkExists, "a network organization already exists; there is only one")
		}
		return idTaken("organization", o.ID)
	}
	return err
}

const orgColumns = `o.id, o.parent_id, o.name, o.kind, o.city, o.region, o.membership, o.created_at`

func scanOrg(r pgx.Row, extra ...any) (Org, error) {
	var o Org
	err := r.Scan(append([]any{&o.ID, &o.ParentID, &o.Name, &o.Kind, &o.City, &o.Region, &o.Membership, &o.CreatedAt}, extra...)...)
	return o, err
}

// Org returns an organization to any member (organizations are public
// within the network), or ErrUnknownOrg; ErrUnauthenticated for a zero
// Principal.
func (s *Store) Org(ctx context.Context, p Principal, id uuid.UUID) (Org, error) {
	if err := requireMember(p); err != nil {
		return Org{}, err
	}
	return s.org(ctx, id)
}

// OrgsByID is Org for many organizations at once, in one query: those
// among ids that exist, by id (one that does not is left out). It returns
// ErrUnauthenticated for a zero Principal.
func (s *Store) OrgsByID(ctx context.Context, p Principal, ids []uuid.UUID) (map[uuid.UUID]Org, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]Org, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Org, error) { return scanOrg(r) })
	for _, o := range got {
		out[o.ID] = o
	}
	return out, err
}

// org returns an organization, for anyone, or ErrUnknownOrg.
func (s *Store) org(ctx context.Context, id uuid.UUID) (Org, error) {
	o, err := scanOrg(s.db.Pool.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Org{}, unknownOrg(id)
	}
	return o, err
}

// network returns the network organization, or ErrUnknownOrg before one is
// made (see Bootstrap).
func (s *Store) network(ctx context.Context) (Org, error) {
	o, err := scanOrg(s.db.Pool.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.kind = 'network'`))
	if errors.Is(err, pgx.ErrNoRows) {
		return Org{}, newError(ErrUnknownOrg.Code, ReasonUnknownOrg, "there is no network organization yet")
	}
	return o, err
}

// Orgs lists organizations in id order (which, ids being UUIDv7, is roughly
// creation order), one page at a time. next is the After of the following
// page, or uuid.Nil after the last one. It returns ledger.ErrInvalidRequest
// for a limit outside 0..MaxLimit. Any member may list them (organizations
// are public within the network): ErrUnauthenticated for a zero Principal.
func (s *Store) Orgs(ctx context.Context, pr Principal, p Page) (orgs []Org, next uuid.UUID, err error) {
	if err := requireMember(pr); err != nil {
		return nil, uuid.Nil, err
	}
	limit, err := p.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+orgColumns+` FROM orgs o WHERE o.id > $1 ORDER BY o.id LIMIT $2`, p.After, limit+1)
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

// AddOrg creates an organization under in.ParentID on behalf of p, who
// must act for the parent (its coordinators, those above it, the admin):
// ErrForbidden (Field "parent_id") otherwise, ErrUnknownOrg (Field
// "parent_id") for a parent that does not exist, ledger.ErrInvalidRequest
// (Field "parent_id") for none; ErrUnauthenticated for a zero Principal.
// The network is not made here but by Bootstrap. When in.ID is taken by the
// very organization asked for (an earlier attempt of the same request made
// it), that organization is returned. Otherwise it returns what CreateOrg
// returns.
func (s *Store) AddOrg(ctx context.Context, p Principal, in NewOrg) (Org, error) {
	if err := requireMember(p); err != nil {
		return Org{}, err
	}
	if in.ParentID == nil {
		return Org{}, invalid("parent_id", "parent_id is required: every organization but the network has a parent")
	}
	if err := s.mayManageOrgAt(ctx, p, *in.ParentID, "parent_id"); err != nil {
		return Org{}, err
	}
	o, err := s.createOrgBy(ctx, p, in)
	if err != nil {
		return s.sameOrg(ctx, in, err)
	}
	return o, nil
}

// sameOrg answers a creation that failed because the (keyed) id is taken:
// when the organization there is the one asked for, an earlier attempt of
// the same request made it, and it is returned; otherwise the error stands.
func (s *Store) sameOrg(ctx context.Context, in NewOrg, err error) (Org, error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ECONFLICT {
		return Org{}, err
	}
	o, gerr := s.org(ctx, in.ID)
	membership := in.Membership
	if membership == "" {
		membership = MemberOrganization
	}
	if gerr != nil || o.ParentID == nil || *o.ParentID != *in.ParentID || o.Kind != in.Kind ||
		o.Name != strings.TrimSpace(in.Name) || o.City != strings.TrimSpace(in.City) ||
		(in.Region != "" && o.Region != strings.TrimSpace(in.Region)) || o.Membership != membership {
		return Org{}, err
	}
	return o, nil
}

// maxDepth bounds the walks up the tree. The tree cannot have a cycle (an
// organization's parent exists before it, and none is re-parented); the bound
// is a second guard, far deeper than any real federation.
const maxDepth = 64

// ancestors returns an organization's ancestors, nearest first: its parent,
// the parent's parent, and so on up to the network. The network has none.
// It returns ErrUnknownOrg when the organization does not exist.
func (s *Store) ancestors(ctx context.Context, id uuid.UUID) ([]Org, error) {
	rows, err := s.db.Pool.Query(ctx, `
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT o.id, o.parent_id, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent_id WHERE up.depth < $2
)
SELECT `+orgColumns+` FROM up JOIN orgs o ON o.id = up.id ORDER BY up.depth`, id, maxDepth)
	if err != nil {
		return nil, err
	}
	chain, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Org, error) { return scanOrg(r) })
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, unknownOrg(id)
	}
	return chain[1:], nil
}

func unknownOrg(id uuid.UUID) error {
	return newError(ErrUnknownOrg.Code, ReasonUnknownOrg, "unknown organization %s", id)
}
