package exchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// One-time sign-in codes. A coordinator issues one for a member of their
// subtree (a person without a passkey, or who lost their device) and reads
// it to them; the member signs in with their member id and the code. A code
// is valid for SigninCodeTTL, works once, and a newer one replaces it.
//
// Guessing is bounded three ways, all counted in the database so that the
// limits survive restarts and hold across servers: a code locks after
// MaxCodeFailures wrong tries (then even the right one is refused until a
// new code is issued); a member who had MaxMemberFailures wrong tries in
// FailureWindow, and a client address with MaxAddressFailures, are refused
// until the window has passed. Codes are compared by their SHA-256 in
// constant time, and never logged.

// The limits of sign-in codes.
const (
	SigninCodeTTL      = 15 * time.Minute
	MaxCodeFailures    = 5
	MaxMemberFailures  = 10
	MaxAddressFailures = 30
	FailureWindow      = 10 * time.Minute
)

// codeAlphabet holds the characters of codes read aloud or typed from
// paper: digits and capitals without 0, 1, I, L and O, which are mistaken
// for one another. 8 of its 31 characters hold 39.6 bits.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// codeLen is the number of characters of a code, shown in two groups of
// four ("7KQ3-XM9P").
const codeLen = 8

// newCode returns a random code, formatted in two groups of four.
func newCode() string {
	var b [codeLen]byte
	for i := 0; i < codeLen; {
		var r [1]byte
		rand.Read(r[:])
		// 248 = 8 * 31: rejecting the rest keeps every character equally likely.
		if r[0] < 248 {
			b[i] = codeAlphabet[int(r[0])%len(codeAlphabet)]
			i++
		}
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// normalizeCode is what a code's hash is taken of: upper case, without the
// spaces and dashes people type between groups.
func normalizeCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hashCode(code string) []byte {
	h := sha256.Sum256([]byte(normalizeCode(code)))
	return h[:]
}

// The reasons of sign-in errors.
const (
	ReasonSigninFailed     ledger.Reason = "signin_failed"
	ReasonSigninCodeLocked ledger.Reason = "signin_code_locked"
	ReasonTooManyAttempts  ledger.Reason = "too_many_attempts"
)

var (
	// ErrSigninFailed: the member or the code is wrong, used, expired or
	// replaced; the error never says which.
	ErrSigninFailed = &ledger.Error{Code: EUNAUTHORIZED, Reason: ReasonSigninFailed}
	// ErrSigninCodeLocked: the member's code had too many wrong tries and
	// is refused, even right, until a coordinator issues a new one.
	ErrSigninCodeLocked = &ledger.Error{Code: ledger.EREFUSED, Reason: ReasonSigninCodeLocked}
	// ErrTooManyAttempts: too many wrong codes from this address or for
	// this member lately; it comes wrapped in a *RetryLater that says when
	// to try again.
	ErrTooManyAttempts = &ledger.Error{Code: ledger.EREFUSED, Reason: ReasonTooManyAttempts}
)

// RetryLater is an error that clears by itself: After is how long to wait.
// It unwraps to the error it qualifies.
type RetryLater struct {
	Err   *ledger.Error
	After time.Duration
}

func (e *RetryLater) Error() string { return e.Err.Error() }
func (e *RetryLater) Unwrap() error { return e.Err }

// SigninCode is a one-time code issued for a member, never the code itself.
type SigninCode struct {
	ID        uuid.UUID
	MemberID  uuid.UUID
	IssuedBy  uuid.UUID
	ExpiresAt time.Time
	CreatedAt time.Time
}

// IssueSigninCode issues a one-time sign-in code for a member and returns
// it with the code, shown only here. The member's earlier codes stop
// working. Who may: whoever may manage the member's credentials
// (CanManageTokens: the member, a coordinator of their subtree, the admin);
// it returns what CanManageTokens returns otherwise.
func (s *Store) IssueSigninCode(ctx context.Context, p Principal, memberID uuid.UUID) (SigninCode, string, error) {
	if err := s.CanManageTokens(ctx, p, memberID); err != nil {
		return SigninCode{}, "", err
	}
	if err := s.refuseErased(ctx, memberID); err != nil {
		return SigninCode{}, "", err
	}
	now := s.clock()
	c := SigninCode{ID: newID(), MemberID: memberID, IssuedBy: p.MemberID, CreatedAt: now, ExpiresAt: now.Add(SigninCodeTTL)}
	code := newCode()
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		if _, err := tx.Exec(ctx, `
UPDATE signin_codes SET superseded_at = $2 WHERE member_id = $1 AND used_at IS NULL AND superseded_at IS NULL`, memberID, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
INSERT INTO signin_codes (id, member_id, hash, issued_by, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.ID, memberID, hashCode(code), p.MemberID, c.ExpiresAt, now)
		if pgCode(err) == foreignKeyViolation {
			return unknownMember(memberID)
		}
		record(tx, p, now, auditEvent{kind: "signin_code.issued", subject: c.ID, member: memberID})
		return err
	})
	if err != nil {
		return SigninCode{}, "", err
	}
	return c, code, nil
}

// SignInWithCode signs a member in with a one-time code, from a client at
// address (for the limit per address), and opens a session: it returns the
// session and its secret. It returns, in the order checked:
//   - ErrTooManyAttempts in a *RetryLater when the address, or the member,
//     had too many wrong tries within FailureWindow (nothing is counted);
//   - ErrSigninCodeLocked when the member's current code had
//     MaxCodeFailures wrong tries (the try is counted);
//   - ErrSigninFailed when the member is unknown, has no current code, or
//     the code is wrong, used, replaced or expired (the try is counted, and
//     a wrong code counts against the code too).
func (s *Store) SignInWithCode(ctx context.Context, memberID uuid.UUID, code, address string) (Session, string, error) {
	now := s.clock()
	address = clip(address, 64)
	if wait, err := s.signinLimited(ctx, memberID, address, "signin_code", now); err != nil || wait > 0 {
		if err != nil {
			return Session{}, "", err
		}
		return Session{}, "", &RetryLater{Err: tooManyAttempts(), After: wait}
	}
	given := hashCode(code)
	var ss Session
	var secret string
	var refusal error
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		ss, secret, refusal = Session{}, "", nil
		var id uuid.UUID
		var hash []byte
		var failures int
		var expires time.Time
		// The member's current code, locked: two tries at once are decided
		// one after the other, so that neither a lock nor a single use can
		// be raced past.
		err := tx.QueryRow(ctx, `
SELECT id, hash, failures, expires_at FROM signin_codes
WHERE member_id = $1 AND used_at IS NULL AND superseded_at IS NULL
ORDER BY created_at DESC LIMIT 1 FOR UPDATE`, memberID).Scan(&id, &hash, &failures, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			refusal = signinFailed()
			return recordFailure(ctx, tx, memberID, address, "signin_code", now)
		case err != nil:
			return err
		case failures >= MaxCodeFailures:
			refusal = signinCodeLocked()
			return recordFailure(ctx, tx, memberID, address, "signin_code", now)
		case subtle.ConstantTimeCompare(hash, given) != 1:
			refusal = signinFailed()
			if _, err := tx.Exec(ctx, `UPDATE signin_codes SET failures = failures + 1 WHERE id = $1`, id); err != nil {
				return err
			}
			return recordFailure(ctx, tx, memberID, address, "signin_code", now)
		case !expires.After(now):
			refusal = signinFailed()
			return recordFailure(ctx, tx, memberID, address, "signin_code", now)
		}
		if _, err := tx.Exec(ctx, `UPDATE signin_codes SET used_at = $2 WHERE id = $1`, id, now); err != nil {
			return err
		}
		ss, secret, err = insertSession(ctx, tx, memberID, SessionBySigninCode, now)
		if err == nil {
			record(tx, Principal{MemberID: memberID, Credential: CredentialSigninCode, CredentialID: id}, now,
				auditEvent{kind: "session.signed_in", subject: ss.ID, member: memberID})
		}
		return err
	})
	if err != nil {
		return Session{}, "", err
	}
	if refusal != nil {
		return Session{}, "", refusal
	}
	return ss, secret, nil
}

