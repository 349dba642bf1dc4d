package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

func (a *api) registerTransferRoutes(rt *router) {
	rt.write("/v1/transfers", a.createTransfer)
	rt.write("/v1/transfers/batch", a.createBatch)
	rt.read(http.MethodGet, "/v1/transfers", a.listTransfers)
	rt.read(http.MethodGet, "/v1/transfers/{id}", a.getTransfer)
	rt.write("/v1/transfers/{id}/post", a.postHold)
	rt.write("/v1/transfers/{id}/void", a.voidHold)
	rt.write("/v1/transfers/{id}/reverse", a.reverseTransfer)
}

type postingJSON struct {
	From   uuid.UUID `json:"from"`
	To     uuid.UUID `json:"to"`
	Amount string    `json:"amount"`
	Unit   string    `json:"unit"`
}

// transferJSON is a transfer as the API shows it. The idempotency key is not
// shown: it is the client's, and others may read the transfer.
type transferJSON struct {
	ID         uuid.UUID       `json:"id"`
	State      string          `json:"state"`
	Postings   []postingJSON   `json:"postings"`
	Memo       string          `json:"memo"`
	Metadata   json.RawMessage `json:"metadata"`
	PendingID  *uuid.UUID      `json:"pending_id"`
	Reverses   *uuid.UUID      `json:"reverses"`
	ExpiresAt  *time.Time      `json:"expires_at"`
	ResolvedBy *uuid.UUID      `json:"resolved_by"`
	ResolvedAt *time.Time      `json:"resolved_at"`
	CreatedAt  time.Time       `json:"created_at"`
}

func (a *api) toTransferJSON(ctx context.Context, t ledger.Transfer) transferJSON {
	ps := make([]postingJSON, len(t.Postings))
	for i, p := range t.Postings {
		ps[i] = postingJSON{From: p.From, To: p.To, Amount: a.amount(ctx, p.Amount, p.Unit), Unit: p.Unit}
	}
	return transferJSON{
		ID: t.ID, State: string(t.State), Postings: ps, Memo: t.Memo, Metadata: t.Metadata,
		PendingID: t.PendingID, Reverses: t.Reverses, ExpiresAt: utc(t.ExpiresAt),
		ResolvedBy: t.ResolvedBy, ResolvedAt: utc(t.ResolvedAt), CreatedAt: t.CreatedAt.UTC(),
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

type postingRequest struct {
	From   string        `json:"from" validate:"required,uuid"`
	To     string        `json:"to" validate:"required,uuid"`
	Amount decimalString `json:"amount" validate:"required,decimal"`
	Unit   string        `json:"unit" validate:"required,max=32,line"`
}

type transferRequest struct {
	Postings  []postingRequest `json:"postings" validate:"required,min=1,max=100,dive"`
	Memo      string           `json:"memo" validate:"max=1000,text"`
	Metadata  json.RawMessage  `json:"metadata"`
	Pending   bool             `json:"pending"`
	ExpiresAt string           `json:"expires_at" validate:"omitempty,rfc3339"`
}

// toLedger turns a validated request into the ledger's.
func (req transferRequest) toLedger(key string) ledger.TransferRequest {
	ps := make([]ledger.Posting, len(req.Postings))
	for i, p := range req.Postings {
		ps[i] = ledger.Posting{From: uuid.MustParse(p.From), To: uuid.MustParse(p.To), Amount: p.Amount.value(), Unit: p.Unit}
	}
	var exp *time.Time
	if req.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, req.ExpiresAt) // validated
		exp = &t
	}
	return ledger.TransferRequest{
		IdempotencyKey: key, Postings: ps, Memo: req.Memo, Metadata: req.Metadata,
		Pending: req.Pending, ExpiresAt: exp,
	}
}

