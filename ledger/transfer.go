package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// TransferState is where a transfer stands.
type TransferState string

// The transfer states. A posted transfer never changes. A pending transfer (a
// hold) reserves its amounts until it is posted, voided or expires.
const (
	StatePending TransferState = "pending"
	StatePosted  TransferState = "posted"
	StateVoided  TransferState = "voided"
	StateExpired TransferState = "expired"
)

// Posting is one leg of a transfer: Amount of Unit moves from one account to
// another. It balances by construction.
type Posting struct {
	From   uuid.UUID
	To     uuid.UUID
	Amount decimal.Decimal
	Unit   string
}

// TransferRequest asks for one transfer.
type TransferRequest struct {
	// IdempotencyKey, if set, makes the request safe to retry: the same key
	// with the same content returns the first result (Replayed set); the same
	// key with other content is refused with ErrIdempotencyConflict.
	IdempotencyKey string
	// Postings are applied atomically; one transfer may mix units. Bounds are
	// checked on each account's net change.
	Postings []Posting
	Memo     string
	// Metadata is a JSON object, or empty.
	Metadata json.RawMessage
	// Pending makes the transfer a hold: it reserves the amounts (the
	// debited accounts' available balance drops) until it is posted, voided
	// or, if ExpiresAt is set, expires.
	Pending   bool
	ExpiresAt *time.Time
}

// Transfer is one journal entry as stored.
type Transfer struct {
	ID             uuid.UUID
	IdempotencyKey string
	State          TransferState
	Postings       []Posting
	Memo           string
	Metadata       json.RawMessage
	// PendingID is set on the transfer that posted a hold: the hold's id.
	PendingID *uuid.UUID
	// Reverses is set on a reversal: the transfer it undoes.
	Reverses *uuid.UUID
	// ExpiresAt is the expiry of a hold.
	ExpiresAt *time.Time
	// ResolvedBy and ResolvedAt are set on a hold once posted (ResolvedBy is
	// then the posting transfer), voided or expired.
	ResolvedBy *uuid.UUID
	ResolvedAt *time.Time
	// CreatedAt is when the transfer was written; for a posted transfer, the
	// instant its entries took effect.
	CreatedAt time.Time
	// Replayed is true when an idempotent retry returned this transfer as
	// it was first written.
	Replayed bool
}

// Limits on requests.
const (
	MaxPostings  = 100
	MaxBatch     = 10000
	MaxMemo      = 1000
	MaxMetadata  = 16 << 10
	MaxKeyLength = 255
)

