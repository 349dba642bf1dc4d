package exchange

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
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
	// Account is the account opened when the member joined an
	// organization with time-bank rules (see SetTimebankRules). Only
	// AddMembership and AdmitNewMember set it, on admission; it is uuid.Nil
	// otherwise.
	Account uuid.UUID
}

// NewMember is a request to create a member.
type NewMember struct {
	ID    uuid.UUID // optional; a new one is made when zero
	Name  string    // 1 to 200 characters once trimmed
	Email string    // optional; a plain address ("ana@example.org"), up to 254 characters
}

// CreateMember creates a member who belongs to no organization yet. It
// returns ledger.ErrInvalidRequest (with Field set) for a bad name or email,
// and an ECONFLICT error when the ID is taken. It is for System only
// (setup and fixtures): ErrForbidden for a member, ErrUnauthenticated for a
// zero Principal; a person joins through Admit or an invitation.
func (s *Store) CreateMember(ctx context.Context, p Principal, in NewMember) (Member, error) {
	if err := requireSystem(p, "Admit or AcceptInvitation"); err != nil {
		return Member{}, err
	}
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
// they joined). Giving the same role again changes nothing. Admission into
// an organization with time-bank rules also opens the member's account
// there, with the rules' bounds, in the same transaction. It returns
// ledger.ErrInvalidRequest for an unknown role or for RoleAdmin on an
// organization other than the network, ErrUnknownOrg and ErrUnknownMember.
// It is for System only (setup and fixtures: ErrForbidden for a member,
// ErrUnauthenticated for a zero Principal): Admit decides for a member's
// request, and invitations take the step themselves.
func (s *Store) AddMembership(ctx context.Context, p Principal, orgID, memberID uuid.UUID, role Role) (Membership, error) {
	if err := requireSystem(p, "Admit"); err != nil {
		return Membership{}, err
	}
	return s.addMembershipBy(ctx, p, orgID, memberID, role)
}

// addMembershipBy is AddMembership for anyone, recorded as done by p.
func (s *Store) addMembershipBy(ctx context.Context, p Principal, orgID, memberID uuid.UUID, role Role) (Membership, error) {
	if !role.valid() {
		return Membership{}, invalid("role", "role must be member, coordinator or admin, not %q", role)
	}
	now := s.clock()
	var ms Membership
	// Organizations and members are never deleted, and the foreign keys back
	// the checks in addMembership, so READ COMMITTED is enough.
	err := s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		var err error
		ms, err = addMembership(ctx, tx, lt, p, orgID, memberID, role, now)
		return err
	})
	s.auth.forget() // the member's tokens now stand for other roles
	if err != nil {
		return Membership{}, err
	}
	return ms, nil
}

// AdmitNewMember creates a member and gives them a role in an organization,
// in one transaction: either both are made or neither (with the time-bank
// account AddMembership opens). It returns what
// CreateMember and AddMembership return for a bad member or role,
// ErrUnknownOrg, and an ECONFLICT error when the member's ID is taken. It
// is for System only (ErrForbidden for a member, ErrUnauthenticated for a
// zero Principal): Admit decides for a member's request.
func (s *Store) AdmitNewMember(ctx context.Context, p Principal, orgID uuid.UUID, in NewMember, role Role) (Member, error) {
	if err := requireSystem(p, "Admit"); err != nil {
		return Member{}, err
	}
	return s.admitNewMemberBy(ctx, p, orgID, in, role)
}

// admitNewMemberBy is AdmitNewMember for anyone, recorded as done by p.
func (s *Store) admitNewMemberBy(ctx context.Context, p Principal, orgID uuid.UUID, in NewMember, role Role) (Member, error) {
	m, err := checkNewMember(in)
	if err != nil {
		return Member{}, err
	}
	if !role.valid() {
		return Member{}, invalid("role", "role must be member, coordinator or admin, not %q", role)
	}
	m.CreatedAt = s.clock()
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		if err := insertMember(ctx, tx, m); err != nil {
			return err
		}
		ms, err := addMembership(ctx, tx, lt, p, orgID, m.ID, role, m.CreatedAt)
		m.Memberships = []Membership{ms}
		return err
	})
	if err != nil {
		return Member{}, err
	}
	return m, nil
}

// Admission asks to give a member a role in an organization: an existing
// member (MemberID set) or a new one (New, when MemberID is uuid.Nil).
type Admission struct {
	MemberID uuid.UUID
	New      NewMember
	Role     Role
}

