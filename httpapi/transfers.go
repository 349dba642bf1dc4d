package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/ledger"
)

// transferService writes and reads transfers and holds for a principal,
// deciding itself who may; *exchange.Store implements it (see its methods
// of the same names for the errors).
type transferService interface {
	Transfer(ctx context.Context, p exchange.Principal, req ledger.TransferRequest) (ledger.Transfer, error)
	Transfers(ctx context.Context, p exchange.Principal, reqs []ledger.TransferRequest, atomic bool) ([]ledger.Result, error)
	TransferFor(ctx context.Context, p exchange.Principal, id uuid.UUID) (ledger.Transfer, error)
	PostHold(ctx context.Context, p exchange.Principal, id uuid.UUID, r ledger.PostRequest) (ledger.Transfer, error)
	VoidHold(ctx context.Context, p exchange.Principal, id uuid.UUID) (ledger.Transfer, error)
	Reverse(ctx context.Context, p exchange.Principal, id uuid.UUID, r ledger.ReverseRequest) (ledger.Transfer, error)
}

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

// validFast checks the validate tags above by hand (see fastValidator).
func (p *postingRequest) validFast() bool {
	_, ok := decimalText(string(p.Amount.raw))
	return isUUIDText(p.From) && isUUIDText(p.To) && ok &&
		p.Unit != "" && utf8.RuneCountInString(p.Unit) <= 32 && safeText(p.Unit, false)
}

// validFast checks the validate tags above by hand (see fastValidator).
func (req *transferRequest) validFast() bool {
	if len(req.Postings) < 1 || len(req.Postings) > 100 {
		return false
	}
	for i := range req.Postings {
		if !req.Postings[i].validFast() {
			return false
		}
	}
	if utf8.RuneCountInString(req.Memo) > 1000 || !safeText(req.Memo, true) {
		return false
	}
	if req.ExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339Nano, req.ExpiresAt); err != nil {
			return false
		}
	}
	return true
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

// createTransfer writes one transfer, or a hold when pending is true.
func (a *api) createTransfer(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req transferRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	t, err := a.transfers.Transfer(ctx, principal(r), req.toLedger(ledgerKey(r, -1)))
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

// validFast checks the validate tags above by hand (see fastValidator).
func (req *batchRequest) validFast() bool {
	if req.Atomic == nil || req.Transfers == nil || len(req.Transfers) < 1 || len(req.Transfers) > 1000 {
		return false
	}
	for i := range req.Transfers {
		if !req.Transfers[i].validFast() {
			return false
		}
	}
	return true
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
	res, err := a.transfers.Transfers(ctx, p, reqs, *req.Atomic)
	if *req.Atomic {
		if err != nil {
			if i, ok := errs.IndexOf(err); ok {
				return &itemError{index: i, err: err}
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
	if err != nil {
		return err
	}
	results := make([]batchResultJSON, len(res))
	for i, x := range res {
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
	t, err := a.transfers.TransferFor(r.Context(), principal(r), id)
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
	id, err := queryID(r, "account", "GET /v1/transfers?account=<account id>", notFoundAccount)
	if err != nil {
		return err
	}
	pg, err := entriesQuery(r, "transfers")
	if err != nil {
		return err
	}
	ts, next, err := a.accounts.AccountTransfers(ctx, principal(r), id, pg)
	if err != nil {
		return err
	}
	items := make([]transferJSON, len(ts))
	for i, t := range ts {
		items[i] = a.toTransferJSON(ctx, t)
	}
	return writeJSON(w, http.StatusOK, newList(items, entriesCursor("transfers", next)))
}

type postHoldRequest struct {
	Amounts  []decimalString `json:"amounts" validate:"omitempty,max=100,dive,required,decimal"`
	Memo     string          `json:"memo" validate:"max=1000,text"`
	Metadata json.RawMessage `json:"metadata"`
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
	id, err := parseID(r, "id", notFoundTransferPath)
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
	t, err := a.transfers.PostHold(ctx, principal(r), id, pr)
	if err != nil {
		return err
	}
	if t.ID == id { // nothing posted: the hold is voided
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
	id, err := parseID(r, "id", notFoundTransferPath)
	if err != nil {
		return err
	}
	t, err := a.transfers.VoidHold(r.Context(), principal(r), id)
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
	id, err := parseID(r, "id", notFoundTransferPath)
	if err != nil {
		return err
	}
	t, err := a.transfers.Reverse(ctx, principal(r), id, ledger.ReverseRequest{IdempotencyKey: ledgerKey(r, -1), Memo: req.Memo})
	if err != nil {
		return err
	}
	a.countPosted(t)
	w.Header().Set("Location", "/v1/transfers/"+t.ID.String())
	return writeJSON(w, http.StatusCreated, a.toTransferJSON(ctx, t))
}