// checkRequest validates what can be checked without the database's rows:
// shapes, units, scales, signs. It returns the canonical metadata.
func (s *Store) checkRequest(ctx context.Context, q rowQuerier, r *TransferRequest, now time.Time) (json.RawMessage, error) {
	if len(r.IdempotencyKey) > MaxKeyLength {
		return nil, invalid("idempotency_key", "idempotency key is longer than %d characters", MaxKeyLength)
	}
	if len(r.Postings) == 0 {
		return nil, invalid("postings", "a transfer needs at least one posting")
	}
	if len(r.Postings) > MaxPostings {
		return nil, invalid("postings", "a transfer has at most %d postings, not %d", MaxPostings, len(r.Postings))
	}
	if len(r.Memo) > MaxMemo {
		return nil, invalid("memo", "memo is longer than %d characters", MaxMemo)
	}
	for i, p := range r.Postings {
		if e := s.checkPosting(ctx, q, i, p); e != nil {
			return nil, e
		}
	}
	if r.ExpiresAt != nil {
		if !r.Pending {
			return nil, invalid("expires_at", "only a pending transfer expires")
		}
		if !r.ExpiresAt.After(now) {
			return nil, invalid("expires_at", "expires_at %s is not in the future", r.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	return canonicalMetadata(r.Metadata)
}

// checkPosting checks one posting's shape, unit and amount. The field name of
// an error is only formatted when there is an error: this runs for every
// posting of every transfer.
func (s *Store) checkPosting(ctx context.Context, q rowQuerier, i int, p Posting) error {
	u, uerr := s.unit(ctx, q, p.Unit)
	if uerr == nil && p.From != uuid.Nil && p.To != uuid.Nil && p.From != p.To && checkAmount(u, p.Amount, "") == nil {
		return nil
	}
	field := fmt.Sprintf("postings[%d]", i)
	switch {
	case p.From == uuid.Nil || p.To == uuid.Nil:
		return invalid(field, "%s needs both a from and a to account", field)
	case p.From == p.To:
		e := newError(EINVALID, ReasonSameAccount, "%s moves value from account %s to itself", field, p.From)
		e.Field, e.Account = field, p.From
		return e
	case uerr != nil:
		var le *Error
		if errors.As(uerr, &le) {
			le.Field = field + ".unit"
		}
		return uerr
	}
	if e := checkAmount(u, p.Amount, field+".amount"); e != nil {
		return e
	}
	return nil
}

// canonicalMetadata checks that raw is a JSON object and returns it with keys
// sorted and no insignificant space, so equal objects hash alike.
func canonicalMetadata(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if len(raw) > MaxMetadata {
		return nil, invalid("metadata", "metadata is larger than %d bytes", MaxMetadata)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("metadata", "metadata must be a JSON object")
	}
	if dec.More() {
		return nil, invalid("metadata", "metadata must be a single JSON object")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, invalid("metadata", "metadata must be a JSON object")
	}
	return out, nil
}

// requestHash identifies a request's content for idempotency. Equal amounts
// written differently ("2.5", "2.50") hash alike.
func requestHash(kind string, ref *uuid.UUID, postings []Posting, memo string, meta json.RawMessage, pending bool, expires *time.Time) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", kind)
	if ref != nil {
		fmt.Fprintf(h, "%s", ref)
	}
	fmt.Fprintf(h, "\x00%d\x00", len(postings))
	for _, p := range postings {
		fmt.Fprintf(h, "%s>%s:%s:%s\x00", p.From, p.To, p.Amount.String(), p.Unit)
	}
	fmt.Fprintf(h, "%q\x00%s\x00%t\x00", memo, meta, pending)
	if expires != nil {
		fmt.Fprintf(h, "%s", expires.UTC().Format(time.RFC3339Nano))
	}
	return h.Sum(nil)
}

// postingJSON is how a posting is stored in transfers.postings.
type postingJSON struct {
	From   uuid.UUID `json:"from"`
	To     uuid.UUID `json:"to"`
	Amount string    `json:"amount"`
	Unit   string    `json:"unit"`
}

func encodePostings(ps []Posting) []byte {
	js := make([]postingJSON, len(ps))
	for i, p := range ps {
		js[i] = postingJSON{From: p.From, To: p.To, Amount: p.Amount.String(), Unit: p.Unit}
	}
	b, _ := json.Marshal(js) // cannot fail: plain strings and UUIDs
	return b
}

func decodePostings(b []byte) ([]Posting, error) {
	var js []postingJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, fmt.Errorf("ledger: stored postings: %w", err)
	}
	ps := make([]Posting, len(js))
	for i, j := range js {
		amt, err := decimal.NewFromString(j.Amount)
		if err != nil {
			return nil, fmt.Errorf("ledger: stored posting amount %q: %w", j.Amount, err)
		}
		ps[i] = Posting{From: j.From, To: j.To, Amount: amt, Unit: j.Unit}
	}
	return ps, nil
}

const transferColumns = `id, COALESCE(idempotency_key, ''), request_hash, state, postings, memo, metadata,
       pending_id, reverses, expires_at, resolved_by, resolved_at, created_at`

// scanTransfer reads a row of transferColumns; hash receives request_hash.
func scanTransfer(row pgx.Row, hash *[]byte) (Transfer, error) {
	var t Transfer
	var postings, meta []byte
	var h []byte
	err := row.Scan(&t.ID, &t.IdempotencyKey, &h, &t.State, &postings, &t.Memo, &meta,
		&t.PendingID, &t.Reverses, &t.ExpiresAt, &t.ResolvedBy, &t.ResolvedAt, &t.CreatedAt)
	if err != nil {
		return Transfer{}, err
	}
	if hash != nil {
		*hash = h
	}
	if len(meta) > 0 {
		t.Metadata = json.RawMessage(meta)
	}
	t.Postings, err = decodePostings(postings)
	return t, err
}

// Transfer returns the transfer with the given id, or ErrUnknownTransfer.
func (s *Store) Transfer(ctx context.Context, id uuid.UUID) (Transfer, error) {
	t, err := scanTransfer(s.db.Pool.QueryRow(ctx, `SELECT `+transferColumns+` FROM transfers WHERE id = $1`, id), nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return Transfer{}, unknownTransfer(id)
	}
	return t, err
}

// Transfers returns the transfers with the given ids that exist, by id, in
// one query; an id with no transfer is left out (Transfer would answer
// ErrUnknownTransfer for it).
func (s *Store) Transfers(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Transfer, error) {
	out := make(map[uuid.UUID]Transfer, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+transferColumns+` FROM transfers WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTransfer(rows, nil)
		if err != nil {
			return nil, err
		}
		out[t.ID] = t
	}
	return out, rows.Err()
}

func unknownTransfer(id uuid.UUID) *Error {
	return newError(ENOTFOUND, ReasonUnknownTransfer, "unknown transfer %s", id)
}
