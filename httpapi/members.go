package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// memberService admits members and reads them, deciding itself who may;
// *exchange.Store implements it (see its methods of the same names for the
// errors).
type memberService interface {
	Admit(ctx context.Context, p exchange.Principal, orgID uuid.UUID, in exchange.Admission) (exchange.Member, uuid.UUID, bool, error)
	Member(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Member, error)
	OrgMembers(ctx context.Context, p exchange.Principal, orgID uuid.UUID, page exchange.Page) ([]exchange.OrgMember, uuid.UUID, error)
}

func (a *api) registerMemberRoutes(rt *router) {
	rt.write("/v1/orgs/{id}/members", a.addOrgMember)
	rt.read(http.MethodGet, "/v1/orgs/{id}/members", a.listOrgMembers)
	rt.read(http.MethodGet, "/v1/members/{id}", a.getMember)
	rt.read(http.MethodGet, "/v1/me", a.getMe)
}

// membershipJSON is a member's role in one organization.
type membershipJSON struct {
	OrgID    uuid.UUID `json:"org_id"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// memberJSON is a member as the API shows them to those who may read their
// private data: the member, coordinators of their organizations, the admin.
// email is "" when not given.
type memberJSON struct {
	ID          uuid.UUID        `json:"id"`
	Name        string           `json:"name"`
	Email       string           `json:"email"`
	CreatedAt   time.Time        `json:"created_at"`
	Memberships []membershipJSON `json:"memberships"`
}

func toMemberJSON(m exchange.Member) memberJSON {
	ms := make([]membershipJSON, len(m.Memberships))
	for i, x := range m.Memberships {
		ms[i] = membershipJSON{OrgID: x.OrgID, Role: string(x.Role), JoinedAt: x.CreatedAt.UTC()}
	}
	return memberJSON{ID: m.ID, Name: m.Name, Email: m.Email, CreatedAt: m.CreatedAt.UTC(), Memberships: ms}
}

// admittedJSON answers an admission: the member, and the account opened for
// them when the organization has time-bank rules and the member is new to it.
type admittedJSON struct {
	memberJSON
	AccountID *uuid.UUID `json:"account_id,omitempty"`
}

func toAdmittedJSON(m exchange.Member, account uuid.UUID) admittedJSON {
	out := admittedJSON{memberJSON: toMemberJSON(m)}
	if account != uuid.Nil {
		out.AccountID = &account
	}
	return out
}

// meJSON is the caller's own member record, with whether they are a network
// admin and the id of the token they called with (to revoke it on sign-out;
// the nil UUID for a session), and the credential they called with.
type meJSON struct {
	memberJSON
	Admin      bool           `json:"admin"`
	TokenID    uuid.UUID      `json:"token_id"`
	Credential credentialJSON `json:"credential"`
	// Organizations and Accounts: see me.go.
	Organizations []myOrgJSON     `json:"organizations"`
	Accounts      []myAccountJSON `json:"accounts"`
}

// credentialJSON names the credential a request authenticated with.
type credentialJSON struct {
	Kind string    `json:"kind"` // "token" or "session"
	ID   uuid.UUID `json:"id"`
}

// orgMemberJSON is one line of an organization's roster.
type orgMemberJSON struct {
	MemberID uuid.UUID `json:"member_id"`
	Name     string    `json:"name"`
	Email    string    `json:"email"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// addMemberRequest admits an existing member (member_id) or a new one
// (name, and email if known).
type addMemberRequest struct {
	MemberID string `json:"member_id" validate:"omitempty,uuid"`
	Name     string `json:"name" validate:"max=200,line"`
	Email    string `json:"email" validate:"max=254,line"`
	Role     string `json:"role" validate:"required,oneof=member coordinator admin"`
}

// addOrgMember gives a member a role in an organization, for whoever acts
// for it: a new member (name, email) is created into it (201); an existing
// one (member_id) is admitted (201) or, when already there, given the role
// (200). Either way the answer is the member with all their memberships.
//
// Rules beyond acting for the organization:
//   - an existing member must be one the caller may already see (one of an
//     organization they coordinate, or anyone for the admin); any other id
//     is 404, as for a member that does not exist. Admitting someone makes
//     the caller one of their coordinators, who reads their private data and
//     accounts, so a coordinator cannot reach past their own organizations by
//     admitting a stranger;
//   - the admin role, and any change to an admin's role, is for the admin
//     alone (403), and only on the network (422).
//
// Admission into an organization with time-bank rules opens the member's
// account there with the rules' bounds; account_id names it.
//
// With an Idempotency-Key a new member's id is derived from the key, so
// that a retry after a crash finds the member made the first time.
func (a *api) addOrgMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	orgID, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req addMemberRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	role := exchange.Role(req.Role)
	switch {
	case req.MemberID != "" && (req.Name != "" || req.Email != ""):
		return invalidField("member_id", "give member_id to admit an existing member, or name (and email) to create a new one, not both")
	case req.MemberID == "" && strings.TrimSpace(req.Name) == "":
		return invalidField("name", "name is required to create a new member; or give member_id to admit an existing one")
	}
	in := exchange.Admission{Role: role}
	if req.MemberID != "" {
		in.MemberID = uuid.MustParse(req.MemberID)
	} else {
		in.New = exchange.NewMember{ID: keyedID(r, "member"), Name: req.Name, Email: req.Email}
	}
	m, account, created, err := a.members.Admit(ctx, p, orgID, in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/members/"+m.ID.String())
	return writeJSON(w, status, toAdmittedJSON(m, account))
}

// listOrgMembers lists an organization's own members (not those of the
// organizations under it) in member id order, for whoever acts for it.
func (a *api) listOrgMembers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	orgID, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	page, err := idPage(r, "members")
	if err != nil {
		return err
	}
	members, next, err := a.members.OrgMembers(ctx, principal(r), orgID, page)
	if err != nil {
		return err
	}
	items := make([]orgMemberJSON, len(members))
	for i, m := range members {
		items[i] = orgMemberJSON{MemberID: m.MemberID, Name: m.Name, Email: m.Email, Role: string(m.Role), JoinedAt: m.JoinedAt.UTC()}
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("members", next)))
}

// getMember shows a member and their memberships to those who may read
// them: the member, coordinators of their organizations (and of those
// above), the admin. Anyone else gets 404, as for a member that does not
// exist.
func (a *api) getMember(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundMemberPath)
	if err != nil {
		return err
	}
	m, err := a.members.Member(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toMemberJSON(m))
}

// getMe shows the caller their own member record, their organizations
// with their role in each, and their accounts with their balances.
func (a *api) getMe(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	v, err := a.my().Me(r.Context(), p)
	if err != nil {
		return err
	}
	orgs, accts := toMyJSON(v)
	return writeJSON(w, http.StatusOK, meJSON{memberJSON: toMemberJSON(v.Member), Admin: p.Admin, TokenID: p.TokenID,
		Credential: credentialJSON{Kind: string(p.Credential), ID: p.CredentialID}, Organizations: orgs, Accounts: accts})
}