// mayMoveAll checks that the principal may move value out of every posting's
// from account: 404 for one it may not see, 403 for one it may see but not
// move from. A fund's account takes no plain transfer either way (422): its
// money moves only by the fund's contributions and disbursements, which
// write the fund's book in the same transaction.
func (a *api) mayMoveAll(ctx context.Context, p exchange.Principal, accs map[uuid.UUID]ledger.Account, ps []ledger.Posting) error {
	for i, ps := range ps {
		if err := a.mayMoveFrom(ctx, p, accs, ps.From, fmt.Sprintf("postings[%d].from", i), false); err != nil {
			return err
		}
		for side, id := range map[string]uuid.UUID{"from": ps.From, "to": ps.To} {
			if acc, ok := accs[id]; ok && acc.Kind == ledger.KindFund {
				return invalidField(fmt.Sprintf("postings[%d].%s", i, side),
					fmt.Sprintf("account %s is a fund's: money moves in and out of a fund only by POST /v1/funds/{id}/contributions and grant disbursements", id))
			}
		}
	}
	return nil
}

// postingAccounts returns the accounts the requests' postings touch.
func postingAccounts(reqs ...ledger.TransferRequest) []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range reqs {
		for _, p := range r.Postings {
			ids = append(ids, p.From, p.To)
		}
	}
	return ids
}

// createTransfer writes one transfer, or a hold when pending is true.
func (a *api) createTransfer(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req transferRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	lr := req.toLedger(ledgerKey(r, -1))
	accs, err := a.loadAccounts(ctx, postingAccounts(lr))
	if err != nil {
		return err
	}
	if err := a.mayMoveAll(ctx, principal(r), accs, lr.Postings); err != nil {
		return err
	}
	t, err := a.ledger.CreateTransfer(ctx, lr)
	if err != nil {
		return err
	}
	a.countPosted(t)
	w.Header().Set("Location", "/v1/transfers/"+t.ID.String())
	return writeJSON(w, http.StatusCreated, a.toTransferJSON(ctx, t))
}

func (a *api) countPosted(ts ...ledger.Transfer) {
	for _, t := range ts {
		if t.State == ledger.StatePosted && !t.Replayed {
			a.metrics.posted.Inc()
		}
	}
}

type batchRequest struct {
	Atomic    *bool             `json:"atomic" validate:"required"`
	Transfers []transferRequest `json:"transfers" validate:"required,min=1,max=1000,dive"`
}

type batchJSON struct {
	Transfers []transferJSON `json:"transfers"`
}

// batchResultJSON is the outcome of one transfer of a non-atomic batch: its
// status, and the transfer written or the problem that refused it.
type batchResultJSON struct {
	Status   int           `json:"status"`
	Transfer *transferJSON `json:"transfer,omitempty"`
	Problem  *Problem      `json:"problem,omitempty"`
}

type batchResultsJSON struct {
	Results []batchResultJSON `json:"results"`
}

// createBatch writes many transfers in one database transaction. Atomic:
// all are written (201, the transfers in order) or none (the problem of the
// first refused, with its index). Not atomic: each stands alone, and the
// answer is 200 with one result per transfer, in order, each with the status
// it would have had alone and the transfer or the problem.
func (a *api) createBatch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req batchRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	reqs := make([]ledger.TransferRequest, len(req.Transfers))
	for i, t := range req.Transfers {
		reqs[i] = t.toLedger(ledgerKey(r, i))
	}
	accs, err := a.loadAccounts(ctx, postingAccounts(reqs...))
	if err != nil {
		return err
	}
	if *req.Atomic {
		for i, lr := range reqs {
			if err := a.mayMoveAll(ctx, p, accs, lr.Postings); err != nil {
				return &itemError{index: i, err: err}
			}
		}
		res, err := a.ledger.CreateTransfers(ctx, reqs, true)
		if err != nil {
			if le := (*ledger.Error)(nil); errors.As(err, &le) && le.Index >= 0 {
				return &itemError{index: le.Index, err: err}
			}
			return err
		}
		out := batchJSON{Transfers: make([]transferJSON, len(res))}
		for i, x := range res {
			a.countPosted(x.Transfer)
			out.Transfers[i] = a.toTransferJSON(ctx, x.Transfer)
		}
		return writeJSON(w, http.StatusCreated, out)
	}

	results := make([]batchResultJSON, len(reqs))
	var allowed []ledger.TransferRequest
	var positions []int // positions[j] is the index in the batch of allowed[j]
	for i, lr := range reqs {
		if err := a.mayMoveAll(ctx, p, accs, lr.Postings); err != nil {
			if results[i], err = a.itemProblem(r, i, err); err != nil {
				return err
			}
			continue
		}
		allowed = append(allowed, lr)
		positions = append(positions, i)
	}
	if len(allowed) > 0 {
		res, err := a.ledger.CreateTransfers(ctx, allowed, false)
		if err != nil {
			return err
		}
		for j, x := range res {
			i := positions[j]
			if x.Err != nil {
				if results[i], err = a.itemProblem(r, i, x.Err); err != nil {
					return err
				}
				continue
			}
			a.countPosted(x.Transfer)
			t := a.toTransferJSON(ctx, x.Transfer)
			results[i] = batchResultJSON{Status: http.StatusCreated, Transfer: &t}
		}
	}
	return writeJSON(w, http.StatusOK, batchResultsJSON{Results: results})
}