// Admit gives a member a role in an organization on behalf of p, who must
// act for it (CanManageOrg): a new member is created into it; an existing
// one is admitted or, when already there, given the role (created is then
// false). It returns the member with all their memberships, and the
// account opened for them when the organization has time-bank rules and
// the member is new to it.
//
// Beyond acting for the organization: an existing member must be one p may
// already see (Principal.MayReadMember), since admitting someone makes p
// one of their coordinators: anyone else is ErrUnknownMember (Field
// "member_id"), as for a member that does not exist; the admin role, and
// any change to an admin's role, is for the admin alone (ErrForbidden).
//
// A new member whose ID is taken by the same member (same name and email),
// made by an earlier attempt of the same request, is given the role again
// and returned. Otherwise it returns ErrForbidden and ErrUnknownOrg for the
// organization, ErrUnauthenticated for a zero Principal, and what
// AdmitNewMember and AddMembership return.
func (s *Store) Admit(ctx context.Context, p Principal, orgID uuid.UUID, in Admission) (m Member, account uuid.UUID, created bool, err error) {
	if err := s.mayManageOrgAt(ctx, p, orgID, ""); err != nil {
		return Member{}, uuid.Nil, false, err
	}
	if in.Role == RoleAdmin && !p.Admin {
		return Member{}, uuid.Nil, false, forbiddenBecause("only a network admin may make admins")
	}
	if in.MemberID == uuid.Nil {
		m, err := s.admitNewMemberBy(ctx, p, orgID, in.New, in.Role)
		if err == nil {
			return m, m.Memberships[0].Account, true, nil
		}
		if m, err = s.sameMember(ctx, p, orgID, in.New, in.Role, err); err != nil {
			return Member{}, uuid.Nil, false, err
		}
		return m, uuid.Nil, true, nil
	}
	m, err = s.readableMember(ctx, p, in.MemberID, "member_id")
	if err != nil {
		return Member{}, uuid.Nil, false, err
	}
	if err := s.refuseErased(ctx, in.MemberID); err != nil {
		return Member{}, uuid.Nil, false, err
	}
	created = true
	for _, ms := range m.Memberships {
		if ms.OrgID != orgID {
			continue
		}
		created = false
		if ms.Role == RoleAdmin && !p.Admin {
			return Member{}, uuid.Nil, false, forbiddenBecause("only a network admin may change an admin's role")
		}
	}
	ms, err := s.addMembershipBy(ctx, p, orgID, in.MemberID, in.Role)
	if err != nil {
		return Member{}, uuid.Nil, false, err
	}
	if m, err = s.member(ctx, in.MemberID); err != nil {
		return Member{}, uuid.Nil, false, err
	}
	return m, ms.Account, created, nil
}

// sameMember answers an admission that failed because the (keyed) member id
// is taken: when the member there is the one asked for, an earlier attempt
// of this request made it; the role is given again (which changes nothing
// if it was) and the member returned. Otherwise the error stands.
func (s *Store) sameMember(ctx context.Context, p Principal, orgID uuid.UUID, in NewMember, role Role, err error) (Member, error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ECONFLICT {
		return Member{}, err
	}
	m, gerr := s.member(ctx, in.ID)
	if gerr != nil || m.Name != strings.TrimSpace(in.Name) || m.Email != strings.TrimSpace(in.Email) {
		return Member{}, err
	}
	if _, err := s.addMembershipBy(ctx, p, orgID, in.ID, role); err != nil {
		return Member{}, err
	}
	return s.member(ctx, in.ID)
}

// addMembership is AddMembership inside tx, for a valid role.
func addMembership(ctx context.Context, tx *pgtx.Tx, lt *ledger.Tx, p Principal, orgID, memberID uuid.UUID, role Role, now time.Time) (Membership, error) {
	ms := Membership{OrgID: orgID, MemberID: memberID, Role: role}
	var kind *Kind
	var orgName *string
	var memberExists bool
	err := tx.QueryRow(ctx, `
SELECT (SELECT kind FROM orgs WHERE id = $1), (SELECT name FROM orgs WHERE id = $1), EXISTS (SELECT 1 FROM members WHERE id = $2)`,
		orgID, memberID).Scan(&kind, &orgName, &memberExists)
	if err != nil {
		return Membership{}, err
	}
	if kind == nil {
		return Membership{}, unknownOrg(orgID)
	}
	if !memberExists {
		return Membership{}, unknownMember(memberID)
	}
	if role == RoleAdmin && *kind != KindNetwork {
		return Membership{}, invalid("role", "admin is a network-wide role, given only on the network organization")
	}
	// Insert first: only the transaction whose row is new admits the
	// member (and opens their time-bank account); a concurrent one waits for
	// it, then changes the role.
	err = tx.QueryRow(ctx, `
INSERT INTO memberships (org_id, member_id, role, created_at, region)
VALUES ($1, $2, $3, $4, COALESCE((SELECT region FROM orgs WHERE id = $1), ''))
ON CONFLICT (org_id, member_id) DO NOTHING
RETURNING created_at`, orgID, memberID, role, now).Scan(&ms.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		// The role before, read under the row's lock, so that only a
		// change is recorded.
		var before Role
		err = tx.QueryRow(ctx, `SELECT role, created_at FROM memberships WHERE org_id = $1 AND member_id = $2 FOR UPDATE`,
			orgID, memberID).Scan(&before, &ms.CreatedAt)
		if err != nil {
			return Membership{}, err
		}
		if before == role {
			return ms, nil
		}
		if _, err = tx.Exec(ctx, `UPDATE memberships SET role = $3 WHERE org_id = $1 AND member_id = $2`, orgID, memberID, role); err != nil {
			return Membership{}, err
		}
		record(tx, p, now, auditEvent{kind: "member.role_changed", subject: memberID, org: orgID, member: memberID,
			details: map[string]any{"from": before, "to": role}})
		return ms, nil
	}
	if err != nil {
		return Membership{}, err
	}
	if ms.Account, err = openAdmissionAccount(ctx, tx, lt, orgID, *orgName, memberID); err != nil {
		return Membership{}, err
	}
	d := map[string]any{"role": role}
	if ms.Account != uuid.Nil {
		d["account_id"] = ms.Account
	}
	record(tx, p, now, auditEvent{kind: "member.admitted", subject: memberID, org: orgID, member: memberID, details: d})
	return ms, nil
}

