package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// Browser sessions. A person who joins by invitation or signs in with a
// one-time code gets a session cookie; a request that carries it (and no
// Authorization header) acts exactly as with a token of the member. The
// cookie is HttpOnly, SameSite=Lax and Path=/; over TLS (the request came
// over TLS, or Config.BehindTLSProxy says a proxy terminates it) it is also
// Secure and named with the __Host- prefix, which the browser only accepts
// from a secure origin, for the whole host. A state-changing request that
// carries the cookie from another site is refused (403 cross-origin), as
// http.CrossOriginProtection decides from Sec-Fetch-Site and Origin; bearer
// requests are not subject to it, since a browser never adds a bearer token
// by itself.

// sessionStore is what the session routes and cookie authentication need;
// *exchange.Store implements it.
type sessionStore interface {
	// AuthenticateSession returns the principal of a session cookie's
	// value, or an error matching exchange.ErrUnauthenticated.
	AuthenticateSession(ctx context.Context, secret string) (exchange.Principal, error)
	EndSession(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Session, error)
	EndSessions(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (int, error)
	Sessions(ctx context.Context, p exchange.Principal, memberID uuid.UUID) ([]exchange.Session, error)
	Tokens(ctx context.Context, p exchange.Principal, memberID uuid.UUID) ([]exchange.Token, error)
	RevokeToken(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Token, error)
}

func (a *api) sessions() sessionStore { return a.auth.(sessionStore) }

func (a *api) registerSessionRoutes(rt *router) {
	rt.routes = append(rt.routes,
		route{method: http.MethodPost, path: "/v1/signout", handle: a.signOut},
		route{method: http.MethodPost, path: "/v1/me/sessions/revoke-all", handle: a.endMySessions},
		route{method: http.MethodPost, path: "/v1/members/{id}/sessions/revoke-all", handle: a.endMemberSessions},
	)
	rt.read(http.MethodGet, "/v1/members/{id}/sessions", a.listSessions)
	rt.read(http.MethodGet, "/v1/members/{id}/tokens", a.listTokens)
	rt.remove("/v1/sessions/{id}", a.endSession)
}

// The cookie's rules live in internal/cookie, shared with the pages.

func (a *api) sessionCookieValue(r *http.Request) string { return a.jar.Value(r) }

func (a *api) setSessionCookie(w http.ResponseWriter, r *http.Request, secret string, s exchange.Session) {
	a.jar.Set(w, r, secret, s.ExpiresAt)
}

func (a *api) clearSessionCookie(w http.ResponseWriter, r *http.Request) { a.jar.Clear(w, r) }

func (a *api) clientAddress(r *http.Request) string { return a.jar.ClientAddress(r) }

// errCrossOrigin answers a cross-site state-changing request that carries
// the session cookie.
var errCrossOrigin = &apiError{kind: kindCrossOrigin,
	detail: "a request from another site may not use your session: it is refused, and nothing was changed"}

var errBadSession = &apiError{kind: kindUnauthenticated, detail: "the session has ended or expired: sign in again"}

// checkOrigin refuses a cross-origin state-changing request (403).
func (a *api) checkOrigin(r *http.Request) error {
	if err := a.cop.Check(r); err != nil {
		return errCrossOrigin
	}
	return nil
}

// authenticateSession is authenticate for a request that carries the
// session cookie and no Authorization header.
func (a *api) authenticateSession(r *http.Request, secret string) (exchange.Principal, error) {
	if err := a.checkOrigin(r); err != nil {
		return exchange.Principal{}, err
	}
	p, err := a.sessions().AuthenticateSession(r.Context(), secret)
	if errors.Is(err, exchange.ErrUnauthenticated) {
		return exchange.Principal{}, errBadSession
	}
	if err != nil {
		return exchange.Principal{}, fmt.Errorf("authenticating a session: %w", err)
	}
	return p, nil
}

// sessionJSON is a session as the API shows it, never its secret.
type sessionJSON struct {
	ID            uuid.UUID  `json:"id"`
	MemberID      uuid.UUID  `json:"member_id"`
	Method        string     `json:"method"`
	CreatedAt     time.Time  `json:"created_at"`
	LastSeenAt    time.Time  `json:"last_seen_at"`
	IdleExpiresAt time.Time  `json:"idle_expires_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	RevokedAt     *time.Time `json:"revoked_at"`
}

func toSessionJSON(s exchange.Session) sessionJSON {
	return sessionJSON{ID: s.ID, MemberID: s.MemberID, Method: s.Method, CreatedAt: s.CreatedAt.UTC(),
		LastSeenAt: s.LastSeenAt.UTC(), IdleExpiresAt: s.IdleExpiresAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), RevokedAt: utc(s.RevokedAt)}
}

// signOut ends the credential the request came with, at once: the session
// (and the cookie is cleared), or the token. 204.
func (a *api) signOut(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	switch p.Credential {
	case exchange.CredentialSession:
		if _, err := a.sessions().EndSession(r.Context(), p, p.CredentialID); err != nil {
			return err
		}
		a.clearSessionCookie(w, r)
	default:
		if _, err := a.sessions().RevokeToken(r.Context(), p, p.TokenID); err != nil {
			return err
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type endedJSON struct {
	Ended int `json:"ended"`
}

// endMySessions signs the caller out everywhere: every session of theirs
// ends at once (tokens are left; revoke them one by one). The answer says
// how many ended.
func (a *api) endMySessions(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	n, err := a.sessions().EndSessions(r.Context(), p, p.MemberID)
	if err != nil {
		return err
	}
	if p.Credential == exchange.CredentialSession {
		a.clearSessionCookie(w, r)
	}
	return writeJSON(w, http.StatusOK, endedJSON{Ended: n})
}

// memberCredentialsError translates a refusal to act on a member's
// credentials: 404 for a member the caller may not see (as for one that
// does not exist), 403 with the reason otherwise.
func memberCredentialsError(err error, member uuid.UUID) error {
	switch {
	case hidden(err):
		return notFoundMember(member.String(), "")
	case isForbidden(err):
		return err
	}
	return err
}

// endMemberSessions ends every session of a member, for the member, a
// coordinator of their subtree, or the admin.
func (a *api) endMemberSessions(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundMemberPath)
	if err != nil {
		return err
	}
	n, err := a.sessions().EndSessions(r.Context(), principal(r), id)
	if err != nil {
		return memberCredentialsError(err, id)
	}
	return writeJSON(w, http.StatusOK, endedJSON{Ended: n})
}

// listSessions lists a member's open sessions, never their secrets.
func (a *api) listSessions(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundMemberPath)
	if err != nil {
		return err
	}
	ss, err := a.sessions().Sessions(r.Context(), principal(r), id)
	if err != nil {
		return memberCredentialsError(err, id)
	}
	items := make([]sessionJSON, len(ss))
	for i, s := range ss {
		items[i] = toSessionJSON(s)
	}
	return writeJSON(w, http.StatusOK, newList(items, ""))
}

// listTokens lists a member's working tokens, never their secrets.
func (a *api) listTokens(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundMemberPath)
	if err != nil {
		return err
	}
	ts, err := a.sessions().Tokens(r.Context(), principal(r), id)
	if err != nil {
		return memberCredentialsError(err, id)
	}
	items := make([]tokenJSON, len(ts))
	for i, t := range ts {
		items[i] = toTokenJSON(t)
	}
	return writeJSON(w, http.StatusOK, newList(items, ""))
}

// endSession ends one session (204), for whoever may act on its member's
// credentials; a session the caller may not see is 404.
func (a *api) endSession(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", func(s string) error { return notFoundSession(s) })
	if err != nil {
		return err
	}
	p := principal(r)
	if _, err := a.sessions().EndSession(r.Context(), p, id); err != nil {
		return err
	}
	if p.Credential == exchange.CredentialSession && p.CredentialID == id {
		a.clearSessionCookie(w, r)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func notFoundSession(id string) error {
	return &apiError{kind: kindNotFound, detail: "unknown session " + id}
}