// itemProblem is the result of a refused transfer of a non-atomic batch. An
// error that is the server's fault fails the whole request instead.
func (a *api) itemProblem(r *http.Request, i int, err error) (batchResultJSON, error) {
	prob, _, internal := a.problem(r, &itemError{index: i, err: err})
	if internal {
		return batchResultJSON{}, err
	}
	return batchResultJSON{Status: prob.Status, Problem: &prob}, nil
}

// getTransfer shows a transfer to those who may read one of its accounts.
func (a *api) getTransfer(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundTransferPath)
	if err != nil {
		return err
	}
	t, _, err := a.readableTransfer(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toTransferJSON(r.Context(), t))
}

// listTransfers lists the posted transfers that moved an account's value
// (?account=, required), newest first, paged by the account's entries: a
// page holds at most limit transfers. Holds appear once posted.
func (a *api) listTransfers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw := r.URL.Query().Get("account")
	if raw == "" {
		return malformed("account", "account is required: GET /v1/transfers?account=<account id>")
	}
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return notFoundAccount(raw, "account")
	}
	if _, err := a.readableAccount(ctx, principal(r), id); err != nil {
		return err
	}
	entries, next, err := a.entriesPage(r, id, "transfers")
	if err != nil {
		return err
	}
	items := []transferJSON{}
	seen := make(map[uuid.UUID]bool)
	for _, e := range entries {
		if seen[e.TransferID] {
			continue // a transfer with several postings on the account
		}
		seen[e.TransferID] = true
		t, err := a.ledger.Transfer(ctx, e.TransferID)
		if err != nil {
			return err
		}
		items = append(items, a.toTransferJSON(ctx, t))
	}
	return writeJSON(w, http.StatusOK, newList(items, next))
}

type postHoldRequest struct {
	Amounts  []decimalString `json:"amounts" validate:"omitempty,max=100,dive,required,decimal"`
	Memo     string          `json:"memo" validate:"max=1000,text"`
	Metadata json.RawMessage `json:"metadata"`
}

// holdFor loads a transfer the principal may see and checks that it may move
// value out of each of the accounts the side names ("from" or "to").
func (a *api) holdFor(r *http.Request, side string) (ledger.Transfer, error) {
	ctx := r.Context()
	p := principal(r)
	id, err := parseID(r, "id", notFoundTransferPath)
	if err != nil {
		return ledger.Transfer{}, err
	}
	t, accs, err := a.readableTransfer(ctx, p, id)
	if err != nil {
		return ledger.Transfer{}, err
	}
	if err := managed(t); err != nil {
		return ledger.Transfer{}, err
	}
	for _, ps := range t.Postings {
		acc := ps.From
		if side == "to" {
			acc = ps.To
		}
		if err := a.mayMoveFrom(ctx, p, accs, acc, "", true); err != nil {
			return ledger.Transfer{}, err
		}
	}
	return t, nil
}