// signinLimited returns how long the address or the member must wait
// before another try of kind, or 0 when they may try now. memberID may be
// uuid.Nil (no member named).
func (s *Store) signinLimited(ctx context.Context, memberID uuid.UUID, address, kind string, now time.Time) (time.Duration, error) {
	since := now.Add(-FailureWindow)
	var byAddr, byMember int
	var oldestAddr, oldestMember *time.Time
	err := s.db.Pool.QueryRow(ctx, `
SELECT
  (SELECT count(*) FROM signin_failures WHERE address = $1 AND at > $3),
  (SELECT min(at) FROM (SELECT at FROM signin_failures WHERE address = $1 AND at > $3 ORDER BY at DESC LIMIT $4) a),
  (SELECT count(*) FROM signin_failures WHERE member_id = $2 AND kind = $5 AND at > $3),
  (SELECT min(at) FROM (SELECT at FROM signin_failures WHERE member_id = $2 AND kind = $5 AND at > $3 ORDER BY at DESC LIMIT $6) m)`,
		address, memberID, since, MaxAddressFailures, kind, MaxMemberFailures).Scan(&byAddr, &oldestAddr, &byMember, &oldestMember)
	if err != nil {
		return 0, err
	}
	// The wait ends when the oldest of the failures that make up the
	// limit leaves the window.
	var wait time.Duration
	if byAddr >= MaxAddressFailures && oldestAddr != nil {
		wait = oldestAddr.Add(FailureWindow).Sub(now)
	}
	if memberID != uuid.Nil && byMember >= MaxMemberFailures && oldestMember != nil {
		if w := oldestMember.Add(FailureWindow).Sub(now); w > wait {
			wait = w
		}
	}
	if wait > 0 && wait < time.Second {
		wait = time.Second
	}
	return wait, nil
}

// recordFailure counts a wrong try.
func recordFailure(ctx context.Context, tx *pgtx.Tx, memberID uuid.UUID, address, kind string, now time.Time) error {
	var member *uuid.UUID
	if memberID != uuid.Nil {
		member = &memberID
	}
	_, err := tx.Exec(ctx, `INSERT INTO signin_failures (id, member_id, address, kind, at) VALUES ($1, $2, $3, $4, $5)`,
		newID(), member, address, kind, now)
	return err
}

// PurgeSigninFailures deletes the wrong tries older than FailureWindow,
// which count for nothing any more, and returns how many it deleted.
func (s *Store) PurgeSigninFailures(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM signin_failures WHERE at <= $1`, s.clock().Add(-FailureWindow))
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// clip cuts s to at most n bytes (a client address is never longer, but it
// comes from outside).
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func signinFailed() error {
	return newError(EUNAUTHORIZED, ReasonSigninFailed, "the member or the code is wrong, or the code was used, replaced or has expired")
}

func signinCodeLocked() error {
	return newError(ledger.EREFUSED, ReasonSigninCodeLocked,
		"this sign-in code had %d wrong tries and no longer works, even typed right: ask a coordinator for a new one", MaxCodeFailures)
}

func tooManyAttempts() *ledger.Error {
	return newError(ledger.EREFUSED, ReasonTooManyAttempts, "too many wrong codes lately, from this address or for this member: wait, then try again")
}
