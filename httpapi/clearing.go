package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// clearingAuthority is what the obligation and clearing routes need of the
// exchange, which decides who may do what.
type clearingAuthority interface {
	RecordObligation(ctx context.Context, p exchange.Principal, in exchange.NewObligation) (exchange.Obligation, error)
	Obligation(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Obligation, error)
	Obligations(ctx context.Context, p exchange.Principal, org uuid.UUID, page exchange.Page) ([]exchange.Obligation, uuid.UUID, error)
	ConfirmObligation(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Obligation, error)
	DisputeObligation(ctx context.Context, p exchange.Principal, id uuid.UUID, reason string) (exchange.Obligation, error)
	PayObligation(ctx context.Context, p exchange.Principal, id, from uuid.UUID, amount decimal.Decimal) (exchange.ObligationPayment, error)
	RunClearing(ctx context.Context, p exchange.Principal, req exchange.ClearingRequest) (exchange.ClearingRun, error)
	SetClearingCreditLine(ctx context.Context, p exchange.Principal, org, account uuid.UUID) (exchange.ClearingCreditLine, error)
}

// The exchange's Store is what the routes are written for.
var _ clearingAuthority = (*exchange.Store)(nil)

// registerClearingRoutes adds obligations between organizations and the
// clearing runs that cancel chains of them. They need an Authority that is
// also a clearingAuthority (the exchange's Store is); with any other, the
// routes exist and answer 500.
func (a *api) registerClearingRoutes(rt *router) {
	c, ok := a.auth.(clearingAuthority)
	h := clearingHandlers{api: a, auth: c}
	with := func(f func(clearingHandlers, http.ResponseWriter, *http.Request) error) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			if !ok {
				return errors.New("httpapi: the Authority cannot record obligations or clear them")
			}
			return f(h, w, r)
		}
	}
	rt.write("/v1/obligations", with(clearingHandlers.record))
	rt.read(http.MethodGet, "/v1/obligations", with(clearingHandlers.list))
	rt.read(http.MethodGet, "/v1/obligations/{id}", with(clearingHandlers.get))
	rt.write("/v1/obligations/{id}/confirm", with(clearingHandlers.confirm))
	rt.write("/v1/obligations/{id}/dispute", with(clearingHandlers.dispute))
	rt.write("/v1/obligations/{id}/payments", with(clearingHandlers.pay))
	rt.write("/v1/clearing/runs", with(clearingHandlers.run))
	rt.put("/v1/orgs/{id}/clearing-credit", with(clearingHandlers.setCreditLine))
}

type clearingHandlers struct {
	api  *api
	auth clearingAuthority
}

func notFoundObligation(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownObligation,
		Message: "unknown obligation " + id}
}

