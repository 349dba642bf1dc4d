package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// Passkeys over the JSON API: listed and removed, never registered or
// used here (that is a browser's ceremony, on the pages).

// passkeyStore is what the passkey routes need; *exchange.Store implements
// it.
type passkeyStore interface {
	// Passkeys lists a member's passkeys, for whoever may manage their
	// credentials.
	Passkeys(ctx context.Context, p exchange.Principal, memberID uuid.UUID) ([]exchange.Passkey, error)
	// RemovePasskey removes one.
	RemovePasskey(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Passkey, error)
}

func (a *api) passkeys() passkeyStore { return a.auth.(passkeyStore) }

func (a *api) registerPasskeyRoutes(rt *router) {
	rt.read(http.MethodGet, "/v1/members/{id}/passkeys", a.listPasskeys)
	rt.remove("/v1/passkeys/{id}", a.removePasskey)
}

// passkeyJSON is a passkey as the API shows it: public data only (there
// is no secret on the server).
type passkeyJSON struct {
	ID           uuid.UUID  `json:"id"`
	MemberID     uuid.UUID  `json:"member_id"`
	CredentialID []byte     `json:"credential_id"`
	SignCount    uint32     `json:"sign_count"`
	CreatedAt    time.Time  `json:"created_at"`
	LastUsedAt   *time.Time `json:"last_used_at"`
}

// listPasskeys lists a member's passkeys, oldest first, for the member, a
// coordinator of their subtree, or the admin.
func (a *api) listPasskeys(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundMemberPath)
	if err != nil {
		return err
	}
	ks, err := a.passkeys().Passkeys(r.Context(), principal(r), id)
	if err != nil {
		return memberCredentialsError(err, id)
	}
	items := make([]passkeyJSON, len(ks))
	for i, k := range ks {
		items[i] = passkeyJSON{ID: k.ID, MemberID: k.MemberID, CredentialID: k.CredentialID, SignCount: k.SignCount,
			CreatedAt: k.CreatedAt.UTC(), LastUsedAt: utc(k.LastUsedAt)}
	}
	return writeJSON(w, http.StatusOK, newList(items, ""))
}

// removePasskey removes a passkey (204): it no longer signs in. A passkey
// the caller may not see is 404.
func (a *api) removePasskey(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", func(s string) error { return &apiError{kind: kindNotFound, detail: "unknown passkey " + s} })
	if err != nil {
		return err
	}
	if _, err := a.passkeys().RemovePasskey(r.Context(), principal(r), id); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
