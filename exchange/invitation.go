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

// Invitations. A coordinator (or anyone above) invites a person into their
// organization with a role no higher than their own. The invitation is
// shown once as a link (a 256-bit secret) and as a short code that can be
// read aloud over the phone; only their hashes are stored. Accepting it
// creates the member (or, for someone already signed in, adds them to the
// organization), opens their time-bank account by the organization's
// rules, and signs them in with a session, all in one transaction. An
// invitation works once.

// Invitation lifetimes.
const (
	DefaultInvitationTTL = 14 * 24 * time.Hour
	MaxInvitationTTL     = 90 * 24 * time.Hour
)

// The statuses of an invitation, as Invitation.Status reports them.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationRevoked  = "revoked"
	InvitationExpired  = "expired"
)

// The reasons of invitation errors.
const (
	ReasonUnknownInvitation ledger.Reason = "unknown_invitation"
	ReasonInvitationExpired ledger.Reason = "invitation_expired"
	ReasonInvitationRevoked ledger.Reason = "invitation_revoked"
	ReasonInvitationUsed    ledger.Reason = "invitation_used"
	ReasonAlreadyAMember    ledger.Reason = "already_a_member"
)

var (
	// ErrUnknownInvitation: no invitation has the secret, code or id (or,
	// by id, the principal may not see it).
	ErrUnknownInvitation = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownInvitation}
	// ErrInvitationExpired: the invitation was not accepted in time.
	ErrInvitationExpired = &ledger.Error{Code: ledger.EREFUSED, Reason: ReasonInvitationExpired}
	// ErrInvitationRevoked: a coordinator withdrew the invitation.
	ErrInvitationRevoked = &ledger.Error{Code: ledger.EREFUSED, Reason: ReasonInvitationRevoked}
	// ErrInvitationUsed: the invitation was accepted already; it works once.
	ErrInvitationUsed = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonInvitationUsed}
	// ErrAlreadyAMember: the signed-in member accepting belongs to the
	// organization already (their role there is left as it is).
	ErrAlreadyAMember = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonAlreadyAMember}
)

// Invitation is an invitation as stored, never its link or code.
type Invitation struct {
	ID         uuid.UUID
	OrgID      uuid.UUID
	Role       Role
	Name       string // what the inviter knew of the person; "" when not given
	Email      string
	Phone      string
	InvitedBy  uuid.UUID
	ExpiresAt  time.Time
	CreatedAt  time.Time
	RevokedAt  *time.Time
	AcceptedAt *time.Time
	AcceptedBy *uuid.UUID
}

// Status is the invitation's status at now: InvitationPending,
// InvitationAccepted, InvitationRevoked or InvitationExpired.
func (i Invitation) Status(now time.Time) string {
	switch {
	case i.AcceptedAt != nil:
		return InvitationAccepted
	case i.RevokedAt != nil:
		return InvitationRevoked
	case !i.ExpiresAt.After(now):
		return InvitationExpired
	}
	return InvitationPending
}

// NewInvitation is a request to invite a person.
type NewInvitation struct {
	OrgID uuid.UUID
	Role  Role
	// Name, Email and Phone are optional: what the inviter knows of the
	// person, for their list. The person chooses the name others see when
	// accepting.
	Name, Email, Phone string
	// ExpiresAt is when the invitation stops working: nil means
	// DefaultInvitationTTL from now; at most MaxInvitationTTL from now.
	ExpiresAt *time.Time
}

// InvitationLinkPath is the path of an invitation's link, before its
// secret: the page that accepts it is served there.
const InvitationLinkPath = "/join/"

