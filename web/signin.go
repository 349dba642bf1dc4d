package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// signinService is what joining, signing in and out need.
type signinService interface {
	// AcceptInvitation accepts an invitation by its link's secret or its
	// code, creating the member (or adding the signed-in one) and opening
	// a session.
	AcceptInvitation(ctx context.Context, in exchange.Acceptance) (exchange.Accepted, error)
	// SignInWithCode checks a member's one-time code and opens a session.
	SignInWithCode(ctx context.Context, memberID uuid.UUID, code, address string) (exchange.Session, string, error)
	// EndSession ends one session; EndSessions every session of a member.
	EndSession(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Session, error)
	EndSessions(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (int, error)
}

func (s *Server) registerSigninPages() {
	s.public("GET /join", s.joinPage)
	s.public("POST /join", s.join)
	s.public("GET "+exchange.InvitationLinkPath+"{secret}", s.joinPage)
	s.public("POST "+exchange.InvitationLinkPath+"{secret}", s.join)
	s.public("GET /signin", s.signinPage)
	s.public("POST /signin/code", s.signinWithCode)
	s.member("POST /signout", s.signOut)
	s.member("POST /signout/everywhere", s.signOutEverywhere)
}

// joinData is the join page's: whether the invitation came as a link
// (then only the name is asked) or is to be typed as a code, and where
// the form posts.
type joinData struct {
	ByLink bool
	Action string
}

func joinData4(r *Request) joinData {
	if secret := r.PathValue("secret"); secret != "" {
		return joinData{ByLink: true, Action: exchange.InvitationLinkPath + url.PathEscape(secret)}
	}
	return joinData{Action: "/join"}
}

// joinPage asks the name others will see (and the code, without a link).
// A member signed in already joins as themselves, without a name.
func (s *Server) joinPage(w http.ResponseWriter, r *Request) error {
	return s.render(w, r, http.StatusOK, "join", "join.title", nil, joinData4(r))
}

// join accepts the invitation: the exchange creates the member (or adds
// the signed-in one), opens their time-bank account and a session; the
// browser gets the session cookie and goes home. A refusal (a bad name;
// an unknown, used, revoked or expired invitation) shows the form again
// with what was typed and the reason, and nothing is written.
func (s *Server) join(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	d := joinData4(r)
	in := exchange.Acceptance{Address: s.jar.ClientAddress(r.Request), Member: r.Principal}
	if d.ByLink {
		in.Secret = r.PathValue("secret")
	} else {
		in.Code = f.Get("code")
		if in.Code == "" {
			f.Refuse("code", r.Lang.T("error.field.code"))
		}
	}
	if r.Principal == nil {
		in.Name = f.Get("name")
	}
	if f.OK() {
		acc, err := s.ex.AcceptInvitation(r.Context(), in)
		if err == nil {
			if acc.SessionSecret != "" {
				s.jar.Set(w, r.Request, acc.SessionSecret, acc.Session.ExpiresAt)
			}
			return s.redirect(w, r, "/home", "flash.joined")
		}
		if !r.refuse(f, err) {
			return err
		}
	}
	return s.render(w, r, http.StatusUnprocessableEntity, "join", "join.title", f, d)
}

// signinData is the sign-in page's: the member the code is for, when the
// coordinator's sign-in link named them, where to go after, and whether
// passkeys are on.
type signinData struct {
	Member   string
	Next     string
	Passkeys bool
}

func (s *Server) signinData(r *Request, member, next string) signinData {
	return signinData{Member: member, Next: next, Passkeys: s.wa != nil}
}

// signinPage offers the ways in: a passkey (with script), and a one-time
// code a coordinator gave.
func (s *Server) signinPage(w http.ResponseWriter, r *Request) error {
	q := r.URL.Query()
	f := NewForm(nil)
	f.Values.Set("member", q.Get("member"))
	return s.render(w, r, http.StatusOK, "signin", "signin.title", f,
		s.signinData(r, q.Get("member"), localPath(q.Get("next"), "/home")))
}

// signinWithCode signs in with a one-time code. Every refusal looks the
// same whatever was wrong (the exchange never says which), except a locked
// code and too many tries, which say what to do.
func (s *Server) signinWithCode(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	d := s.signinData(r, f.Get("member"), localPath(f.Get("next"), "/home"))
	member, err := uuid.Parse(f.Get("member"))
	if err != nil {
		f.Refuse("member", r.Lang.T("error.field.member"))
	}
	code := f.Get("code")
	if code == "" {
		f.Refuse("code", r.Lang.T("error.field.code"))
	}
	if f.OK() {
		ss, secret, err := s.ex.SignInWithCode(r.Context(), member, code, s.jar.ClientAddress(r.Request))
		if err == nil {
			s.jar.Set(w, r.Request, secret, ss.ExpiresAt)
			return s.redirect(w, r, d.Next, "flash.signed_in")
		}
		if !r.refuse(f, err) {
			return err
		}
	}
	// The code is not shown again: it was wrong, or is used up.
	f.Values.Del("code")
	return s.render(w, r, http.StatusUnprocessableEntity, "signin", "signin.title", f, d)
}

// signOut ends this browser's session.
func (s *Server) signOut(w http.ResponseWriter, r *Request) error {
	if r.Principal.Credential == exchange.CredentialSession {
		if _, err := s.ex.EndSession(r.Context(), *r.Principal, r.Principal.CredentialID); err != nil {
			return err
		}
	}
	s.jar.Clear(w, r.Request)
	return s.redirect(w, r, "/", "flash.signed_out")
}

// signOutEverywhere ends every session of the member, this one too.
func (s *Server) signOutEverywhere(w http.ResponseWriter, r *Request) error {
	if _, err := s.ex.EndSessions(r.Context(), *r.Principal, r.Principal.MemberID); err != nil {
		return err
	}
	s.jar.Clear(w, r.Request)
	return s.redirect(w, r, "/", "flash.signed_out_everywhere")
}
