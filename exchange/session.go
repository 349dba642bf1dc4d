package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Browser sessions. A person who joins by invitation or signs in with a
// one-time code gets a session: a random 256-bit id that the browser keeps
// in a cookie, of which only the SHA-256 is stored. A session authenticates
// exactly as a token does (the same Principal, with Credential
// CredentialSession), slides forward with use (SessionIdle) up to an
// absolute cap (SessionMax), and ends when its member signs out, signs out
// everywhere, or a coordinator ends it. Sessions are not cached in the
// process, unlike tokens: ending one takes effect at the next request, on
// every server.

// Session lifetimes.
const (
	// SessionIdle is how long a session lasts unused; each use moves its
	// end forward to SessionIdle from then, never past SessionMax.
	SessionIdle = 30 * 24 * time.Hour
	// SessionMax is how long a session lasts at most, however often used.
	SessionMax = 90 * 24 * time.Hour
	// sessionTouchEvery bounds how often a session's use is written: a
	// busy browser costs one write a minute, not one per request.
	sessionTouchEvery = time.Minute
)

// How a session began.
const (
	SessionByInvitation = "invitation"
	SessionBySigninCode = "signin_code"
)

// Session is a browser session, never its secret.
type Session struct {
	ID            uuid.UUID
	MemberID      uuid.UUID
	Method        string // SessionByInvitation or SessionBySigninCode
	CreatedAt     time.Time
	LastSeenAt    time.Time
	IdleExpiresAt time.Time // when it ends unless used before
	ExpiresAt     time.Time // when it ends however used
	RevokedAt     *time.Time
}

// sessionSecretLen is the length of a session secret: 32 random bytes in
// unpadded base64url.
var sessionSecretLen = base64.RawURLEncoding.EncodedLen(32)

// The reasons of session errors.
const ReasonUnknownSession ledger.Reason = "unknown_session"

// ErrUnknownSession: no session has the id, or the principal may not see it.
var ErrUnknownSession = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownSession}

// insertSession opens a session for member inside tx and returns it with
// its secret.
func insertSession(ctx context.Context, tx *pgtx.Tx, memberID uuid.UUID, method string, now time.Time) (Session, string, error) {
	secret := newSecret()[len(SecretPrefix):] // 32 random bytes, without the token prefix
	ss := Session{ID: newID(), MemberID: memberID, Method: method, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(SessionIdle), ExpiresAt: now.Add(SessionMax)}
	_, err := tx.Exec(ctx, `
INSERT INTO sessions (id, member_id, hash, method, created_at, last_seen_at, idle_expires_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $5, $6, $7)`,
		ss.ID, ss.MemberID, hashSecret(secret), method, now, ss.IdleExpiresAt, ss.ExpiresAt)
	if pgCode(err) == foreignKeyViolation {
		return Session{}, "", unknownMember(memberID)
	}
	if err != nil {
		return Session{}, "", err
	}
	return ss, secret, nil
}

const authenticateSession = `
SELECT s.id, s.member_id, s.last_seen_at, s.idle_expires_at, s.expires_at, m.org_id, m.role, mb.name
FROM sessions s
JOIN members mb ON mb.id = s.member_id
LEFT JOIN memberships m ON m.member_id = s.member_id
WHERE s.hash = $1 AND s.revoked_at IS NULL AND s.idle_expires_at > $2 AND s.expires_at > $2`

// AuthenticateSession returns the principal a session secret (the cookie's
// value) stands for, and slides the session's idle expiry forward. It
// returns ErrUnauthenticated, and never says why, when the secret is
// malformed, unknown, ended or expired.
func (s *Store) AuthenticateSession(ctx context.Context, secret string) (Principal, error) {
	p, _, err := s.AuthenticateSessionNamed(ctx, secret)
	return p, err
}

// AuthenticateSessionNamed is AuthenticateSession that also returns the
// member's name, read by the same statement: the pages name the member on
// every page, and this saves them a round trip each.
func (s *Store) AuthenticateSessionNamed(ctx context.Context, secret string) (Principal, string, error) {
	if len(secret) != sessionSecretLen {
		return Principal{}, "", unauthenticated()
	}
	hash := sha256.Sum256([]byte(secret))
	now := s.clock()
	rows, err := s.db.Pool.Query(ctx, authenticateSession, hash[:], now)
	if err != nil {
		return Principal{}, "", err
	}
	defer rows.Close()
	var p Principal
	var lastSeen, idle, max time.Time
	var name string
	found := false
	for rows.Next() {
		var org *uuid.UUID
		var role *Role
		if err := rows.Scan(&p.CredentialID, &p.MemberID, &lastSeen, &idle, &max, &org, &role, &name); err != nil {
			return Principal{}, "", err
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
		return Principal{}, "", err
	}
	if !found {
		return Principal{}, "", unauthenticated()
	}
	p.Credential = CredentialSession
	if now.Sub(lastSeen) >= sessionTouchEvery {
		next := now.Add(SessionIdle)
		if next.After(max) {
			next = max
		}
		// The condition keeps a concurrent sign-out from being undone, and
		// two requests at once from both writing.
		err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
			// The request does not wait for this write to reach the disk
			// (on PostgreSQL; CockroachDB has no such setting): if the
			// server crashed just after, the session would only expire a
			// minute earlier than it might. A durable commit waited for a
			// disk that others were using made a page in a few dozen take
			// tens of milliseconds longer.
			if !s.db.CockroachDB() {
				if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `
UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE id = $1 AND revoked_at IS NULL AND last_seen_at < $2`,
				p.CredentialID, now, next)
			return err
		})
		if err != nil {
			return Principal{}, "", err
		}
	}
	return p, name, nil
}