// Invite invites a person into an organization and returns the invitation
// with its link's secret and its code, shown only here. Who may: whoever
// may act for the organization (CanManageOrg); the admin role only the
// admin, and only on the network. It returns ErrForbidden, ErrUnknownOrg,
// and ledger.ErrInvalidRequest (Field set) for a bad role, name, email,
// phone or expiry.
func (s *Store) Invite(ctx context.Context, p Principal, in NewInvitation) (inv Invitation, secret, code string, err error) {
	if err := s.mayManageOrgAt(ctx, p, in.OrgID, ""); err != nil {
		return Invitation{}, "", "", err
	}
	if !in.Role.valid() {
		return Invitation{}, "", "", invalid("role", "role must be member, coordinator or admin, not %q", in.Role)
	}
	if in.Role == RoleAdmin && !p.Admin {
		return Invitation{}, "", "", forbiddenBecause("a role above your own: only a network admin may invite an admin")
	}
	now := s.clock()
	inv = Invitation{ID: newID(), OrgID: in.OrgID, Role: in.Role, InvitedBy: p.MemberID, CreatedAt: now, ExpiresAt: now.Add(DefaultInvitationTTL)}
	person, err := checkNewMember(NewMember{Name: "x", Email: in.Email})
	if err != nil {
		return Invitation{}, "", "", err
	}
	inv.Email = person.Email
	if inv.Name, err = checkText("name", in.Name, 0, 200); err != nil {
		return Invitation{}, "", "", err
	}
	if inv.Phone, err = checkPhone(in.Phone); err != nil {
		return Invitation{}, "", "", err
	}
	if in.ExpiresAt != nil {
		e := in.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !e.After(now) || e.After(now.Add(MaxInvitationTTL)) {
			return Invitation{}, "", "", invalid("expires_at", "expires_at must be in the future and at most %d days away", int(MaxInvitationTTL/(24*time.Hour)))
		}
		inv.ExpiresAt = e
	}
	if in.Role == RoleAdmin {
		org, err := s.org(ctx, in.OrgID)
		if err != nil {
			return Invitation{}, "", "", err
		}
		if org.Kind != KindNetwork {
			return Invitation{}, "", "", invalid("role", "admin is a network-wide role, given only on the network organization")
		}
	}
	for attempt := 0; ; attempt++ {
		secret, code = newSecret()[len(SecretPrefix):], newCode()
		err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			_, err := tx.Exec(ctx, `
INSERT INTO invitations (id, org_id, role, name, email, phone, link_hash, code_hash, invited_by, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				inv.ID, inv.OrgID, inv.Role, inv.Name, inv.Email, inv.Phone, hashSecret(secret), hashCode(code), inv.InvitedBy, inv.ExpiresAt, now)
			record(tx, p, now, auditEvent{kind: "invitation.created", subject: inv.ID, org: inv.OrgID,
				details: map[string]any{"role": inv.Role, "expires_at": inv.ExpiresAt}})
			return err
		})
		// Two invitations may draw the same 40-bit code, once in a very
		// long while: draw again.
		if pgCode(err) == uniqueViolation && attempt < 3 {
			continue
		}
		if err != nil {
			return Invitation{}, "", "", err
		}
		return inv, secret, code, nil
	}
}

// checkPhone checks a phone number as people write it: up to 32 of digits,
// spaces and + - ( ) . characters, with at least one digit; "" for none.
func checkPhone(phone string) (string, error) {
	phone = strings.TrimSpace(phone)
	if phone == "" {
		return "", nil
	}
	digits := 0
	for _, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune(" +-().", r):
		default:
			return "", invalid("phone", "phone may hold only digits, spaces and + - ( ) .")
		}
	}
	if digits == 0 || len(phone) > 32 {
		return "", invalid("phone", "phone must hold 1 to 32 characters, digits among them")
	}
	return phone, nil
}

const invitationColumns = `id, org_id, role, name, email, phone, invited_by, expires_at, created_at, revoked_at, accepted_at, accepted_by`

func scanInvitation(r pgx.Row, i *Invitation) error {
	return r.Scan(&i.ID, &i.OrgID, &i.Role, &i.Name, &i.Email, &i.Phone, &i.InvitedBy, &i.ExpiresAt, &i.CreatedAt,
		&i.RevokedAt, &i.AcceptedAt, &i.AcceptedBy)
}

// Invitations lists an organization's invitations (of every status) in id
// order, one page at a time, for whoever may act for it. It returns
// ErrForbidden, ErrUnknownOrg, and ledger.ErrInvalidRequest for a bad
// limit.
func (s *Store) Invitations(ctx context.Context, p Principal, orgID uuid.UUID, pg Page) ([]Invitation, uuid.UUID, error) {
	if err := s.mayManageOrgAt(ctx, p, orgID, ""); err != nil {
		return nil, uuid.Nil, err
	}
	limit, err := pg.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT `+invitationColumns+` FROM invitations WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`, orgID, pg.After, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invitation, error) {
		var i Invitation
		err := scanInvitation(r, &i)
		return i, err
	})
	if err != nil {
		return nil, uuid.Nil, err
	}
	if out == nil {
		out = []Invitation{}
	}
	var next uuid.UUID
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// RevokeInvitation withdraws an invitation of an organization, for whoever
// may act for it: it no longer works. Revoking a revoked (or expired) one
// changes nothing and is no error. It returns ErrForbidden, ErrUnknownOrg,
// ErrUnknownInvitation when the organization has no such invitation, and
// ErrInvitationUsed when it was accepted already.
func (s *Store) RevokeInvitation(ctx context.Context, p Principal, orgID, id uuid.UUID) (Invitation, error) {
	if err := s.mayManageOrgAt(ctx, p, orgID, ""); err != nil {
		return Invitation{}, err
	}
	now := s.clock()
	var inv Invitation
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		err := scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE id = $1 AND org_id = $2 FOR UPDATE`, id, orgID), &inv)
		if errors.Is(err, pgx.ErrNoRows) {
			return newError(ledger.ENOTFOUND, ReasonUnknownInvitation, "unknown invitation %s", id)
		}
		if err != nil {
			return err
		}
		if inv.AcceptedAt != nil {
			return invitationUsed(inv)
		}
		if inv.RevokedAt == nil {
			inv.RevokedAt = &now
			_, err = tx.Exec(ctx, `UPDATE invitations SET revoked_at = $2 WHERE id = $1`, id, now)
			record(tx, p, now, auditEvent{kind: "invitation.revoked", subject: id, org: inv.OrgID})
		}
		return err
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

// Acceptance is a request to accept an invitation.
type Acceptance struct {
	// Secret is the link's secret, or Code the code read over the phone:
	// exactly one.
	Secret, Code string
	// Member is the principal of a person already signed in, who joins as
	// themselves; nil for a new person, who is created.
	Member *Principal
	// Name is the name others will see (required for a new person, not
	// given for a member already signed in); Email optional, the
	// invitation's when not given.
	Name, Email string
	// Address is the client's address, for the limit on wrong codes.
	Address string
}

// Accepted is what accepting an invitation made.
type Accepted struct {
	Invitation Invitation
	Member     Member
	Membership Membership // Account set when a time-bank account was opened
	// Session and SessionSecret are the session opened, unless the person
	// accepted within a session already (Session.ID is then uuid.Nil).
	Session       Session
	SessionSecret string
}

// AcceptInvitation accepts an invitation, in one transaction that first
// locks it (so that of two accepts one wins, and the other gets
// ErrInvitationUsed): it creates the member (or takes the signed-in one),
// gives them the invitation's role in its organization, opens their
// time-bank account by the organization's rules (as AdmitNewMember does),
// marks the invitation accepted, and opens a session. A refused acceptance
// changes nothing. It returns, in the order checked:
//   - ledger.ErrInvalidRequest (Field set) for a missing or doubled
//     secret/code, or a bad name or email;
//   - ErrTooManyAttempts in a *RetryLater, for a code, when the address
//     had too many wrong tries within FailureWindow;
//   - ErrUnknownInvitation for a secret or code that matches none (a wrong
//     code is counted against the address);
//   - ErrInvitationRevoked, ErrInvitationUsed, ErrInvitationExpired;
//   - ErrAlreadyAMember when the signed-in member belongs to the
//     organization already.
func (s *Store) AcceptInvitation(ctx context.Context, in Acceptance) (Accepted, error) {
	byCode := in.Code != ""
	switch {
	case byCode == (in.Secret != ""):
		return Accepted{}, invalid("code", "give the invitation's code, or the secret of its link: one of them")
	case in.Member != nil && strings.TrimSpace(in.Name) != "":
		return Accepted{}, invalid("name", "you are signed in already and join as yourself: leave name out")
	}
	now := s.clock()
	address := clip(in.Address, 64)
	var person Member
	if in.Member == nil {
		var err error
		if person, err = checkNewMember(NewMember{Name: in.Name, Email: in.Email}); err != nil {
			return Accepted{}, err
		}
		person.CreatedAt = now
	}
	column, hash := "link_hash", hashSecret(in.Secret)
	if byCode {
		column, hash = "code_hash", hashCode(in.Code)
		wait, err := s.signinLimited(ctx, uuid.Nil, address, "invitation", now)
		if err != nil {
			return Accepted{}, err
		}
		if wait > 0 {
			return Accepted{}, &RetryLater{Err: tooManyAttempts(), After: wait}
		}
	}
	var out Accepted
	var refusal error
	err := s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		out, refusal = Accepted{}, nil
		var inv Invitation
		// The column is one of two constants above, never input.
		err := scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE `+column+` = $1 FOR UPDATE`, hash), &inv)
		if errors.Is(err, pgx.ErrNoRows) {
			refusal = newError(ledger.ENOTFOUND, ReasonUnknownInvitation, "no invitation has this code or link: check it, or ask for a new invitation")
			if byCode {
				return recordFailure(ctx, tx, uuid.Nil, address, "invitation", now)
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch inv.Status(now) {
		case InvitationRevoked:
			refusal = newError(ledger.EREFUSED, ReasonInvitationRevoked, "this invitation was withdrawn by a coordinator: ask them for a new one")
			return nil
		case InvitationAccepted:
			refusal = invitationUsed(inv)
			return nil
		case InvitationExpired:
			refusal = newError(ledger.EREFUSED, ReasonInvitationExpired, "this invitation expired on %s: ask a coordinator for a new one", inv.ExpiresAt.Format(time.RFC3339))
			return nil
		}
		m := person
		if in.Member != nil {
			var role *Role
			err := tx.QueryRow(ctx, `SELECT role FROM memberships WHERE org_id = $1 AND member_id = $2`, inv.OrgID, in.Member.MemberID).Scan(&role)
			if err == nil {
				refusal = newError(ledger.ECONFLICT, ReasonAlreadyAMember, "you belong to this organization already; the invitation is left unused")
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			m.ID = in.Member.MemberID
		} else {
			if m.Email == "" {
				m.Email = inv.Email
			}
			m.ID = newID()
			if err := insertMember(ctx, tx, m); err != nil {
				return err
			}
		}
		// The person who accepts acts, with the invitation as their
		// credential (or their own, when signed in already).
		actor := Principal{MemberID: m.ID, Credential: CredentialInvitation, CredentialID: inv.ID}
		if in.Member != nil {
			actor = *in.Member
		}
		ms, err := addMembership(ctx, tx, lt, actor, inv.OrgID, m.ID, inv.Role, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1`, inv.ID, now, m.ID); err != nil {
			return err
		}
		inv.AcceptedAt, inv.AcceptedBy = &now, &m.ID
		record(tx, actor, now, auditEvent{kind: "invitation.accepted", subject: inv.ID, org: inv.OrgID, member: m.ID,
			details: map[string]any{"role": inv.Role}})
		out = Accepted{Invitation: inv, Member: m, Membership: ms}
		if in.Member == nil || in.Member.Credential != CredentialSession {
			out.Session, out.SessionSecret, err = insertSession(ctx, tx, m.ID, SessionByInvitation, now)
		}
		return err
	})
	s.auth.forget() // a signed-in member's tokens now stand for one more role
	if err != nil {
		return Accepted{}, err
	}
	if refusal != nil {
		return Accepted{}, refusal
	}
	member, err := s.member(ctx, out.Member.ID)
	if err != nil {
		return Accepted{}, err
	}
	out.Member = member
	return out, nil
}

func invitationUsed(inv Invitation) error {
	return newError(ledger.ECONFLICT, ReasonInvitationUsed, "this invitation was accepted on %s; it works once", inv.AcceptedAt.Format(time.RFC3339))
}
