package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// signinStore is what one-time sign-in codes need; *exchange.Store
// implements it.
type signinStore interface {
	// IssueSigninCode issues a code for a member, deciding who may.
	IssueSigninCode(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (exchange.SigninCode, string, error)
	// SignInWithCode checks a member's code and opens a session.
	SignInWithCode(ctx context.Context, memberID uuid.UUID, code, address string) (exchange.Session, string, error)
}

func (a *api) signins() signinStore { return a.auth.(signinStore) }

func (a *api) registerSigninRoutes(rt *router) {
	rt.writeSecret("/v1/members/{id}/signin-codes", a.issueSigninCode)
	rt.public(http.MethodPost, "/v1/signin/code", a.signInWithCode)
}

// signinCodeJSON answers the issue of a code: the code, shown this once.
type signinCodeJSON struct {
	ID        uuid.UUID `json:"id"`
	MemberID  uuid.UUID `json:"member_id"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// issueSigninCode issues a one-time sign-in code for a member (201), for
// the member, a coordinator of their subtree, or the admin; a member the
// caller may not see is 404. The code is shown once (the route is a secret
// one: an Idempotency-Key refuses a repeat rather than replay the code).
func (a *api) issueSigninCode(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundMemberPath)
	if err != nil {
		return err
	}
	c, code, err := a.signins().IssueSigninCode(r.Context(), principal(r), id)
	if err != nil {
		return memberCredentialsError(err, id)
	}
	return writeJSON(w, http.StatusCreated, signinCodeJSON{ID: c.ID, MemberID: c.MemberID, Code: code, ExpiresAt: c.ExpiresAt.UTC()})
}

type signinCodeRequest struct {
	MemberID string `json:"member_id" validate:"required,uuid"`
	Code     string `json:"code" validate:"required,max=32,line"`
}

// signedInJSON answers a sign-in: who, and the session opened (its secret
// is in the cookie only).
type signedInJSON struct {
	MemberID uuid.UUID   `json:"member_id"`
	Session  sessionJSON `json:"session"`
}

// signInWithCode signs a member in with a code a coordinator gave them and
// sets the session cookie (200). A wrong, used, replaced or expired code is
// 401 signin-failed (never saying which); a code with too many wrong tries
// is 429 signin-code-locked, even right, until a new one is issued; too
// many wrong tries from the address or for the member lately are 429
// too-many-attempts with Retry-After. The code never reaches a log.
func (a *api) signInWithCode(w http.ResponseWriter, r *http.Request) error {
	if err := a.checkOrigin(r); err != nil {
		return err
	}
	var req signinCodeRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	ss, secret, err := a.signins().SignInWithCode(r.Context(), uuid.MustParse(req.MemberID), req.Code, a.clientAddress(r))
	if err != nil {
		return err
	}
	a.setSessionCookie(w, r, secret, ss)
	return writeJSON(w, http.StatusOK, signedInJSON{MemberID: ss.MemberID, Session: toSessionJSON(ss)})
}
