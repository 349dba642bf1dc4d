package exchange

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Passkeys (WebAuthn). A member registers a passkey on their device after
// joining, and signs in with it later without typing anything. The
// exchange keeps the public credential and the ceremonies under way, and
// decides who may register, list and remove passkeys and when a passkey
// opens a session; the WebAuthn protocol itself (the options a browser is
// sent, checking its signed answer against the stored public key) is the
// front end's, since it works on HTTP requests, which the exchange knows
// nothing of. A ceremony's state is stored here between its start and its
// answer, for PasskeyCeremonyTTL, and is taken once: a replayed answer
// finds nothing.

// PasskeyCeremonyTTL is how long a passkey ceremony waits for its answer.
const PasskeyCeremonyTTL = 5 * time.Minute

// SessionByPasskey is the Method of a session opened with a passkey.
const SessionByPasskey = "passkey"

// The purposes of a passkey ceremony.
const (
	CeremonyRegister = "register"
	CeremonySignin   = "signin"
)

// The reasons of passkey errors.
const (
	ReasonUnknownPasskey    ledger.Reason = "unknown_passkey"
	ReasonPasskeyCeremony   ledger.Reason = "passkey_ceremony"
	ReasonPasskeyRegistered ledger.Reason = "passkey_registered"
)

var (
	// ErrUnknownPasskey: no passkey has the id, or the principal may not
	// see it.
	ErrUnknownPasskey = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownPasskey}
	// ErrPasskeyCeremony: the ceremony is unknown, was answered already,
	// has expired, is of another purpose, or is another member's.
	ErrPasskeyCeremony = &ledger.Error{Code: EUNAUTHORIZED, Reason: ReasonPasskeyCeremony}
	// ErrPasskeyRegistered: this credential is registered already.
	ErrPasskeyRegistered = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonPasskeyRegistered}
)