// Member returns a member with their memberships to those who may read
// them (Principal.MayReadMember: the member, coordinators of their
// organizations and of those above, the admin): ErrUnknownMember when there
// is no such member or p may not see them, ErrUnauthenticated for a zero
// Principal.
func (s *Store) Member(ctx context.Context, p Principal, id uuid.UUID) (Member, error) {
	return s.readableMember(ctx, p, id, "")
}

// readableMember is Member, with the field that named the member (if any)
// set on ErrUnknownMember.
func (s *Store) readableMember(ctx context.Context, p Principal, id uuid.UUID, field string) (Member, error) {
	if err := s.CanReadMember(ctx, p, id); err != nil {
		if hidden(err) {
			return Member{}, withFieldName(unknownMember(id), field)
		}
		return Member{}, err
	}
	m, err := s.member(ctx, id)
	if field != "" {
		err = withFieldName(err, field)
	}
	return m, err
}

// member returns a member with their memberships, for anyone, or
// ErrUnknownMember.
func (s *Store) member(ctx context.Context, id uuid.UUID) (Member, error) {
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

// membershipsOf returns a member's memberships, oldest first, or
// ErrUnknownMember when there is no such member.
func (s *Store) membershipsOf(ctx context.Context, memberID uuid.UUID) ([]Membership, error) {
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

// OrgMember is one member of an organization as its roster shows them: who
// they are and their role there.
type OrgMember struct {
	MemberID uuid.UUID
	Name     string
	Email    string
	Role     Role
	JoinedAt time.Time
}

// OrgMembers lists the members of an organization (its own, not those of
// the organizations under it) in member id order, one page at a time. next
// is the After of the following page, or uuid.Nil after the last one. It
// returns ErrUnknownOrg, and ledger.ErrInvalidRequest for a limit outside
// 0..MaxLimit. Only those who act for the organization (CanManageOrg) may
// list them: ErrForbidden for anyone else, ErrUnauthenticated for a zero
// Principal.
func (s *Store) OrgMembers(ctx context.Context, pr Principal, orgID uuid.UUID, p Page) (members []OrgMember, next uuid.UUID, err error) {
	if err := s.mayManageOrgAt(ctx, pr, orgID, ""); err != nil {
		return nil, uuid.Nil, err
	}
	limit, err := p.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	var exists bool
	if err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1)`, orgID).Scan(&exists); err != nil {
		return nil, uuid.Nil, err
	}
	if !exists {
		return nil, uuid.Nil, unknownOrg(orgID)
	}
	// The memberships primary key (org_id, member_id) serves the range.
	rows, err := s.db.Pool.Query(ctx, `
SELECT m.id, m.name, m.email, ms.role, ms.created_at
FROM memberships ms JOIN members m ON m.id = ms.member_id
WHERE ms.org_id = $1 AND ms.member_id > $2
ORDER BY ms.member_id LIMIT $3`, orgID, p.After, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	members, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OrgMember, error) {
		var m OrgMember
		err := r.Scan(&m.MemberID, &m.Name, &m.Email, &m.Role, &m.JoinedAt)
		return m, err
	})
	if err != nil {
		return nil, uuid.Nil, err
	}
	if members == nil {
		members = []OrgMember{}
	}
	if len(members) > limit {
		members = members[:limit]
		next = members[limit-1].MemberID
	}
	return members, next, nil
}

func unknownMember(id uuid.UUID) error {
	return newError(ErrUnknownMember.Code, ReasonUnknownMember, "unknown member %s", id)
}
