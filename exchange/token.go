package exchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Token is an API token of one member. Its secret is not here: it is shown
// once, by CreateToken, and only its SHA-256 is stored.
type Token struct {
	ID        uuid.UUID
	MemberID  uuid.UUID
	Name      string
	ExpiresAt *time.Time // nil: never expires
	RevokedAt *time.Time // nil: not revoked
	CreatedAt time.Time
}

// SecretPrefix starts every token secret, so that a leaked one is easy to
// recognize (by secret scanners, say).
const SecretPrefix = "mut_"

// secretLen is the length of a secret: the prefix and 32 random bytes in
// unpadded base64url.
var secretLen = len(SecretPrefix) + base64.RawURLEncoding.EncodedLen(32)

// Principal is who a request acts as: the member a token belongs to, with
// the member's roles as they were when the token was presented.
type Principal struct {
	MemberID uuid.UUID
	TokenID  uuid.UUID
	// Admin is set when the member is an admin of the network.
	Admin bool
	// Roles maps each organization the member belongs to to their role there.
	Roles map[uuid.UUID]Role
	// Credential says what the request authenticated with, and CredentialID
	// which one: a token (CredentialID is then TokenID) or a browser
	// session. Both act alike; the audit log records which.
	Credential   CredentialKind
	CredentialID uuid.UUID
	// Agent, when set, is the coordinator (or admin) who acts on MemberID's
	// behalf with their own credential (see Store.ActFor): MemberID, Admin
	// and Roles are then the member's, so that every rule decides as if the
	// member acted and nothing the member may not do becomes possible; the
	// audit log records both people. uuid.Nil when the member acts
	// themself.
	Agent uuid.UUID
	// system marks System's principal: the program itself, for setup.
	system bool
}

// System is the principal of the program itself, for what no member asks
// for: the first run's setup, the demo's fixtures, tests' fixtures. Only the
// methods whose doc says so accept it (CreateOrg, CreateMember,
// AddMembership, AdmitNewMember, OpenMemberAccount, CreateListing,
// SearchListings); every other method refuses it as it refuses a zero
// Principal (ErrUnauthenticated), since it is no member. A request's
// principal comes from its credential and is never System: httpapi has a
// test that it never names it.
func System() Principal { return systemPrincipal }

// IsSystem reports whether p is System's principal.
func (p Principal) IsSystem() bool { return p.system }

// requireSystem refuses anyone but System, with ErrUnauthenticated for a
// zero Principal and ErrForbidden (naming instead, the method a member's
// request goes through) for a member.
func requireSystem(p Principal, instead string) error {
	if p.system {
		return nil
	}
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	return forbiddenBecause("only the program itself (exchange.System) may call this; a member's request goes through " + instead)
}

// CredentialKind is the kind of credential a principal authenticated with.
type CredentialKind string

// The kinds of credential.
const (
	CredentialToken   CredentialKind = "token"
	CredentialSession CredentialKind = "session"
	CredentialPasskey CredentialKind = "passkey"
	// CredentialInvitation and CredentialSigninCode are the credentials of
	// the writes that sign a person in (accepting an invitation, using a
	// one-time code), as the audit log records them; CredentialSystem is
	// the server's own work (expiring agreements), done by no member.
	CredentialInvitation CredentialKind = "invitation"
	CredentialSigninCode CredentialKind = "signin_code"
	CredentialSystem     CredentialKind = "system"
)

// CreateToken makes a token for a member and returns it with its secret:
// SecretPrefix followed by 32 random bytes in base64url. The secret is
// returned only here; the store keeps its SHA-256. expiresAt, when given,
// must be in the future. A token acts as its member, so p must be the
// member, a coordinator of the member's subtree or the admin
// (Principal.MayManageTokens), decided before anything else: for another
// member, what p may not see is ErrUnknownMember and what p may see but not
// act for is ErrForbidden saying why, both with Field "member_id";
// ErrUnauthenticated for a zero Principal. It returns
// ledger.ErrInvalidRequest for a bad name (1 to 200 characters) or expiry,
// and ErrUnknownMember.
func (s *Store) CreateToken(ctx context.Context, p Principal, memberID uuid.UUID, name string, expiresAt *time.Time) (Token, string, error) {
	if err := s.mayManageTokensOf(ctx, p, memberID); err != nil {
		return Token{}, "", err
	}
	if err := s.refuseErased(ctx, memberID); err != nil {
		return Token{}, "", err
	}
	name, err := checkText("name", name, 1, 200)
	if err != nil {
		return Token{}, "", err
	}
	now := s.clock()
	if expiresAt != nil {
		e := expiresAt.UTC().Truncate(time.Microsecond)
		if !e.After(now) {
			return Token{}, "", invalid("expires_at", "expires_at %s is not in the future", e.Format(time.RFC3339))
		}
		expiresAt = &e
	}
	t := Token{ID: newID(), MemberID: memberID, Name: name, ExpiresAt: expiresAt, CreatedAt: now}
	secret := newSecret()
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		record(tx, p, now, auditEvent{kind: "token.created", subject: t.ID, member: memberID})
		return insertToken(ctx, tx, t, secret)
	})
	if err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand crashes the program rather than return an error
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func insertToken(ctx context.Context, tx *pgtx.Tx, t Token, secret string) error {
	_, err := tx.Exec(ctx, `
INSERT INTO tokens (id, member_id, name, hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.MemberID, t.Name, hashSecret(secret), t.ExpiresAt, t.CreatedAt)
	if pgCode(err) == foreignKeyViolation {
		return withFieldName(unknownMember(t.MemberID), "member_id")
	}
	return err
}

// RevokeToken revokes a token for good: it no longer authenticates.
// Revoking a revoked token changes nothing and is not an error. It returns
// the token, or ErrUnknownToken, also for a token p may not see. p must be
// allowed to act on the credentials of the token's member
// (Principal.MayManageTokens): ErrForbidden saying why otherwise;
// ErrUnauthenticated for a zero Principal.
func (s *Store) RevokeToken(ctx context.Context, p Principal, id uuid.UUID) (Token, error) {
	if _, err := s.Token(ctx, p, id); err != nil {
		return Token{}, err
	}
	now := s.clock()
	var t Token
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		// Locked first, so that of revocations racing only the first finds
		// the token live and records the revocation.
		var was *time.Time
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM tokens WHERE id = $1 FOR UPDATE`, id).Scan(&was)
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownToken(id)
		}
		if err != nil {
			return err
		}
		if err := scanToken(tx.QueryRow(ctx, `
UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
RETURNING `+tokenColumns, id, now), &t); err != nil {
			return err
		}
		if was == nil {
			record(tx, p, now, auditEvent{kind: "token.revoked", subject: id, member: t.MemberID})
		}
		return nil
	})
	s.auth.forget() // even on error: the revocation may have committed
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