// Passkey is a registered passkey: its public credential, never a secret
// (there is none on the server).
type Passkey struct {
	ID           uuid.UUID
	MemberID     uuid.UUID
	CredentialID []byte
	// Record is the credential as the WebAuthn layer encodes it (public
	// key, flags, authenticator data).
	Record     []byte
	SignCount  uint32
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

const passkeyColumns = `id, member_id, credential_id, record, sign_count, created_at, last_used_at`

func scanPasskey(r pgx.Row, k *Passkey) error {
	var count int64
	if err := r.Scan(&k.ID, &k.MemberID, &k.CredentialID, &k.Record, &count, &k.CreatedAt, &k.LastUsedAt); err != nil {
		return err
	}
	k.SignCount = uint32(count)
	return nil
}

// StartPasskeyCeremony stores the server's state of a ceremony the front
// end begins (data, opaque here) and returns its id, to be named by the
// answer. A registration (CeremonyRegister) is the signed-in member's own,
// for themselves: ErrUnauthenticated for a zero Principal. A sign-in
// (CeremonySignin) needs no principal. Ceremonies past their time are
// deleted on the way.
func (s *Store) StartPasskeyCeremony(ctx context.Context, p Principal, purpose string, data []byte) (uuid.UUID, error) {
	var member *uuid.UUID
	switch purpose {
	case CeremonyRegister:
		if p.MemberID == uuid.Nil {
			return uuid.Nil, unauthenticated()
		}
		member = &p.MemberID
	case CeremonySignin:
	default:
		return uuid.Nil, invalid("purpose", "a passkey ceremony is a registration or a sign-in")
	}
	if len(data) == 0 || len(data) > 16384 {
		return uuid.Nil, invalid("data", "a ceremony's state is 1 to 16384 bytes")
	}
	now := s.clock()
	id := newID()
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		// A bounded sweep: a busy server never spends long here.
		if _, err := tx.Exec(ctx, `
DELETE FROM passkey_ceremonies WHERE id IN (SELECT id FROM passkey_ceremonies WHERE expires_at <= $1 LIMIT 100)`, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
INSERT INTO passkey_ceremonies (id, purpose, member_id, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, purpose, member, data, now, now.Add(PasskeyCeremonyTTL))
		return err
	})
	if err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// TakePasskeyCeremony returns a ceremony's state and deletes it, so that
// an answer works once. For a registration p must be the member who began
// it. It returns ErrPasskeyCeremony when the ceremony is unknown, taken
// already, expired, of another purpose or another member's.
func (s *Store) TakePasskeyCeremony(ctx context.Context, p Principal, id uuid.UUID, purpose string) ([]byte, error) {
	now := s.clock()
	var data []byte
	var refusal error
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		data, refusal = nil, nil
		var gotPurpose string
		var member *uuid.UUID
		var expires time.Time
		err := tx.QueryRow(ctx, `DELETE FROM passkey_ceremonies WHERE id = $1 RETURNING purpose, member_id, data, expires_at`, id).
			Scan(&gotPurpose, &member, &data, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			refusal = passkeyCeremony()
			return nil
		case err != nil:
			return err
		}
		if gotPurpose != purpose || !expires.After(now) || (purpose == CeremonyRegister && (member == nil || *member != p.MemberID)) {
			refusal, data = passkeyCeremony(), nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, refusal
	}
	return data, nil
}

// NewPasskey is a credential a member registers, checked by the WebAuthn
// layer against the ceremony that asked for it.
type NewPasskey struct {
	CredentialID []byte
	Record       []byte
	SignCount    uint32
}

// AddPasskey registers a passkey for the signed-in member themselves
// (nobody registers one for someone else: the device is theirs). It
// returns ErrUnauthenticated for a zero Principal, ErrPasskeyRegistered
// when the credential is registered already, and ledger.ErrInvalidRequest
// for a credential id or record of a bad length.
func (s *Store) AddPasskey(ctx context.Context, p Principal, in NewPasskey) (Passkey, error) {
	if p.MemberID == uuid.Nil {
		return Passkey{}, unauthenticated()
	}
	if err := refuseAgent(p, "register a passkey"); err != nil {
		return Passkey{}, err
	}
	switch {
	case len(in.CredentialID) < 16 || len(in.CredentialID) > 1023:
		return Passkey{}, invalid("credential_id", "a credential id is 16 to 1023 bytes")
	case len(in.Record) == 0 || len(in.Record) > 65536:
		return Passkey{}, invalid("record", "a credential record is 1 to 65536 bytes")
	}
	k := Passkey{ID: newID(), MemberID: p.MemberID, CredentialID: in.CredentialID, Record: in.Record, SignCount: in.SignCount, CreatedAt: s.clock()}
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `
INSERT INTO passkeys (id, member_id, credential_id, record, sign_count, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.ID, k.MemberID, k.CredentialID, k.Record, int64(k.SignCount), k.CreatedAt)
		if err == nil {
			record(tx, p, k.CreatedAt, auditEvent{kind: "passkey.added", subject: k.ID, member: k.MemberID})
		}
		return err
	})
	switch {
	case pgCode(err) == uniqueViolation:
		return Passkey{}, newError(ledger.ECONFLICT, ReasonPasskeyRegistered, "this passkey is registered already")
	case pgCode(err) == foreignKeyViolation:
		return Passkey{}, unknownMember(p.MemberID)
	case err != nil:
		return Passkey{}, err
	}
	return k, nil
}

// PasskeyByCredential returns the passkey a sign-in names, for the
// WebAuthn layer to check the answer's signature with its public key. It
// returns ErrSigninFailed when no passkey has the credential id (removed,
// or never registered).
func (s *Store) PasskeyByCredential(ctx context.Context, credentialID []byte) (Passkey, error) {
	var k Passkey
	err := scanPasskey(s.db.Pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID), &k)
	if errors.Is(err, pgx.ErrNoRows) {
		return Passkey{}, signinFailed()
	}
	return k, err
}

// SignInWithPasskey opens a session (Method SessionByPasskey) for the
// member of a passkey whose answer the WebAuthn layer has checked, and
// records its use: the authenticator's new counter and record. A counter
// that did not move forward (when the authenticator keeps one: a non-zero
// counter) means a copy of the key signed in since: it is refused with
// ErrSigninFailed, as is a passkey removed meanwhile.
func (s *Store) SignInWithPasskey(ctx context.Context, credentialID []byte, signCount uint32, newRecord []byte) (Session, string, error) {
	now := s.clock()
	var ss Session
	var secret string
	var refusal error
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		ss, secret, refusal = Session{}, "", nil
		var k Passkey
		err := scanPasskey(tx.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1 FOR UPDATE`, credentialID), &k)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			refusal = signinFailed()
			return nil
		case err != nil:
			return err
		case (signCount != 0 || k.SignCount != 0) && signCount <= k.SignCount:
			refusal = signinFailed()
			return nil
		}
		rec := newRecord
		if len(rec) == 0 {
			rec = k.Record
		}
		if _, err := tx.Exec(ctx, `UPDATE passkeys SET sign_count = $2, record = $3, last_used_at = $4 WHERE id = $1`,
			k.ID, int64(signCount), rec, now); err != nil {
			return err
		}
		ss, secret, err = insertSession(ctx, tx, k.MemberID, SessionByPasskey, now)
		if err == nil {
			record(tx, Principal{MemberID: k.MemberID, Credential: CredentialPasskey, CredentialID: k.ID}, now,
				auditEvent{kind: "session.signed_in", subject: ss.ID, member: k.MemberID})
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

// Passkeys lists a member's passkeys, oldest first: to the member, a
// coordinator of their subtree and the admin (CanManageTokens); it returns
// what CanManageTokens returns otherwise.
func (s *Store) Passkeys(ctx context.Context, p Principal, memberID uuid.UUID) ([]Passkey, error) {
	if err := s.CanManageTokens(ctx, p, memberID); err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE member_id = $1 ORDER BY created_at, id LIMIT $2`, memberID, MaxLimit)
	if err != nil {
		return nil, err
	}
	return collectAll(rows, scanPasskey)
}

// RemovePasskey removes a passkey at once (it no longer signs in; the
// sessions it opened stay until ended), for whoever may manage its
// member's credentials. It returns ErrUnknownPasskey for one that does
// not exist or p may not see, ErrForbidden when p may see its member but
// not manage their credentials.
func (s *Store) RemovePasskey(ctx context.Context, p Principal, id uuid.UUID) (Passkey, error) {
	var k Passkey
	err := scanPasskey(s.db.Pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = $1`, id), &k)
	if errors.Is(err, pgx.ErrNoRows) {
		return Passkey{}, unknownPasskey(id)
	}
	if err != nil {
		return Passkey{}, err
	}
	if err := s.mayManageCredential(ctx, p, k.MemberID, unknownPasskey(id)); err != nil {
		return Passkey{}, err
	}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 1 {
			record(tx, p, s.clock(), auditEvent{kind: "passkey.removed", subject: id, member: k.MemberID})
		}
		return err
	})
	if err != nil {
		return Passkey{}, err
	}
	return k, nil
}

func unknownPasskey(id uuid.UUID) error {
	return newError(ErrUnknownPasskey.Code, ReasonUnknownPasskey, "unknown passkey %s", id)
}

func passkeyCeremony() error {
	return newError(EUNAUTHORIZED, ReasonPasskeyCeremony, "this passkey request is unknown, was answered already or has expired: start again")
}
