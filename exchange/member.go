package exchange

import (
	"context"
	"errors"
	"net/mail"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Role is what a member may do in an organization.
type Role string

// The roles.
const (
	// RoleMember takes part: posts listings, moves value out of their own
	// accounts.
	RoleMember Role = "member"
	// RoleCoordinator acts for the organization and the organizations under
	// it: admits members, opens accounts and sets credit limits, moves the
	// organization's value, sees its members and their balances.
	RoleCoordinator Role = "coordinator"
	// RoleAdmin acts for the whole network. It is given only on the network
	// organization.
	RoleAdmin Role = "admin"
)

func (r Role) valid() bool { return r == RoleMember || r == RoleCoordinator || r == RoleAdmin }

// governs reports whether the role acts for its organization and those
// under it.
func (r Role) governs() bool { return r == RoleCoordinator || r == RoleAdmin }

// Member is a person.
type Member struct {
	ID        uuid.UUID
	Name      string
	Email     string // "" when not given
	CreatedAt time.Time
	// Memberships are the member's organizations and roles, oldest first.
	Memberships []Membership
}

// Membership is a member's role in one organization.
type Membership struct {
	OrgID     uuid.UUID
	MemberID  uuid.UUID
	Role      Role
	CreatedAt time.Time // when the member joined; a change of role keeps it
}

// NewMember is a request to create a member.
type NewMember struct {
	ID    uuid.UUID // optional; a new one is made when zero
	Name  string    // 1 to 200 characters once trimmed
	Email string    // optional; a plain address ("ana@example.org"), up to 254 characters
}

// CreateMember creates a member who belongs to no organization yet. It
// returns ledger.ErrInvalidRequest (with Field set) for a bad name or email,
// and an ECONFLICT error when the ID is taken.
func (s *Store) CreateMember(ctx context.Context, in NewMember) (Member, error) {
	m, err := checkNewMember(in)
	if err != nil {
		return Member{}, err
	}
	m.CreatedAt = s.clock()
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		return insertMember(ctx, tx, m)
	})
	if err != nil {
		return Member{}, err
	}
	return m, nil
}

func checkNewMember(in NewMember) (Member, error) {
	name, err := checkText("name", in.Name, 1, 200)
	if err != nil {
		return Member{}, err
	}
	email, err := checkText("email", in.Email, 0, 254)
	if err != nil {
		return Member{}, err
	}
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" {
			return Member{}, invalid("email", "email %q is not a plain email address", email)
		}
	}
	if in.ID == uuid.Nil {
		in.ID = newID()
	}
	return Member{ID: in.ID, Name: name, Email: email, Memberships: []Membership{}}, nil
}

func insertMember(ctx context.Context, tx *pgtx.Tx, m Member) error {
	_, err := tx.Exec(ctx, `INSERT INTO members (id, name, email, created_at) VALUES ($1, $2, $3, $4)`,
		m.ID, m.Name, m.Email, m.CreatedAt)
	if pgCode(err) == uniqueViolation {
		return idTaken("member", m.ID)
	}
	return err
}

// AddMembership gives a member a role in an organization: it admits the
// member, or changes the role of a member already there (keeping the date
// they joined). Giving the same role again changes nothing. It returns
// ledger.ErrInvalidRequest for an unknown role or for RoleAdmin on an
// organization other than the network, ErrUnknownOrg and ErrUnknownMember.
// Who may call it is decided by CanManageOrg.
func (s *Store) AddMembership(ctx context.Context, orgID, memberID uuid.UUID, role Role) (Membership, error) {
	if !role.valid() {
		return Membership{}, invalid("role", "role must be member, coordinator or admin, not %q", role)
	}
	ms := Membership{OrgID: orgID, MemberID: memberID, Role: role}
	now := s.clock()
	// Organizations and members are never deleted, and the foreign keys back
	// the checks below, so READ COMMITTED is enough.
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		var kind *Kind
		var memberExists bool
		err := tx.QueryRow(ctx, `SELECT (SELECT kind FROM orgs WHERE id = $1), EXISTS (SELECT 1 FROM members WHERE id = $2)`,
			orgID, memberID).Scan(&kind, &memberExists)
		if err != nil {
			return err
		}
		if kind == nil {
			return unknownOrg(orgID)
		}
		if !memberExists {
			return unknownMember(memberID)
		}
		if role == RoleAdmin && *kind != KindNetwork {
			return invalid("role", "admin is a network-wide role, given only on the network organization")
		}
		return tx.QueryRow(ctx, `
INSERT INTO memberships (org_id, member_id, role, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (org_id, member_id) DO UPDATE SET role = excluded.role
RETURNING created_at`, orgID, memberID, role, now).Scan(&ms.CreatedAt)
	})
	if err != nil {
		return Membership{}, err
	}
	return ms, nil
}

// Member returns a member with their memberships, or ErrUnknownMember. Who
// may call it is decided by CanReadMember.
func (s *Store) Member(ctx context.Context, id uuid.UUID) (Member, error) {
	var m Member
	err := s.db.Pool.QueryRow(ctx, `SELECT id, name, email, created_at FROM members WHERE id = $1`, id).
		Scan(&m.ID, &m.Name, &m.Email, &m.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Member{}, unknownMember(id)
	}
	if err != nil {
		return Member{}, err
	}
	m.Memberships, err = s.memberships(ctx, id)
	if err != nil {
		return Member{}, err
	}
	return m, nil
}

// Memberships returns a member's memberships, oldest first, or
// ErrUnknownMember when there is no such member.
func (s *Store) Memberships(ctx context.Context, memberID uuid.UUID) ([]Membership, error) {
	var exists bool
	if err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM members WHERE id = $1)`, memberID).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, unknownMember(memberID)
	}
	return s.memberships(ctx, memberID)
}

func (s *Store) memberships(ctx context.Context, memberID uuid.UUID) ([]Membership, error) {
	rows, err := s.db.Pool.Query(ctx, `
SELECT org_id, member_id, role, created_at FROM memberships WHERE member_id = $1 ORDER BY created_at, org_id`, memberID)
	if err != nil {
		return nil, err
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Membership, error) {
		var m Membership
		err := r.Scan(&m.OrgID, &m.MemberID, &m.Role, &m.CreatedAt)
		return m, err
	})
	if ms == nil && err == nil {
		ms = []Membership{}
	}
	return ms, err
}

func unknownMember(id uuid.UUID) error {
	return newError(ErrUnknownMember.Code, ReasonUnknownMember, "unknown member %s", id)
}
