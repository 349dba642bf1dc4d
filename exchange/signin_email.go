package exchange

import (
	"context"
	"crypto/sha256"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Sign-in codes by email. A member with an email address asks for a code
// (RequestEmailSigninCode) and receives it by mail; they sign in with it as
// with a code a coordinator gave them (SignInWithCode: the same table, the
// same single use, the same locks on wrong tries, and a new code replaces
// the one before, whoever issued it). The request answers the same whether
// or not the address is anyone's, so that it cannot tell who is a member;
// requests are limited per address asked for and per client address
// (counted in the database, as wrong codes are), which also keeps the
// service from mailing someone over and over.

// The limits of requests for codes by email, within FailureWindow.
const (
	MaxEmailRequestsPerAddress = 3
	MaxEmailRequestsPerClient  = 10
)

// EmailSigninCode is a code to mail: to whom, for which member (several
// members may share an address, a household's say: each gets their own).
type EmailSigninCode struct {
	MemberID  uuid.UUID
	Name      string
	Email     string // as the member's record has it
	Code      string // shown only in the mail
	ExpiresAt time.Time
}

// RequestEmailSigninCode records a request for a sign-in code sent to
// email, from a client at address, and returns the codes to mail: one for
// each member whose email is the address (compared case-insensitively),
// none when it is nobody's. Each replaces the member's earlier code. There
// is no principal: whoever holds the mailbox signs in.
//
// It returns ledger.ErrInvalidRequest (Field "email") for what is not a
// plain email address, and ErrTooManyAttempts in a *RetryLater when the
// address had MaxEmailRequestsPerAddress requests, or the client
// MaxEmailRequestsPerClient, within FailureWindow (the request is then not
// recorded). Neither says whether the address is a member's.
func (s *Store) RequestEmailSigninCode(ctx context.Context, email, address string) ([]EmailSigninCode, error) {
	email = strings.TrimSpace(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		return nil, invalid("email", "email must be a plain email address, such as ana@example.org")
	}
	now := s.clock()
	address = clip(address, 64)
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	var codes []EmailSigninCode
	var wait time.Duration
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		codes, wait = nil, 0
		var err error
		if wait, err = emailRequestWait(ctx, tx, h[:], address, now); err != nil || wait > 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signin_email_requests (id, email_hash, address, at) VALUES ($1, $2, $3, $4)`,
			newID(), h[:], address, now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, name, email FROM members WHERE lower(email) = lower($1) ORDER BY id`, email)
		if err != nil {
			return err
		}
		codes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (EmailSigninCode, error) {
			var c EmailSigninCode
			err := r.Scan(&c.MemberID, &c.Name, &c.Email)
			return c, err
		})
		if err != nil {
			return err
		}
		for i := range codes {
			c := &codes[i]
			c.Code, c.ExpiresAt = newCode(), now.Add(SigninCodeTTL)
			if _, err := tx.Exec(ctx, `
UPDATE signin_codes SET superseded_at = $2 WHERE member_id = $1 AND used_at IS NULL AND superseded_at IS NULL`, c.MemberID, now); err != nil {
				return err
			}
			// The member asked for it themselves: they are its issuer.
			id := newID()
			if _, err := tx.Exec(ctx, `
INSERT INTO signin_codes (id, member_id, hash, issued_by, expires_at, created_at) VALUES ($1, $2, $3, $2, $4, $5)`,
				id, c.MemberID, hashCode(c.Code), c.ExpiresAt, now); err != nil {
				return err
			}
			// Asked for without a credential: the server's own work, for
			// the member.
			record(tx, systemPrincipal, now, auditEvent{kind: "signin_code.emailed", subject: id, member: c.MemberID})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, &RetryLater{Err: tooManyEmailRequests(), After: wait}
	}
	return codes, nil
}

// emailRequestWait returns how long before the address asked for, or the
// client, may ask again, or 0 when they may now.
func emailRequestWait(ctx context.Context, tx *pgtx.Tx, hash []byte, address string, now time.Time) (time.Duration, error) {
	since := now.Add(-FailureWindow)
	var byEmail, byClient int
	var oldestEmail, oldestClient *time.Time
	err := tx.QueryRow(ctx, `
SELECT
  (SELECT count(*) FROM signin_email_requests WHERE email_hash = $1 AND at > $3),
  (SELECT min(at) FROM (SELECT at FROM signin_email_requests WHERE email_hash = $1 AND at > $3 ORDER BY at DESC LIMIT $4) e),
  (SELECT count(*) FROM signin_email_requests WHERE address = $2 AND at > $3),
  (SELECT min(at) FROM (SELECT at FROM signin_email_requests WHERE address = $2 AND at > $3 ORDER BY at DESC LIMIT $5) c)`,
		hash, address, since, MaxEmailRequestsPerAddress, MaxEmailRequestsPerClient).Scan(&byEmail, &oldestEmail, &byClient, &oldestClient)
	if err != nil {
		return 0, err
	}
	var wait time.Duration
	if byEmail >= MaxEmailRequestsPerAddress && oldestEmail != nil {
		wait = oldestEmail.Add(FailureWindow).Sub(now)
	}
	if byClient >= MaxEmailRequestsPerClient && oldestClient != nil {
		if w := oldestClient.Add(FailureWindow).Sub(now); w > wait {
			wait = w
		}
	}
	if wait > 0 && wait < time.Second {
		wait = time.Second
	}
	return wait, nil
}

// PurgeEmailSigninRequests deletes the requests for codes by email older
// than FailureWindow, which count for nothing any more, and returns how
// many it deleted. Like PurgeSigninFailures it is the server's own
// housekeeping, for no principal.
func (s *Store) PurgeEmailSigninRequests(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM signin_email_requests WHERE at <= $1`, s.clock().Add(-FailureWindow))
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

func tooManyEmailRequests() *ledger.Error {
	e := tooManyAttempts()
	e.Message = "too many requests for a sign-in code lately, for this address or from this client: wait, then ask again"
	return e
}