// postHold posts a hold, in full or (amounts, one per posting) in part: 201
// with the transfer that moved the value. Posting nothing (every amount
// zero) voids the hold: 200 with the hold. It needs the right to move value
// out of the hold's from accounts.
func (a *api) postHold(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req postHoldRequest
	if err := a.decode(r, &req, true); err != nil {
		return err
	}
	hold, err := a.holdFor(r, "from")
	if err != nil {
		return err
	}
	pr := ledger.PostRequest{IdempotencyKey: ledgerKey(r, -1), Memo: req.Memo, Metadata: req.Metadata}
	if req.Amounts != nil {
		pr.Amounts = make([]decimal.Decimal, len(req.Amounts))
		for i, d := range req.Amounts {
			pr.Amounts[i] = d.value()
		}
	}
	t, err := a.ledger.PostPending(ctx, hold.ID, pr)
	if err != nil {
		return err
	}
	if t.ID == hold.ID {
		// Nothing posted: the hold is voided. The ledger returns the hold as
		// it was before, so read it again.
		if t, err = a.ledger.Transfer(ctx, hold.ID); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a.toTransferJSON(ctx, t))
	}
	a.countPosted(t)
	w.Header().Set("Location", "/v1/transfers/"+t.ID.String())
	return writeJSON(w, http.StatusCreated, a.toTransferJSON(ctx, t))
}

// voidHold voids a hold: its reservations are released and nothing moves.
// It needs the right to move value out of the hold's from accounts.
func (a *api) voidHold(w http.ResponseWriter, r *http.Request) error {
	var req struct{}
	if err := a.decode(r, &req, true); err != nil {
		return err
	}
	hold, err := a.holdFor(r, "from")
	if err != nil {
		return err
	}
	t, err := a.ledger.VoidPending(r.Context(), hold.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toTransferJSON(r.Context(), t))
}

type reverseRequest struct {
	Memo string `json:"memo" validate:"max=1000,text"`
}

// reverseTransfer writes the transfer that undoes a posted one. Since the
// reversal moves value back out of the original's to accounts, it needs the
// right to move value out of those (their owner, their organization's
// coordinators, or the admin).
func (a *api) reverseTransfer(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req reverseRequest
	if err := a.decode(r, &req, true); err != nil {
		return err
	}
	orig, err := a.holdFor(r, "to")
	if err != nil {
		return err
	}
	t, err := a.ledger.Reverse(ctx, orig.ID, ledger.ReverseRequest{IdempotencyKey: ledgerKey(r, -1), Memo: req.Memo})
	if err != nil {
		return err
	}
	a.countPosted(t)
	w.Header().Set("Location", "/v1/transfers/"+t.ID.String())
	return writeJSON(w, http.StatusCreated, a.toTransferJSON(ctx, t))
}

// managed refuses to post, void or reverse by hand a transfer that an
// agreement, a trade, a fund, an obligation's payment or a clearing run made
// (its metadata names it): the hold of an
// accepted agreement is posted by the parties' confirmations and voided by
// its cancellation, and a fund's movements are written in its book. Changing
// them here would leave the agreement or the book saying otherwise (409).
func managed(t ledger.Transfer) error {
	if len(t.Metadata) == 0 {
		return nil
	}
	var meta map[string]any
	if json.Unmarshal(t.Metadata, &meta) != nil {
		return nil
	}
	for _, k := range []struct{ key, how string }{
		{"agreement", "through /v1/agreements/%v (confirm, cancel, dispute)"},
		{"trade", "through /v1/trades/%v"},
		{"fund", "through the fund /v1/funds/%v"},
		{"obligation", "by paying obligation /v1/obligations/%v"},
		{"clearing_run", "with a new clearing run (this one is %v)"},
	} {
		if id, ok := meta[k.key]; ok {
			return &ledger.Error{Code: ledger.ECONFLICT, Reason: reasonManagedTransfer,
				Message: fmt.Sprintf("transfer %s belongs to a %s; change it "+k.how, t.ID, k.key, id), Index: -1}
		}
	}
	return nil
}

// reasonManagedTransfer is the reason of the refusal to change by hand a
// transfer that an agreement, a trade or a fund made.
const reasonManagedTransfer ledger.Reason = "managed_transfer"
