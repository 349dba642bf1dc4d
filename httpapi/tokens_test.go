package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestCreateTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	soon := w.clock.Now().Add(time.Hour)
	r := w.call("POST", "/v1/tokens", w.ana.token, map[string]any{"name": "phone", "expires_at": soon.In(time.FixedZone("", -6*3600)).Format(time.RFC3339)})
	created := w.must(r, 201)
	tok := created["token"].(map[string]any)
	secret := created["secret"].(string)
	if tok["member_id"] != w.ana.id.String() || tok["name"] != "phone" || tok["expires_at"] != "2026-03-01T10:00:00Z" ||
		tok["created_at"] != "2026-03-01T09:00:00Z" || !strings.HasPrefix(secret, "mut_") {
		t.Errorf("created %v", created)
	}
	if loc := r.header.Get("Location"); loc != "/v1/tokens/"+tok["id"].(string) {
		t.Errorf("Location %q", loc)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q: a secret must not be cached", cc)
	}
	// The token acts as Ana until it expires.
	if me := w.must(w.call("GET", "/v1/me", secret, nil), 200); me["id"] != w.ana.id.String() || me["token_id"] != tok["id"] {
		t.Errorf("me with the new token %v", me)
	}
	w.must(w.call("GET", "/v1/accounts/"+w.anaHours, secret, nil), 200)

	// The admin makes one for Ana; it never expires.
	forAna := w.must(w.call("POST", "/v1/tokens", w.admin.token, map[string]any{"member_id": w.ana.id.String(), "name": "set up by the admin"}), 201)
	if forAna["token"].(map[string]any)["expires_at"] != nil {
		t.Errorf("expires_at %v, want null", forAna["token"])
	}
	if me := w.must(w.call("GET", "/v1/me", forAna["secret"].(string), nil), 200); me["id"] != w.ana.id.String() {
		t.Errorf("the admin's token for ana acts as %v", me["id"])
	}

	w.clock.Advance(time.Hour)
	w.problem(w.call("GET", "/v1/me", secret, nil), 401, "unauthenticated")
	w.must(w.call("GET", "/v1/me", forAna["secret"].(string), nil), 200)

	ana := w.ana.id.String()
	ghost := uuid.NewString()
	for _, tc := range []struct {
		name   string
		token  string
		body   any
		status int
		typ    string
		field  string
	}{
		{"for the admin, by a coordinator", w.coordTB.token, map[string]any{"member_id": w.admin.id.String(), "name": "t"}, 404, "not-found", "member_id"},
		{"for a member, by another member", w.ben.token, map[string]any{"member_id": ana, "name": "t"}, 404, "not-found", "member_id"},
		{"for a ghost, by the admin", w.admin.token, map[string]any{"member_id": ghost, "name": "t"}, 404, "not-found", "member_id"},
		{"for a ghost, by a member", w.ben.token, map[string]any{"member_id": ghost, "name": "t"}, 404, "not-found", "member_id"},
		{"expired already", w.ana.token, map[string]any{"name": "t", "expires_at": "2026-03-01T09:00:00Z"}, 422, "invalid-request", "expires_at"},
		{"a bad expiry", w.ana.token, map[string]any{"name": "t", "expires_at": "tomorrow"}, 422, "validation-failed", "expires_at"},
		{"no name", w.ana.token, map[string]any{}, 422, "validation-failed", "name"},
		{"a blank name", w.ana.token, map[string]any{"name": "  "}, 422, "invalid-request", "name"},
		{"a long name", w.ana.token, map[string]any{"name": strings.Repeat("n", 201)}, 422, "validation-failed", "name"},
		{"a member_id not a UUID", w.ana.token, map[string]any{"member_id": "me", "name": "t"}, 422, "validation-failed", "member_id"},
		{"an unknown field", w.ana.token, map[string]any{"name": "t", "scope": "all"}, 400, "malformed-request", "scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.call("POST", "/v1/tokens", tc.token, tc.body)
			p := w.problem(r, tc.status, tc.typ)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("problem does not name %q: %+v", tc.field, p.Errors)
			}
			if strings.Contains(string(r.body), "mut_") {
				t.Errorf("a refusal holds a secret: %s", r.body)
			}
		})
	}
	// A member and a ghost look alike to someone who may not see them.
	p1 := w.problem(w.call("POST", "/v1/tokens", w.ben.token, map[string]any{"member_id": ana, "name": "t"}), 404, "not-found")
	p2 := w.problem(w.call("POST", "/v1/tokens", w.ben.token, map[string]any{"member_id": ghost, "name": "t"}), 404, "not-found")
	if strings.ReplaceAll(p1.Detail, ana, "X") != strings.ReplaceAll(p2.Detail, ghost, "X") {
		t.Errorf("details differ: %q, %q", p1.Detail, p2.Detail)
	}
	var n int
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM tokens WHERE member_id = $1`, w.ana.id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 { // the world's, the phone's and the admin's
		t.Errorf("ana has %d tokens, want 3: a refusal made one", n)
	}
}

func TestRevokeTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mint := func(token string) (id, secret string) {
		t.Helper()
		c := w.must(w.call("POST", "/v1/tokens", token, map[string]any{"name": "t"}), 201)
		return c["token"].(map[string]any)["id"].(string), c["secret"].(string)
	}
	// Ana revokes a token of hers: its next request is refused, her
	// others still work, and revoking again is no error.
	id, secret := mint(w.ana.token)
	w.must(w.call("GET", "/v1/me", secret, nil), 200)
	r := w.call("DELETE", "/v1/tokens/"+id, w.ana.token, nil)
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("revoke: %s", r)
	}
	w.problem(w.call("GET", "/v1/me", secret, nil), 401, "unauthenticated")
	w.problem(w.call("GET", "/v1/accounts/"+w.anaHours, secret, nil), 401, "unauthenticated")
	w.must(w.call("GET", "/v1/me", w.ana.token, nil), 200)
	if r := w.call("DELETE", "/v1/tokens/"+id, w.ana.token, nil); r.status != 204 {
		t.Errorf("revoking twice: %s", r)
	}

	// A token revokes itself (signing out).
	id, secret = mint(w.ana.token)
	if r := w.call("DELETE", "/v1/tokens/"+id, secret, nil); r.status != 204 {
		t.Fatalf("self-revoke: %s", r)
	}
	w.problem(w.call("GET", "/v1/me", secret, nil), 401, "unauthenticated")

	// Who may revoke Ana's token: her coordinator may (a coordinator
	// helps the members of their subtree in); another member may not even
	// see it (404, exactly as a token that does not exist); the admin may.
	id, secret = mint(w.ana.token)
	if r := w.call("DELETE", "/v1/tokens/"+id, w.coordTB.token, nil); r.status != 204 {
		t.Fatalf("the coordinator revoking: %s", r)
	}
	w.problem(w.call("GET", "/v1/me", secret, nil), 401, "unauthenticated")
	id, secret = mint(w.ana.token)
	ghost := uuid.NewString()
	p1 := w.problem(w.call("DELETE", "/v1/tokens/"+id, w.ben.token, nil), 404, "not-found")
	p2 := w.problem(w.call("DELETE", "/v1/tokens/"+ghost, w.ben.token, nil), 404, "not-found")
	if p1.Detail != "unknown token "+id || p2.Detail != "unknown token "+ghost {
		t.Errorf("details %q, %q", p1.Detail, p2.Detail)
	}
	w.problem(w.call("DELETE", "/v1/tokens/"+id, w.coordCoop.token, nil), 404, "not-found")
	w.must(w.call("GET", "/v1/me", secret, nil), 200) // none of those revoked it
	if r := w.call("DELETE", "/v1/tokens/"+id, w.admin.token, nil); r.status != 204 {
		t.Fatalf("admin revoke: %s", r)
	}
	w.problem(w.call("GET", "/v1/me", secret, nil), 401, "unauthenticated")
	w.problem(w.call("DELETE", "/v1/tokens/"+ghost, w.admin.token, nil), 404, "not-found")
	w.problem(w.call("DELETE", "/v1/tokens/not-a-uuid", w.admin.token, nil), 404, "not-found")
}

// TestTokenSecretIsNeverStored: a token created with an Idempotency-Key
// reserves the key, and a repeat is refused rather than replayed, so that
// the secret is in the one response and in no table.
func TestTokenSecretIsNeverStored(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	body := map[string]any{"name": "laptop"}
	first := w.call("POST", "/v1/tokens", w.ana.token, body, "Idempotency-Key", "tok-1")
	created := w.must(first, 201)
	secret := created["secret"].(string)
	id := created["token"].(map[string]any)["id"].(string)

	again := w.call("POST", "/v1/tokens", w.ana.token, body, "Idempotency-Key", "tok-1")
	p := w.problem(again, 409, "secret-not-replayed")
	if strings.Contains(string(again.body), "mut_") || again.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the repeat replayed something: %s", again.body)
	}
	if !strings.Contains(p.Detail, "/v1/tokens/"+id) {
		t.Errorf("the repeat does not name the token made: %q", p.Detail)
	}
	w.problem(w.call("POST", "/v1/tokens", w.ana.token, map[string]any{"name": "other"}, "Idempotency-Key", "tok-1"), 422, "idempotency-key-reused")
	var n int
	if err := w.db.Pool.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE name = 'laptop'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d tokens made by a repeated request, want 1", n)
	}
	w.must(w.call("GET", "/v1/me", secret, nil), 200)

	// A refusal holds no secret: it is stored and replayed as usual.
	bad := w.call("POST", "/v1/tokens", w.ana.token, map[string]any{"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, "Idempotency-Key", "tok-2")
	w.problem(bad, 422, "invalid-request")
	badAgain := w.call("POST", "/v1/tokens", w.ana.token, map[string]any{"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, "Idempotency-Key", "tok-2")
	if badAgain.status != 422 || badAgain.header.Get("Idempotent-Replayed") != "true" || string(badAgain.body) != string(bad.body) {
		t.Errorf("replayed refusal: %d %q %s", badAgain.status, badAgain.header.Get("Idempotent-Replayed"), badAgain.body)
	}

	// The idempotency table holds the success's status and Location, and
	// nothing of the secret in any encoding.
	var status int
	var location string
	var stored []byte
	err := w.db.Pool.QueryRow(ctx, `SELECT status, location, body FROM idempotency_keys WHERE member_id = $1 AND key = 'tok-1' AND state = 'done'`, w.ana.id).
		Scan(&status, &location, &stored)
	if err != nil {
		t.Fatal(err)
	}
	if status != 201 || location != "/v1/tokens/"+id || len(stored) != 0 {
		t.Errorf("stored status %d, location %q, body %q", status, location, stored)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, "mut_"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := w.db.Pool.Query(ctx, `
SELECT concat_ws('|', member_id::text, key, encode(request_hash, 'hex'), state, status::text, content_type, location,
                 encode(body, 'escape'), encode(body, 'hex'), encode(body, 'base64'))
FROM idempotency_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{secret[len("mut_"):], base64.StdEncoding.EncodeToString(raw), hex.EncodeToString(raw)} {
			if strings.Contains(row, form) {
				t.Errorf("the idempotency table holds the secret: %s", row)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(w.logs.String(), secret[len("mut_"):]) {
		t.Error("the log holds the secret")
	}
}
