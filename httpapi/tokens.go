package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// tokenService makes and revokes API tokens, deciding itself who may;
// *exchange.Store implements it (see its methods of the same names for the
// errors).
type tokenService interface {
	CreateToken(ctx context.Context, p exchange.Principal, memberID uuid.UUID, name string, expiresAt *time.Time) (exchange.Token, string, error)
	RevokeToken(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Token, error)
}

func (a *api) registerTokenRoutes(rt *router) {
	rt.writeSecret("/v1/tokens", a.createToken)
	rt.remove("/v1/tokens/{id}", a.revokeToken)
}

// tokenJSON is an API token as the API shows it: never its secret, which
// is shown once, when it is created. expires_at is null for a token that
// does not expire.
type tokenJSON struct {
	ID        uuid.UUID  `json:"id"`
	MemberID  uuid.UUID  `json:"member_id"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
}

// createdTokenJSON answers the creation of a token: the token and, this one
// time only, its secret.
type createdTokenJSON struct {
	Token  tokenJSON `json:"token"`
	Secret string    `json:"secret"`
}

type createTokenRequest struct {
	MemberID  string `json:"member_id" validate:"omitempty,uuid"`
	Name      string `json:"name" validate:"required,max=200,line"`
	ExpiresAt string `json:"expires_at" validate:"omitempty,rfc3339"`
}

// createToken makes an API token for member_id (the caller when absent)
// and shows its secret, once. A token acts as its member, so the member, a
// coordinator of the member's subtree and the network admin may make one
// (exchange.Principal.MayManageTokens): a coordinator gets 403 for a member
// who holds a role the coordinator does not govern, anyone else 404.
//
// The route is a secret one (see serveIdempotent): with an Idempotency-Key
// a repeat is refused with 409 rather than replayed, so that the secret is
// never stored. A crash before the response leaves a token whose secret
// nobody has; the member can revoke it.
func (a *api) createToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req createTokenRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	member := p.MemberID
	if req.MemberID != "" {
		member = uuid.MustParse(req.MemberID)
	}
	var expires *time.Time
	if req.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, req.ExpiresAt) // validated
		expires = &t
	}
	t, secret, err := a.tokens.CreateToken(ctx, p, member, req.Name, expires)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/tokens/"+t.ID.String())
	return writeJSON(w, http.StatusCreated, createdTokenJSON{Token: toTokenJSON(t), Secret: secret})
}

func toTokenJSON(t exchange.Token) tokenJSON {
	return tokenJSON{ID: t.ID, MemberID: t.MemberID, Name: t.Name, ExpiresAt: utc(t.ExpiresAt), CreatedAt: t.CreatedAt.UTC()}
}

// revokeToken revokes a token for good (204): its next request gets 401.
// Revoking a revoked token is no error. The member may revoke their tokens
// (the one they call with included), a coordinator those of the members of
// their subtree (403 for one holding a role the coordinator does not
// govern), the admin anyone's; anyone else gets 404, as for a token that
// does not exist.
func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundToken)
	if err != nil {
		return err
	}
	if _, err := a.tokens.RevokeToken(ctx, principal(r), id); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