// obligationJSON is an obligation as the API shows it.
type obligationJSON struct {
	ID              uuid.UUID  `json:"id"`
	CreditorOrg     uuid.UUID  `json:"creditor_org"`
	DebtorOrg       uuid.UUID  `json:"debtor_org"`
	Unit            string     `json:"unit"`
	CreditorAccount uuid.UUID  `json:"creditor_account"`
	Amount          string     `json:"amount"`
	Outstanding     string     `json:"outstanding"`
	DueDate         string     `json:"due_date"`
	Reference       string     `json:"reference"`
	Memo            string     `json:"memo"`
	Status          string     `json:"status"`
	DisputeReason   string     `json:"dispute_reason"`
	RecordedBy      uuid.UUID  `json:"recorded_by"`
	DecidedBy       *uuid.UUID `json:"decided_by"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func (h clearingHandlers) toJSON(ctx context.Context, o exchange.Obligation) obligationJSON {
	return obligationJSON{
		ID: o.ID, CreditorOrg: o.CreditorOrg, DebtorOrg: o.DebtorOrg, Unit: o.Unit, CreditorAccount: o.CreditorAccount,
		Amount: h.api.amount(ctx, o.Amount, o.Unit), Outstanding: h.api.amount(ctx, o.Outstanding, o.Unit),
		DueDate: o.DueDate.Format(time.DateOnly), Reference: o.Reference, Memo: o.Memo, Status: string(o.Status),
		DisputeReason: o.DisputeReason, RecordedBy: o.RecordedBy, DecidedBy: o.DecidedBy,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC(),
	}
}

type recordObligationRequest struct {
	DebtorOrg       string        `json:"debtor_org" validate:"required,uuid"`
	CreditorAccount string        `json:"creditor_account" validate:"required,uuid"`
	Amount          decimalString `json:"amount" validate:"required,decimal"`
	DueDate         string        `json:"due_date" validate:"required,max=10,line"`
	Reference       string        `json:"reference" validate:"required,max=200,line"`
	Memo            string        `json:"memo" validate:"max=1000,text"`
}

// record records, for a coordinator of the creditor (the organization that
// owns creditor_account), that debtor_org owes it amount in that account's
// unit: 201 with the obligation, pending until the debtor confirms it.
// With an Idempotency-Key its id is derived from the key.
func (h clearingHandlers) record(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req recordObligationRequest
	if err := h.api.decode(r, &req, false); err != nil {
		return err
	}
	day, err := time.Parse(time.DateOnly, req.DueDate)
	if err != nil {
		return malformed("due_date", "due_date must be a date such as 2026-04-30")
	}
	in := exchange.NewObligation{
		ID: keyedID(r, "obligation"), DebtorOrg: uuid.MustParse(req.DebtorOrg), CreditorAccount: uuid.MustParse(req.CreditorAccount),
		Amount: req.Amount.value(), DueDate: day, Reference: req.Reference, Memo: req.Memo,
	}
	o, err := h.auth.RecordObligation(ctx, p, in)
	if err != nil {
		// A retry after a crash finds the obligation the first attempt made.
		var le *ledger.Error
		if !errors.As(err, &le) || le.Code != ledger.ECONFLICT {
			return err
		}
		prev, gerr := h.auth.Obligation(ctx, p, in.ID)
		if gerr != nil || prev.RecordedBy != p.MemberID || prev.DebtorOrg != in.DebtorOrg || !prev.Amount.Equal(in.Amount) {
			return err
		}
		o = prev
	}
	w.Header().Set("Location", "/v1/obligations/"+o.ID.String())
	return writeJSON(w, http.StatusCreated, h.toJSON(ctx, o))
}

// get shows an obligation to the members and coordinators of either party.
func (h clearingHandlers) get(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundObligation)
	if err != nil {
		return err
	}
	o, err := h.auth.Obligation(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.toJSON(r.Context(), o))
}

// list lists what an organization (?org=, required) owes and is owed.
func (h clearingHandlers) list(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	org, err := queryID(r, "org", "GET /v1/obligations?org=<organization id>", notFoundOrg)
	if err != nil {
		return err
	}
	page, err := idPage(r, "obligations")
	if err != nil {
		return err
	}
	os, next, err := h.auth.Obligations(ctx, principal(r), org, page)
	if err != nil {
		return err
	}
	items := make([]obligationJSON, len(os))
	for i, o := range os {
		items[i] = h.toJSON(ctx, o)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("obligations", next)))
}

// confirm confirms an obligation for a coordinator of the debtor: 200.
func (h clearingHandlers) confirm(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundObligation)
	if err != nil {
		return err
	}
	if err := h.api.decode(r, &struct{}{}, true); err != nil {
		return err
	}
	o, err := h.auth.ConfirmObligation(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.toJSON(r.Context(), o))
}

type disputeObligationRequest struct {
	Reason string `json:"reason" validate:"required,max=1000,text"`
}

// dispute disputes a pending obligation for a coordinator of the debtor,
// saying why: 200.
func (h clearingHandlers) dispute(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundObligation)
	if err != nil {
		return err
	}
	var req disputeObligationRequest
	if err := h.api.decode(r, &req, false); err != nil {
		return err
	}
	o, err := h.auth.DisputeObligation(r.Context(), principal(r), id, req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.toJSON(r.Context(), o))
}

type payObligationRequest struct {
	FromAccount string        `json:"from_account" validate:"required,uuid"`
	Amount      decimalString `json:"amount" validate:"required,decimal"`
}

type paymentJSON struct {
	Obligation obligationJSON `json:"obligation"`
	TransferID uuid.UUID      `json:"transfer_id"`
	Amount     string         `json:"amount"`
}

// pay pays part or all of a confirmed obligation from the debtor's account
// to the creditor's: one ledger transfer, made in the transaction that
// lowers what is outstanding. 201 with the payment.
func (h clearingHandlers) pay(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundObligation)
	if err != nil {
		return err
	}
	var req payObligationRequest
	if err := h.api.decode(r, &req, false); err != nil {
		return err
	}
	pay, err := h.auth.PayObligation(ctx, principal(r), id, uuid.MustParse(req.FromAccount), req.Amount.value())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/transfers/"+pay.TransferID.String())
	return writeJSON(w, http.StatusCreated, paymentJSON{
		Obligation: h.toJSON(ctx, pay.Obligation), TransferID: pay.TransferID,
		Amount: h.api.amount(ctx, pay.Amount, pay.Obligation.Unit),
	})
}

type clearingRunRequest struct {
	OrgID     string `json:"org_id" validate:"required,uuid"`
	Unit      string `json:"unit" validate:"required,max=32,line"`
	DryRun    bool   `json:"dry_run"`
	UseCredit bool   `json:"use_credit"`
}

type ledgerPaymentJSON struct {
	OrgID     uuid.UUID `json:"org_id"`
	AccountID uuid.UUID `json:"account_id"`
	Amount    string    `json:"amount"`
}

type reductionJSON struct {
	ObligationID uuid.UUID `json:"obligation_id"`
	DebtorOrg    uuid.UUID `json:"debtor_org"`
	CreditorOrg  uuid.UUID `json:"creditor_org"`
	Reference    string    `json:"reference"`
	Amount       string    `json:"amount"`
	Outstanding  string    `json:"outstanding"`
}

type clearingRunJSON struct {
	ID           *uuid.UUID      `json:"id"`
	OrgID        uuid.UUID       `json:"org_id"`
	Unit         string          `json:"unit"`
	StartedBy    uuid.UUID       `json:"started_by"`
	DryRun       bool            `json:"dry_run"`
	Obligations  int             `json:"obligations"`
	Participants int             `json:"participants"`
	TotalDebt    string          `json:"total_debt"`
	Cleared      string          `json:"cleared"`
	Reductions   []reductionJSON `json:"reductions"`
	UseCredit    bool            `json:"use_credit"`
	// LedgerPayments: positive out of the account, negative into it.
	LedgerPayments []ledgerPaymentJSON `json:"ledger_payments"`
	ThroughLedger  string              `json:"through_ledger"`
	TransferID     *uuid.UUID          `json:"transfer_id"`
	CreatedAt      time.Time           `json:"created_at"`
}

// run clears the confirmed open obligations in unit among org_id and the
// organizations under it, for a coordinator of org_id (or above): 201 with
// the run, applied; with dry_run, 200 with what it would do, nothing
// written.
func (h clearingHandlers) run(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req clearingRunRequest
	if err := h.api.decode(r, &req, false); err != nil {
		return err
	}
	run, err := h.auth.RunClearing(ctx, principal(r), exchange.ClearingRequest{
		Group: uuid.MustParse(req.OrgID), Unit: req.Unit, DryRun: req.DryRun, UseCredit: req.UseCredit})
	if err != nil {
		return err
	}
	out := clearingRunJSON{
		OrgID: run.GroupOrg, Unit: run.Unit, StartedBy: run.StartedBy, DryRun: run.DryRun,
		Obligations: run.Obligations, Participants: run.Participants,
		TotalDebt: h.api.amount(ctx, run.TotalDebt, run.Unit), Cleared: h.api.amount(ctx, run.Cleared, run.Unit),
		Reductions: make([]reductionJSON, len(run.Reductions)), CreatedAt: run.CreatedAt.UTC(),
		UseCredit: run.UseCredit, LedgerPayments: make([]ledgerPaymentJSON, len(run.LedgerPayments)),
		ThroughLedger: h.api.amount(ctx, run.ThroughLedger, run.Unit), TransferID: run.TransferID,
	}
	for i, x := range run.LedgerPayments {
		out.LedgerPayments[i] = ledgerPaymentJSON{OrgID: x.Org, AccountID: x.Account, Amount: h.api.amount(ctx, x.Amount, run.Unit)}
	}
	for i, c := range run.Reductions {
		out.Reductions[i] = reductionJSON{ObligationID: c.ObligationID, DebtorOrg: c.DebtorOrg, CreditorOrg: c.CreditorOrg,
			Reference: c.Reference, Amount: h.api.amount(ctx, c.Amount, run.Unit), Outstanding: h.api.amount(ctx, c.Outstanding, run.Unit)}
	}
	if run.DryRun {
		return writeJSON(w, http.StatusOK, out)
	}
	out.ID = &run.ID
	return writeJSON(w, http.StatusCreated, out)
}

type creditLineRequest struct {
	AccountID string `json:"account_id" validate:"required,uuid"`
}

type creditLineJSON struct {
	OrgID     uuid.UUID `json:"org_id"`
	Unit      string    `json:"unit"`
	AccountID uuid.UUID `json:"account_id"`
	AgreedBy  uuid.UUID `json:"agreed_by"`
	AgreedAt  time.Time `json:"agreed_at"`
}

// setCreditLine records, for a coordinator of the organization, that
// clearing runs that ask for credit may move value into and out of one of
// its organization accounts, in that account's unit and within its bounds:
// 200 with the consent, which replaces an earlier one in that unit.
func (h clearingHandlers) setCreditLine(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req creditLineRequest
	if err := h.api.decode(r, &req, false); err != nil {
		return err
	}
	l, err := h.auth.SetClearingCreditLine(r.Context(), principal(r), id, uuid.MustParse(req.AccountID))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, creditLineJSON{OrgID: l.Org, Unit: l.Unit, AccountID: l.Account, AgreedBy: l.AgreedBy, AgreedAt: l.AgreedAt.UTC()})
}