const tokenColumns = `id, member_id, name, expires_at, revoked_at, created_at`

func scanToken(r pgx.Row, t *Token) error {
	return r.Scan(&t.ID, &t.MemberID, &t.Name, &t.ExpiresAt, &t.RevokedAt, &t.CreatedAt)
}

// Token returns a token (never its secret) to whoever may act on its
// member's credentials (Principal.MayManageTokens): ErrUnknownToken when
// there is none or p may not see it, ErrForbidden saying why when p may see
// the member but not act for them, ErrUnauthenticated for a zero Principal.
func (s *Store) Token(ctx context.Context, p Principal, id uuid.UUID) (Token, error) {
	if err := requireMember(p); err != nil {
		return Token{}, err
	}
	t, err := s.token(ctx, id)
	if err != nil {
		return Token{}, err
	}
	switch err := s.CanManageTokens(ctx, p, t.MemberID); {
	case err == nil:
		return t, nil
	case hidden(err):
		return Token{}, unknownToken(id)
	default:
		return Token{}, err
	}
}

// token returns a token, for anyone, or ErrUnknownToken.
func (s *Store) token(ctx context.Context, id uuid.UUID) (Token, error) {
	var t Token
	err := scanToken(s.db.Pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id), &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, unknownToken(id)
	}
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

// authenticate finds the token by the hash of its secret (the unique index)
// and the member's roles in the same statement, one round trip.
const authenticate = `
SELECT t.id, t.member_id, t.expires_at, m.org_id, m.role
FROM tokens t
LEFT JOIN memberships m ON m.member_id = t.member_id
WHERE t.hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)`

// Authenticate returns the principal a token secret stands for. It returns
// ErrUnauthenticated, and never says why, when the secret is malformed,
// unknown, revoked or expired. A successful lookup is remembered for
// Config.AuthCacheTTL; a revocation or role change made through this Store
// shows in the next Authenticate, one made by another process within the TTL.
//
// The secret is looked up by its SHA-256 rather than compared in constant
// time: the hash of a 256-bit random secret gives a timing attacker nothing
// to steer.
func (s *Store) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if len(secret) != secretLen || !strings.HasPrefix(secret, SecretPrefix) {
		return Principal{}, unauthenticated()
	}
	hash := sha256.Sum256([]byte(secret))
	now := s.clock()
	if p, ok := s.auth.get(hash, now); ok {
		return p, nil
	}
	rows, err := s.db.Pool.Query(ctx, authenticate, hash[:], now)
	if err != nil {
		return Principal{}, err
	}
	defer rows.Close()
	var p Principal
	var expires *time.Time
	found := false
	for rows.Next() {
		var org *uuid.UUID
		var role *Role
		if err := rows.Scan(&p.TokenID, &p.MemberID, &expires, &org, &role); err != nil {
			return Principal{}, err
		}
		found = true
		if p.Roles == nil {
			p.Roles = make(map[uuid.UUID]Role)
		}
		if org != nil && role != nil {
			p.Roles[*org] = *role
			p.Admin = p.Admin || *role == RoleAdmin
		}
	}
	if err := rows.Err(); err != nil {
		return Principal{}, err
	}
	if !found {
		return Principal{}, unauthenticated()
	}
	p.Credential, p.CredentialID = CredentialToken, p.TokenID
	s.auth.put(hash, p, now, expires)
	return p, nil
}

// mayManageTokensOf decides, as CanManageTokens, whether p may act on the
// credentials of member memberID, who is named by the field member_id when
// not p: what p may not see is a member that does not exist.
func (s *Store) mayManageTokensOf(ctx context.Context, p Principal, memberID uuid.UUID) error {
	switch err := s.CanManageTokens(ctx, p, memberID); {
	case err == nil || errors.Is(err, ErrUnauthenticated):
		return err
	case hidden(err):
		return withFieldName(unknownMember(memberID), "member_id")
	case isForbidden(err):
		return withFieldName(err, "member_id")
	default:
		return err
	}
}

func unknownToken(id uuid.UUID) error {
	return newError(ErrUnknownToken.Code, ReasonUnknownToken, "unknown token %s", id)
}
