package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Erasure. A member, or the admin, erases the member's personal data
// without breaking the books: the member's row stays (the ledger's accounts
// and the audit log name it by id) under a neutral name, "former member"
// and a short number; their email goes, with every credential (tokens,
// browser sessions, sign-in codes, passkeys), the invitations they received,
// their notifications, their memberships, and the stored answers of
// idempotent requests that held their name or email. Their accounts stay,
// with every entry, and are closed: the ledger refuses any movement that
// touches a closed account (ledger.ErrAccountClosed), and the schema keeps
// a closed account's balance and holds at zero (accounts_closed_empty). An
// account must therefore be empty first: a coordinator settles a time-bank
// balance with the community pool (SettleWithPool).

// The reasons of erasure's errors.
const (
	ReasonNotSettled   ledger.Reason = "not_settled"
	ReasonMemberErased ledger.Reason = "member_erased"
)

var (
	// ErrNotSettled: the member still has a balance, a hold, or an
	// agreement under way; erasure would leave the books unbalanced or
	// another member waiting. The message says which.
	ErrNotSettled = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonNotSettled}
	// ErrMemberErased: the member's data was erased; they can no longer be
	// given credentials, accounts or roles, or be acted for.
	ErrMemberErased = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonMemberErased}
)

// FormerMemberName is the name an erased member gets, before their number.
const FormerMemberName = "former member"

// Erasure is the record of an erasure.
type Erasure struct {
	MemberID uuid.UUID
	// Name is the member's name from now on: "former member 12".
	Name     string
	Number   int64
	ErasedAt time.Time
	// Accounts are the member's accounts, now closed.
	Accounts []uuid.UUID
}

// EraseMember erases a member's personal data, for the member themself or
// the admin (nobody erases someone on their behalf). In one transaction,
// at SERIALIZABLE (the new name's number is one more than the largest):
// the member's accounts are locked (in id order) and must be empty with no
// hold, and no agreement of theirs may be under way (proposed, accepted or
// disputed), or it returns ErrNotSettled saying which; then the member is
// renamed, their email, credentials, received invitations, notifications,
// memberships and the idempotent answers that held their name or email are
// deleted, their accounts are closed (and renamed when named after them),
// and the erasure is recorded in the audit log with its number only.
// Erasing an erased member returns the erasure unchanged.
//
// It returns ErrUnauthenticated for a zero Principal, ErrForbidden for a
// coordinator acting on the member's behalf, or for another who may see
// the member, and ErrUnknownMember for one who may not (or a member that
// does not exist).
func (s *Store) EraseMember(ctx context.Context, p Principal, memberID uuid.UUID) (Erasure, error) {
	if err := requireMember(p); err != nil {
		return Erasure{}, err
	}
	if err := refuseAgent(p, "erase a member's data"); err != nil {
		return Erasure{}, err
	}
	if p.MemberID != memberID && !p.Admin {
		switch err := s.CanReadMember(ctx, p, memberID); {
		case err == nil:
			return Erasure{}, forbiddenBecause("only the member themself or the network admin may erase a member's data")
		case hidden(err):
			return Erasure{}, unknownMember(memberID)
		default:
			return Erasure{}, err
		}
	}
	var out Erasure
	err := s.db.Run(ctx, pgtx.Options{Isolation: pgx.Serializable}, func(tx *pgtx.Tx) error {
		out = Erasure{MemberID: memberID}
		var name, email string
		err := tx.QueryRow(ctx, `SELECT name, email FROM members WHERE id = $1 FOR UPDATE`, memberID).Scan(&name, &email)
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownMember(memberID)
		}
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT number, erased_at FROM erasures WHERE member_id = $1`, memberID).Scan(&out.Number, &out.ErasedAt)
		if err == nil {
			out.Name = name
			out.ErasedAt = out.ErasedAt.UTC()
			out.Accounts, err = memberAccountIDs(ctx, tx, memberID)
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := checkSettled(ctx, tx, memberID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(number), 0) + 1 FROM erasures`).Scan(&out.Number); err != nil {
			return err
		}
		out.Name = fmt.Sprintf("%s %d", FormerMemberName, out.Number)
		out.ErasedAt = s.clock()
		if err := eraseRows(ctx, tx, memberID, name, email, out); err != nil {
			return err
		}
		if out.Accounts, err = memberAccountIDs(ctx, tx, memberID); err != nil {
			return err
		}
		record(tx, p, out.ErasedAt, auditEvent{kind: "member.erased", subject: memberID, member: memberID,
			details: map[string]any{"number": out.Number, "accounts": len(out.Accounts)}})
		return nil
	})
	s.auth.forget() // the member's tokens are gone
	if err != nil {
		return Erasure{}, err
	}
	return out, nil
}

