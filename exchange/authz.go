package exchange

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/ledger"
)

// Who may do what. The rules are methods of Principal that take everything
// they decide on, so they can be tested without a database; the Can* methods
// of Store load that and apply them.
//
// The rules rest on one notion: the governors of an account owner are the
// organizations whose coordinators act for it. An organization is governed by
// itself and its ancestors; a member by every organization they belong to
// and the ancestors of those. A coordinator of an organization thus acts for
// the whole subtree under it, as CanManageOrg has it.
//
// Denials never hint at what exists: what a principal may not see is
// ErrNotVisible (ENOTFOUND, like something that does not exist), and only
// what they may see but not act on is ErrForbidden.
//
// Every exported method that reads or changes something takes the acting
// Principal and decides itself, with these exceptions, none reachable by a
// request's principal: those that establish one from a credential
// (Authenticate, AuthenticateSession, SignInWithCode, AcceptInvitation,
// RequestEmailSigninCode: the secret, code or mailbox is the authority);
// the first run (Bootstrap); and the server's own housekeeping and checks
// (ExpireAgreements, RunAgreementExpiry, PurgeReadNotifications,
// RunNotificationPurge, PurgeSigninFailures, PurgeEmailSigninRequests,
// Verify). Setup that needs no member (CreateOrg, CreateMember,
// AddMembership, AdmitNewMember) takes System explicitly.

// governs reports whether p is a coordinator (or admin) of any of orgs.
func (p Principal) governs(orgs []uuid.UUID) bool {
	for _, o := range orgs {
		if p.Roles[o].governs() {
			return true
		}
	}
	return false
}

// governsAny reports whether p is a coordinator or admin anywhere; a
// principal who is not need not have governors loaded.
func (p Principal) governsAny() bool {
	for _, r := range p.Roles {
		if r.governs() {
			return true
		}
	}
	return false
}

func (p Principal) owns(owner string) bool {
	kind, id, ok := ParseOwner(owner)
	return ok && kind == OwnerMember && id == p.MemberID
}

// MayReadAccount decides whether p may see an account of owner, whose
// governors are given (see Store.Governors): the member who owns it, a
// coordinator of any of its governors, and the admin may; for anyone else it
// returns ErrNotVisible.
func (p Principal) MayReadAccount(owner string, governors []uuid.UUID) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if p.Admin || p.owns(owner) {
		return nil
	}
	if _, _, ok := ParseOwner(owner); ok && p.governs(governors) {
		return nil
	}
	return notVisible()
}

// MayMoveFrom decides whether p may move value out of an account of owner,
// whose governors are given: a member only out of their own accounts; a
// coordinator out of the accounts of the organizations they govern (their
// own and those under it), never out of a member's; the admin out of any. It
// returns ErrForbidden when p may see the account (MayReadAccount) but not
// move from it, and ErrNotVisible when p may not even see it.
func (p Principal) MayMoveFrom(owner string, governors []uuid.UUID) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if p.Admin || p.owns(owner) {
		return nil
	}
	if kind, _, ok := ParseOwner(owner); ok && kind == OwnerOrg && p.governs(governors) {
		return nil
	}
	if err := p.MayReadAccount(owner, governors); err != nil {
		return err
	}
	return forbidden()
}

// MayManageOrg decides whether p may act for an organization (admit members,
// change their roles, open accounts for it or its members, set credit
// limits), given the organization and its ancestors: a coordinator of any of
// them, and the admin, may; anyone else gets ErrForbidden (organizations are
// public, so there is nothing to hide).
func (p Principal) MayManageOrg(orgAndAncestors []uuid.UUID) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if p.Admin || p.governs(orgAndAncestors) {
		return nil
	}
	return forbidden()
}

// MayReadMember decides whether p may see a member's private data (email,
// memberships) given the member's governors: the member, a coordinator of
// any governor, and the admin may; for anyone else it returns ErrNotVisible.
func (p Principal) MayReadMember(memberID uuid.UUID, governors []uuid.UUID) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if p.Admin || p.MemberID == memberID || p.governs(governors) {
		return nil
	}
	return notVisible()
}

// Standing is a role above member that a member holds in an organization,
// with the organizations that govern it (it and its ancestors, nearest
// first): what a credential of theirs would let its holder do there.
type Standing struct {
	OrgID     uuid.UUID
	Role      Role
	Governors []uuid.UUID
}

// MayManageTokens decides whether p may act on the credentials of a member
// (create or revoke their tokens, issue them a sign-in code, list or end
// their sessions), given the member's governors and standings. A token or
// a session acts as its member, so: the member and the admin may; a
// coordinator of any of the member's governors (one of the organizations
// the member belongs to, or one above it) may, unless the member holds a
// role the coordinator does not govern (admin anywhere, or coordinator of
// an organization outside the coordinator's subtree), which would let the
// coordinator act beyond their own reach: that is ErrForbidden, as for
// anyone else who may see the member; anyone who may not see the member
// gets ErrNotVisible.
func (p Principal) MayManageTokens(memberID uuid.UUID, governors []uuid.UUID, standings []Standing) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if p.Admin || p.MemberID == memberID {
		return nil
	}
	if err := p.MayReadMember(memberID, governors); err != nil {
		return err
	}
	for _, st := range standings {
		if st.Role == RoleAdmin {
			return forbiddenBecause("the member is a network admin: only they and another admin may act on their credentials")
		}
		if st.Role.governs() && !p.governs(st.Governors) {
			return forbiddenBecause("the member coordinates an organization you do not: only its coordinators (or those above) and the admin may act on their credentials")
		}
	}
	return nil
}

