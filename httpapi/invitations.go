package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// invitationStore is what the invitation routes need; *exchange.Store
// implements it. Each method decides itself who may (see the exchange's
// methods of the same names).
type invitationStore interface {
	Invite(ctx context.Context, p exchange.Principal, in exchange.NewInvitation) (exchange.Invitation, string, string, error)
	Invitations(ctx context.Context, p exchange.Principal, orgID uuid.UUID, pg exchange.Page) ([]exchange.Invitation, uuid.UUID, error)
	RevokeInvitation(ctx context.Context, p exchange.Principal, orgID, id uuid.UUID) (exchange.Invitation, error)
	AcceptInvitation(ctx context.Context, in exchange.Acceptance) (exchange.Accepted, error)
}

func (a *api) invitations() invitationStore { return a.auth.(invitationStore) }

func (a *api) registerInvitationRoutes(rt *router) {
	rt.writeSecret("/v1/orgs/{id}/invitations", a.invite)
	rt.read(http.MethodGet, "/v1/orgs/{id}/invitations", a.listInvitations)
	rt.remove("/v1/orgs/{id}/invitations/{iid}", a.revokeInvitation)
	rt.public(http.MethodPost, "/v1/invitations/accept", a.acceptInvitation)
}

// invitationJSON is an invitation as its organization's coordinators see
// it, never its link or code.
type invitationJSON struct {
	ID         uuid.UUID  `json:"id"`
	OrgID      uuid.UUID  `json:"org_id"`
	Role       string     `json:"role"`
	Status     string     `json:"status"`
	Name       string     `json:"name"`
	Email      string     `json:"email"`
	Phone      string     `json:"phone"`
	InvitedBy  uuid.UUID  `json:"invited_by"`
	ExpiresAt  time.Time  `json:"expires_at"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	AcceptedAt *time.Time `json:"accepted_at"`
	AcceptedBy *uuid.UUID `json:"accepted_by"`
}

func (a *api) toInvitationJSON(i exchange.Invitation) invitationJSON {
	return invitationJSON{ID: i.ID, OrgID: i.OrgID, Role: string(i.Role), Status: i.Status(a.now()), Name: i.Name,
		Email: i.Email, Phone: i.Phone, InvitedBy: i.InvitedBy, ExpiresAt: i.ExpiresAt.UTC(), CreatedAt: i.CreatedAt.UTC(),
		RevokedAt: utc(i.RevokedAt), AcceptedAt: utc(i.AcceptedAt), AcceptedBy: i.AcceptedBy}
}

// createdInvitationJSON answers an invitation: the invitation and, this one
// time only, its link (a path on this server, /join/<secret>) and its code.
type createdInvitationJSON struct {
	Invitation invitationJSON `json:"invitation"`
	Link       string         `json:"link"`
	Secret     string         `json:"secret"`
	Code       string         `json:"code"`
}

type inviteRequest struct {
	Role      string `json:"role" validate:"required,oneof=member coordinator admin"`
	Name      string `json:"name" validate:"max=200,line"`
	Email     string `json:"email" validate:"max=254,line"`
	Phone     string `json:"phone" validate:"max=32,line"`
	ExpiresAt string `json:"expires_at" validate:"omitempty,rfc3339"`
}

// invite invites a person into an organization (201), for whoever acts for
// it; the admin role only the admin may give (403). The link and code are
// shown once: the route is a secret one.
func (a *api) invite(w http.ResponseWriter, r *http.Request) error {
	orgID, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	p := principal(r)
	var req inviteRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in := exchange.NewInvitation{OrgID: orgID, Role: exchange.Role(req.Role), Name: req.Name, Email: req.Email, Phone: req.Phone}
	if req.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, req.ExpiresAt) // validated
		in.ExpiresAt = &t
	}
	inv, secret, code, err := a.invitations().Invite(r.Context(), p, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/orgs/"+orgID.String()+"/invitations/"+inv.ID.String())
	return writeJSON(w, http.StatusCreated, createdInvitationJSON{Invitation: a.toInvitationJSON(inv),
		Link: exchange.InvitationLinkPath + secret, Secret: secret, Code: code})
}

// listInvitations lists an organization's invitations of every status, in
// id order, for whoever acts for it.
func (a *api) listInvitations(w http.ResponseWriter, r *http.Request) error {
	orgID, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	p := principal(r)
	page, err := idPage(r, "invitations")
	if err != nil {
		return err
	}
	invs, next, err := a.invitations().Invitations(r.Context(), p, orgID, page)
	if err != nil {
		return err
	}
	items := make([]invitationJSON, len(invs))
	for i, inv := range invs {
		items[i] = a.toInvitationJSON(inv)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("invitations", next)))
}

// revokeInvitation withdraws an invitation (204); an accepted one is 409
// invitation-used.
func (a *api) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	orgID, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	p := principal(r)
	id, err := parseID(r, "iid", func(s string) error { return &apiError{kind: kindNotFound, detail: "unknown invitation " + s} })
	if err != nil {
		return err
	}
	if _, err := a.invitations().RevokeInvitation(r.Context(), p, orgID, id); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type acceptInvitationRequest struct {
	Secret string `json:"secret" validate:"max=64,line"`
	Code   string `json:"code" validate:"max=32,line"`
	Name   string `json:"name" validate:"max=200,line"`
	Email  string `json:"email" validate:"max=254,line"`
}

// acceptedJSON answers an acceptance: the member (with all their
// memberships), the organization and role joined, the time-bank account
// opened, and the session opened (its secret is in the cookie only; null
// when the person accepted within a session already).
type acceptedJSON struct {
	Member    memberJSON   `json:"member"`
	OrgID     uuid.UUID    `json:"org_id"`
	Role      string       `json:"role"`
	AccountID *uuid.UUID   `json:"account_id"`
	Session   *sessionJSON `json:"session"`
}

// acceptInvitation accepts an invitation by the secret of its link or by
// its code (201), with no credential: a new person is created with the
// name they chose. With a credential (a session cookie or a token), the
// member joins the organization as themselves. Either way a session
// cookie is set (unless the request came with a session already): a
// browser is signed in, and an API client may keep the cookie, or use it
// once to make itself a token (POST /v1/tokens). An expired or revoked
// invitation is 410, a used one 409, an unknown link or code 404; each
// changes nothing.
func (a *api) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	if err := a.checkOrigin(r); err != nil {
		return err
	}
	in := exchange.Acceptance{Address: a.clientAddress(r)}
	if r.Header.Get("Authorization") != "" || a.sessionCookieValue(r) != "" {
		p, err := a.authenticate(r)
		if err != nil {
			return err
		}
		infoFrom(r.Context()).principal = &p
		in.Member = &p
	}
	var req acceptInvitationRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in.Secret, in.Code, in.Name, in.Email = req.Secret, req.Code, req.Name, req.Email
	acc, err := a.invitations().AcceptInvitation(r.Context(), in)
	if err != nil {
		return err
	}
	out := acceptedJSON{Member: toMemberJSON(acc.Member), OrgID: acc.Invitation.OrgID, Role: string(acc.Invitation.Role)}
	if acc.Membership.Account != uuid.Nil {
		id := acc.Membership.Account
		out.AccountID = &id
	}
	if acc.SessionSecret != "" {
		a.setSessionCookie(w, r, acc.SessionSecret, acc.Session)
		s := toSessionJSON(acc.Session)
		out.Session = &s
	}
	w.Header().Set("Location", "/v1/members/"+acc.Member.ID.String())
	return writeJSON(w, http.StatusCreated, out)
}