// checkSettled locks the member's accounts in id order and refuses, with
// ErrNotSettled saying which, a balance, a hold, or an agreement under way.
func checkSettled(ctx context.Context, tx *pgtx.Tx, memberID uuid.UUID) error {
	rows, err := tx.Query(ctx, `
SELECT a.id, a.unit, u.scale, a.balance, a.pending_debits + a.pending_credits
FROM accounts a JOIN units u ON u.code = a.unit WHERE a.owner = $1 ORDER BY a.id FOR UPDATE OF a`,
		MemberOwner(memberID))
	if err != nil {
		return err
	}
	var open []string
	for rows.Next() {
		var id uuid.UUID
		var unit string
		var scale int32
		var bal, pending decimal.Decimal
		if err := rows.Scan(&id, &unit, &scale, &bal, &pending); err != nil {
			rows.Close()
			return err
		}
		switch {
		case !bal.IsZero():
			open = append(open, fmt.Sprintf("account %s has a balance of %s %s", id, bal.StringFixed(scale), unit))
		case !pending.IsZero():
			open = append(open, fmt.Sprintf("account %s has %s %s on hold", id, pending.StringFixed(scale), unit))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(open) > 0 {
		return newError(ErrNotSettled.Code, ReasonNotSettled,
			"the member's balances must be settled first (a coordinator moves them to or from the time bank's community pool with POST /v1/orgs/{id}/timebank/settlements): %s",
			strings.Join(open, "; "))
	}
	var agreements int64
	if err := tx.QueryRow(ctx, `
SELECT count(*) FROM agreements WHERE (giver = $1 OR receiver = $1) AND status IN ('proposed', 'accepted', 'disputed')`,
		memberID).Scan(&agreements); err != nil {
		return err
	}
	if agreements > 0 {
		return newError(ErrNotSettled.Code, ReasonNotSettled,
			"the member has %d agreements under way: complete or cancel them first", agreements)
	}
	return nil
}

// eraseRows deletes and rewrites what names the member. The statements are
// constant; only values are bound.
func eraseRows(ctx context.Context, tx *pgtx.Tx, memberID uuid.UUID, name, email string, e Erasure) error {
	// The contacts the member was invited by, to find the other
	// invitations sent to them.
	var phones, emails []string
	rows, err := tx.Query(ctx, `SELECT email, phone FROM invitations WHERE accepted_by = $1`, memberID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var em, ph string
		if err := rows.Scan(&em, &ph); err != nil {
			rows.Close()
			return err
		}
		if em != "" {
			emails = append(emails, em)
		}
		if ph != "" {
			phones = append(phones, ph)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if email != "" {
		emails = append(emails, email)
	}
	stmts := []struct {
		sql  string
		args []any
	}{
		// Invitations the member received: the ones they accepted, and the
		// others sent to their email or phone, or by their name into an
		// organization of theirs.
		{`DELETE FROM invitations WHERE accepted_by = $1
   OR (accepted_at IS NULL AND (email = ANY($2) OR phone = ANY($3)
       OR (name = $4 AND org_id IN (SELECT org_id FROM memberships WHERE member_id = $1))))`,
			[]any{memberID, emails, phones, name}},
		{`DELETE FROM tokens WHERE member_id = $1`, []any{memberID}},
		{`DELETE FROM sessions WHERE member_id = $1`, []any{memberID}},
		{`DELETE FROM signin_codes WHERE member_id = $1`, []any{memberID}},
		{`DELETE FROM signin_failures WHERE member_id = $1`, []any{memberID}},
		{`DELETE FROM notifications WHERE member_id = $1`, []any{memberID}},
		// Stored answers of idempotent requests: the member's own, and any
		// other that shows their name or email (an admission's answer).
		{`DELETE FROM idempotency_keys WHERE member_id = $1
   OR (body IS NOT NULL AND (position(convert_to($2, 'UTF8') IN body) > 0
       OR ($3 <> '' AND position(convert_to($3, 'UTF8') IN body) > 0)))`,
			[]any{memberID, name, email}},
		{`DELETE FROM memberships WHERE member_id = $1`, []any{memberID}},
		// Their listings stop being offered; agreements were checked.
		{`UPDATE listings SET status = 'withdrawn', updated_at = $2 WHERE owner_member = $1 AND status IN ('open', 'matched')`,
			[]any{memberID, e.ErasedAt}},
		{`UPDATE accounts SET status = 'closed', name = CASE WHEN strpos(name, $2) > 0 THEN $3 ELSE name END WHERE owner = $1`,
			[]any{MemberOwner(memberID), name, e.Name}},
		{`UPDATE members SET name = $2, email = '' WHERE id = $1`, []any{memberID, e.Name}},
		{`INSERT INTO erasures (member_id, number, erased_at) VALUES ($1, $2, $3)`, []any{memberID, e.Number, e.ErasedAt}},
	}
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	return erasePasskeys(ctx, tx, memberID)
}

// erasePasskeys deletes the member's passkeys (their public keys, and
// their names and user handles, which are personal data) and any passkey
// ceremony the member had started.
func erasePasskeys(ctx context.Context, tx *pgtx.Tx, memberID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `DELETE FROM passkey_ceremonies WHERE member_id = $1`, memberID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE member_id = $1`, memberID)
	return err
}

func memberAccountIDs(ctx context.Context, tx *pgtx.Tx, memberID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM accounts WHERE owner = $1 ORDER BY id`, MemberOwner(memberID))
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return ids, err
}

// refuseErased refuses, with ErrMemberErased, a member whose data was
// erased.
func (s *Store) refuseErased(ctx context.Context, memberID uuid.UUID) error {
	var erased bool
	if err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM erasures WHERE member_id = $1)`, memberID).Scan(&erased); err != nil {
		return err
	}
	if erased {
		return newError(ErrMemberErased.Code, ReasonMemberErased, "member %s was erased: their accounts are closed and they can no longer sign in", memberID)
	}
	return nil
}

// Settlement is a member's time-bank balance settled with the community
// pool.
type Settlement struct {
	OrgID    uuid.UUID
	MemberID uuid.UUID
	Unit     string // the time bank's
	// Transfer moved the balances; nil when every account was empty
	// already.
	Transfer *ledger.Transfer
	// Moved is, per account, what moved: positive into the pool, negative
	// out of it.
	Moved map[uuid.UUID]decimal.Decimal
}

// SettleWithPool brings to zero the balances of a member's accounts in the
// time bank's unit, against the organization's community pool, so that the
// member can be erased (or leave): what the member holds goes to the pool,
// what they owe the pool gives them. It is one ledger transfer (metadata
// {"timebank": org, "kind": "settlement"}), with one posting per account
// that is not empty, written in one transaction that first locks the
// accounts and the pool in id order, so the balances it reads are the ones
// it moves. Only those who grant hours from the pool may (coordinators of
// the organization or above it, the admin): ErrForbidden for its other
// members, ErrNoTimebank for those who may not see it; the member must
// belong to the organization (ErrNotAMember, Field "member_id"). An
// account with a hold is ErrNotSettled (the agreement must end first); a
// pool holding less than the member owes is ledger.ErrInsufficientFunds,
// and nothing moves. The settlement is in the audit log.
func (s *Store) SettleWithPool(ctx context.Context, p Principal, orgID, memberID uuid.UUID) (Settlement, error) {
	if err := s.mayTimebank(ctx, p, orgID, TimebankGrant, "only those who act for the organization settle balances with its pool"); err != nil {
		return Settlement{}, err
	}
	rules, err := s.timebankRulesOf(ctx, orgID)
	if err != nil {
		return Settlement{}, err
	}
	if err := s.checkBelongs(ctx, orgID, memberID, grantKind); err != nil {
		return Settlement{}, err
	}
	meta, _ := json.Marshal(map[string]string{"timebank": orgID.String(), "kind": "settlement"})
	var out Settlement
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		out = Settlement{OrgID: orgID, MemberID: memberID, Unit: rules.Unit, Moved: map[uuid.UUID]decimal.Decimal{}}
		// The member's accounts in the unit and the pool, locked in the
		// ledger's order (by id) before their balances are read; the
		// ledger locks them again, already held.
		rows, err := tx.Query(ctx, `
SELECT id, balance, pending_debits + pending_credits, owner FROM accounts
WHERE (owner = $1 AND unit = $2 AND kind = 'member') OR id = $3 ORDER BY id FOR UPDATE`,
			MemberOwner(memberID), rules.Unit, rules.PoolAccount)
		if err != nil {
			return err
		}
		var postings []ledger.Posting
		var held []string
		for rows.Next() {
			var id uuid.UUID
			var bal, pending decimal.Decimal
			var owner string
			if err := rows.Scan(&id, &bal, &pending, &owner); err != nil {
				rows.Close()
				return err
			}
			if id == rules.PoolAccount {
				continue
			}
			if !pending.IsZero() {
				held = append(held, fmt.Sprintf("account %s has %s %s on hold", id, pending, rules.Unit))
				continue
			}
			switch bal.Sign() {
			case 1:
				postings = append(postings, ledger.Posting{From: id, To: rules.PoolAccount, Amount: bal, Unit: rules.Unit})
			case -1:
				postings = append(postings, ledger.Posting{From: rules.PoolAccount, To: id, Amount: bal.Neg(), Unit: rules.Unit})
			}
			if !bal.IsZero() {
				out.Moved[id] = bal
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(held) > 0 {
			return newError(ErrNotSettled.Code, ReasonNotSettled, "end the member's agreements first: %s", strings.Join(held, "; "))
		}
		if len(postings) == 0 {
			return nil
		}
		t, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: postings, Memo: "settlement with the community pool", Metadata: meta})
		if err != nil {
			return err
		}
		out.Transfer = &t
		moved := map[string]string{}
		for id, d := range out.Moved {
			moved[id.String()] = d.String()
		}
		record(tx, p, s.clock(), auditEvent{kind: "timebank.settled", subject: t.ID, org: orgID, member: memberID,
			details: map[string]any{"unit": rules.Unit, "moved": moved}})
		return nil
	})
	if err != nil {
		return Settlement{}, err
	}
	return out, nil
}