const sessionColumns = `id, member_id, method, created_at, last_seen_at, idle_expires_at, expires_at, revoked_at`

func scanSession(r pgx.Row, ss *Session) error {
	return r.Scan(&ss.ID, &ss.MemberID, &ss.Method, &ss.CreatedAt, &ss.LastSeenAt, &ss.IdleExpiresAt, &ss.ExpiresAt, &ss.RevokedAt)
}

// EndSession ends one session at once: the session p called with (sign
// out), or, when id is another, one p may manage (CanManageTokens on its
// member). Ending an ended session changes nothing and is no error. It
// returns ErrUnknownSession for a session that does not exist or p may not
// see, ErrForbidden when p may see its member but not manage their
// credentials.
func (s *Store) EndSession(ctx context.Context, p Principal, id uuid.UUID) (Session, error) {
	var ss Session
	err := scanSession(s.db.Pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id), &ss)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, unknownSession(id)
	}
	if err != nil {
		return Session{}, err
	}
	if err := s.mayManageCredential(ctx, p, ss.MemberID, unknownSession(id)); err != nil {
		return Session{}, err
	}
	now := s.clock()
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		// Locked first: of ends racing, only the first records.
		var was *time.Time
		if err := tx.QueryRow(ctx, `SELECT revoked_at FROM sessions WHERE id = $1 FOR UPDATE`, id).Scan(&was); err != nil {
			return err
		}
		if err := scanSession(tx.QueryRow(ctx, `
UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING `+sessionColumns, id, now), &ss); err != nil {
			return err
		}
		if was == nil {
			record(tx, p, now, auditEvent{kind: "session.ended", subject: id, member: ss.MemberID})
		}
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	return ss, nil
}

// EndSessions ends every open session of a member at once (sign out
// everywhere, or a coordinator ending them) and returns how many it ended.
// Tokens are not touched. It returns what CanManageTokens returns when p
// may not.
func (s *Store) EndSessions(ctx context.Context, p Principal, memberID uuid.UUID) (int, error) {
	if err := s.CanManageTokens(ctx, p, memberID); err != nil {
		return 0, err
	}
	now := s.clock()
	var n int
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE member_id = $1 AND revoked_at IS NULL AND expires_at > $2`, memberID, now)
		n = int(tag.RowsAffected())
		if err == nil && n > 0 {
			record(tx, p, now, auditEvent{kind: "session.ended_all", subject: memberID, member: memberID, details: map[string]any{"count": n}})
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Sessions lists a member's sessions still open (not ended, not expired),
// newest first, never their secrets. It returns what CanManageTokens
// returns when p may not see them.
func (s *Store) Sessions(ctx context.Context, p Principal, memberID uuid.UUID) ([]Session, error) {
	if err := s.CanManageTokens(ctx, p, memberID); err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT `+sessionColumns+` FROM sessions
WHERE member_id = $1 AND revoked_at IS NULL AND idle_expires_at > $2 AND expires_at > $2
ORDER BY created_at DESC, id LIMIT $3`, memberID, s.clock(), MaxLimit)
	if err != nil {
		return nil, err
	}
	return collectAll(rows, scanSession)
}

// Tokens lists a member's tokens that still authenticate (not revoked, not
// expired), newest first, never their secrets. It returns what
// CanManageTokens returns when p may not see them.
func (s *Store) Tokens(ctx context.Context, p Principal, memberID uuid.UUID) ([]Token, error) {
	if err := s.CanManageTokens(ctx, p, memberID); err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT `+tokenColumns+` FROM tokens
WHERE member_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
ORDER BY created_at DESC, id LIMIT $3`, memberID, s.clock(), MaxLimit)
	if err != nil {
		return nil, err
	}
	return collectAll(rows, scanToken)
}

func unknownSession(id uuid.UUID) error {
	return newError(ErrUnknownSession.Code, ReasonUnknownSession, "unknown session %s", id)
}

// mayManageCredential is CanManageTokens for one credential of member's
// (a session, a passkey): a member p may not see is answered with unknown,
// as for a credential that does not exist.
func (s *Store) mayManageCredential(ctx context.Context, p Principal, member uuid.UUID, unknown error) error {
	err := s.CanManageTokens(ctx, p, member)
	if errors.Is(err, ErrNotVisible) {
		return unknown
	}
	return err
}