// governorsOf walks up from the organizations that start it: the owner
// organization itself, or the organizations a member belongs to.
const (
	governorsOfOrg = `
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM orgs WHERE id = $1
  UNION ALL
    SELECT o.id, o.parent_id, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent_id WHERE up.depth < $2
)
SELECT id FROM up ORDER BY depth`
	governorsOfMember = `
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT o.id, o.parent_id, 0 FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.member_id = $1
  UNION ALL
    SELECT o.id, o.parent_id, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent_id WHERE up.depth < $2
)
SELECT DISTINCT id FROM up`
)

// governors returns the organizations whose coordinators act for an account
// owner: for OrgOwner(o), o and its ancestors (nearest first); for
// MemberOwner(m), every organization m belongs to and their ancestors. An
// owner of another form, an unknown organization or a member without
// organizations has none.
func (s *Store) governors(ctx context.Context, owner string) ([]uuid.UUID, error) {
	kind, id, ok := ParseOwner(owner)
	if !ok {
		return nil, nil
	}
	q := governorsOfOrg
	if kind == OwnerMember {
		q = governorsOfMember
	}
	rows, err := s.db.Pool.Query(ctx, q, id, maxDepth)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// governorsFor loads the governors of owner only when p's decision can turn
// on them: the admin, the owner and a principal who coordinates nothing are
// decided without a query.
func (s *Store) governorsFor(ctx context.Context, p Principal, owner string) ([]uuid.UUID, error) {
	if p.Admin || p.owns(owner) || !p.governsAny() {
		return nil, nil
	}
	return s.governors(ctx, owner)
}

// CanMoveFrom reports whether p may move value out of account, as
// Principal.MayMoveFrom decides: nil, ErrForbidden or ErrNotVisible (with
// Account set), ErrUnauthenticated for a zero Principal, or a database error.
func (s *Store) CanMoveFrom(ctx context.Context, p Principal, account ledger.Account) error {
	gov, err := s.governorsFor(ctx, p, account.Owner)
	if err != nil {
		return err
	}
	return withAccount(p.MayMoveFrom(account.Owner, gov), account.ID)
}

// CanReadAccount reports whether p may see account, its balances and its
// history, as Principal.MayReadAccount decides: nil or ErrNotVisible (with
// Account set), ErrUnauthenticated for a zero Principal, or a database error.
func (s *Store) CanReadAccount(ctx context.Context, p Principal, account ledger.Account) error {
	gov, err := s.governorsFor(ctx, p, account.Owner)
	if err != nil {
		return err
	}
	return withAccount(p.MayReadAccount(account.Owner, gov), account.ID)
}

// CanManageOrg reports whether p may act for an organization, as
// Principal.MayManageOrg decides: nil or ErrForbidden; ErrUnknownOrg when the
// organization does not exist (organizations are public, so saying so hides
// nothing); ErrUnauthenticated for a zero Principal; or a database error.
func (s *Store) CanManageOrg(ctx context.Context, p Principal, orgID uuid.UUID) error {
	gov, err := s.governors(ctx, OrgOwner(orgID))
	if err != nil {
		return err
	}
	if len(gov) == 0 {
		return unknownOrg(orgID)
	}
	return p.MayManageOrg(gov)
}

// CanExportOrg reports whether p may export an organization's books (its
// accounts and every entry touching them, with the counterparties'
// accounts): its coordinators, those of an organization above it, and the
// admin may, as for CanManageOrg. It returns nil or ErrForbidden (a plain
// member, or anyone else: organizations are public, so refusing hides
// nothing); ErrUnknownOrg when the organization does not exist;
// ErrUnauthenticated for a zero Principal; or a database error.
func (s *Store) CanExportOrg(ctx context.Context, p Principal, orgID uuid.UUID) error {
	return s.CanManageOrg(ctx, p, orgID)
}

// CanReadMember reports whether p may see a member, as
// Principal.MayReadMember decides: nil or ErrNotVisible (also for a member
// that does not exist), ErrUnauthenticated for a zero Principal, or a
// database error.
func (s *Store) CanReadMember(ctx context.Context, p Principal, memberID uuid.UUID) error {
	gov, err := s.governorsFor(ctx, p, MemberOwner(memberID))
	if err != nil {
		return err
	}
	return p.MayReadMember(memberID, gov)
}

// CanManageTokens reports whether p may act on a member's credentials
// (tokens, sign-in codes, sessions), as Principal.MayManageTokens decides:
// nil, ErrForbidden or ErrNotVisible (also for a member that does not
// exist), ErrUnauthenticated for a zero Principal, or a database error. To
// revoke a token, pass the token's MemberID.
func (s *Store) CanManageTokens(ctx context.Context, p Principal, memberID uuid.UUID) error {
	gov, err := s.governorsFor(ctx, p, MemberOwner(memberID))
	if err != nil {
		return err
	}
	var standings []Standing
	if len(gov) > 0 && !p.Admin && p.MemberID != memberID {
		if standings, err = s.standings(ctx, memberID); err != nil {
			return err
		}
	}
	return p.MayManageTokens(memberID, gov, standings)
}

// standings loads a member's roles above member, with each organization's
// governors.
func (s *Store) standings(ctx context.Context, memberID uuid.UUID) ([]Standing, error) {
	rows, err := s.db.Pool.Query(ctx, `
SELECT org_id, role FROM memberships WHERE member_id = $1 AND role <> 'member' ORDER BY org_id`, memberID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Standing, error) {
		var st Standing
		err := r.Scan(&st.OrgID, &st.Role)
		return st, err
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Governors, err = s.governors(ctx, OrgOwner(out[i].OrgID)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func withAccount(err error, id uuid.UUID) error {
	if e, ok := err.(*ledger.Error); ok && e.Code != EUNAUTHORIZED {
		e.Account = id
	}
	return err
}
