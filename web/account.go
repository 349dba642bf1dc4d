package web

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// My account: my sessions (with "sign out this one" and "sign out
// everywhere"), my organizations (with "leave"), and the erasure of my
// data behind a page that says what it does. The exchange decides each
// step; a refusal (a balance not settled, agreements in progress, the
// last admin) is shown in the person's language and changes nothing.

// accountService is what the account pages need of the exchange (with
// Member, Org, EndSession and EndSessions, which other pages declare).
type accountService interface {
	// Sessions lists a member's live sessions, newest first.
	Sessions(ctx context.Context, p exchange.Principal, memberID uuid.UUID) ([]exchange.Session, error)
	// Leave ends a member's membership of an organization.
	Leave(ctx context.Context, p exchange.Principal, orgID, memberID uuid.UUID) (exchange.Departure, error)
	// EraseMember erases a member's personal data, keeping the books.
	EraseMember(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (exchange.Erasure, error)
}

func (s *Server) registerAccountPages() {
	s.member("GET /account", s.account)
	s.member("POST /account/sessions/{id}/end", s.endSession)
	s.member("POST /account/orgs/{id}/leave", s.leaveOrg)
	s.member("GET /account/erase", s.eraseConfirm)
	s.member("POST /account/erase", s.erase)
	s.public("GET /account/erased", s.erased)
}

// sessionRow is one of my sessions as the list shows it: how it was
// opened, when, when last used, and whether it is this browser's.
type sessionRow struct {
	ID                      uuid.UUID
	Method, Created, LastAt string
	Current                 bool
}

// accountOrg is one of my organizations, with my role in it.
type accountOrg struct {
	ID         uuid.UUID
	Name, Role string
}

type accountData struct {
	Sessions []sessionRow
	Orgs     []accountOrg
}

// account is the "My account" page.
func (s *Server) account(w http.ResponseWriter, r *Request) error {
	return s.renderAccount(w, r, http.StatusOK, nil)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *Request, status int, f *Form) error {
	ctx := r.Context()
	p := *r.Principal
	ss, err := s.ex.Sessions(ctx, p, p.MemberID)
	if err != nil {
		return err
	}
	var d accountData
	for _, x := range ss {
		row := sessionRow{ID: x.ID, Method: x.Method, Created: r.Lang.DateTime(x.CreatedAt), LastAt: r.Lang.DateTime(x.LastSeenAt),
			Current: p.Credential == exchange.CredentialSession && p.CredentialID == x.ID}
		if id := "account.method." + x.Method; r.Lang.Has(id) {
			row.Method = r.Lang.T(id)
		}
		d.Sessions = append(d.Sessions, row)
	}
	m, err := s.ex.Member(ctx, p, p.MemberID)
	if err != nil {
		return err
	}
	for _, ms := range m.Memberships {
		o, err := s.ex.Org(ctx, p, ms.OrgID)
		if err != nil {
			return err
		}
		d.Orgs = append(d.Orgs, accountOrg{ID: o.ID, Name: o.Name, Role: r.Lang.T("role." + string(ms.Role))})
	}
	return s.render(w, r, status, "account", "account.title", f, d)
}

// endSession signs one of my sessions out. Ending this browser's own
// session signs it out, as the nav's "sign out" does.
func (s *Server) endSession(w http.ResponseWriter, r *Request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	if _, err := s.ex.EndSession(r.Context(), *r.Principal, id); err != nil {
		return err
	}
	if r.Principal.Credential == exchange.CredentialSession && r.Principal.CredentialID == id {
		s.jar.Clear(w, r.Request)
		return s.redirect(w, r, "/", "flash.signed_out")
	}
	return s.redirect(w, r, "/account", "flash.account_session_ended")
}

// leaveOrg ends my membership of an organization. A refusal is shown at
// the top of the account page, and I stay a member.
func (s *Server) leaveOrg(w http.ResponseWriter, r *Request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	f := NewForm(r.Request)
	_, err = s.ex.Leave(r.Context(), *r.Principal, id, r.Principal.MemberID)
	if err == nil {
		return s.redirect(w, r, "/account", "flash.account_left")
	}
	if !r.refuse(f, renameFields(err, "account_id", "", "member_id", "")) {
		return err
	}
	return s.renderAccount(w, r, http.StatusConflict, f)
}

// eraseConfirm says what erasing my data does and does not do, and asks
// me to confirm.
func (s *Server) eraseConfirm(w http.ResponseWriter, r *Request) error {
	return s.render(w, r, http.StatusOK, "account_erase", "account.erase_title", nil, nil)
}

// erase erases my data. Refused (a balance or an agreement not settled),
// the confirmation page shows why and nothing changes; done, my sessions
// are gone with my data, so this browser is signed out too.
func (s *Server) erase(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	_, err := s.ex.EraseMember(r.Context(), *r.Principal, r.Principal.MemberID)
	if err == nil {
		s.jar.Clear(w, r.Request)
		return s.redirect(w, r, "/account/erased", "")
	}
	if !r.refuse(f, err) {
		return err
	}
	return s.render(w, r, http.StatusConflict, "account_erase", "account.erase_title", f, nil)
}

// erased says the erasure is done (a page anyone may read: it tells
// nothing of anyone).
func (s *Server) erased(w http.ResponseWriter, r *Request) error {
	return s.render(w, r, http.StatusOK, "account_erased", "account.erased_title", nil, nil)
}
