package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// timebankService keeps the time banks' rules and moves hours to and from
// their pools, deciding itself who may; *exchange.Store implements it (see
// its methods of the same names for the errors).
type timebankService interface {
	DonateHours(ctx context.Context, p exchange.Principal, m exchange.TimebankMove) (ledger.Transfer, error)
	GrantHours(ctx context.Context, p exchange.Principal, m exchange.TimebankMove) (ledger.Transfer, error)
	SetTimebankRules(ctx context.Context, p exchange.Principal, orgID uuid.UUID, in exchange.TimebankSettings) (exchange.TimebankRules, bool, error)
	TimebankRules(ctx context.Context, p exchange.Principal, orgID uuid.UUID) (exchange.TimebankRules, error)
}

func (a *api) registerTimebankRoutes(rt *router) {
	rt.read(http.MethodGet, "/v1/orgs/{id}/timebank", a.getTimebank)
	rt.put("/v1/orgs/{id}/timebank", a.putTimebank)
	rt.write("/v1/orgs/{id}/timebank/donations", a.donateHours)
	rt.write("/v1/orgs/{id}/timebank/grants", a.grantHours)
}

// timebankJSON is an organization's time-bank rules and its pool. cap is
// null for no cap; updated_by is null when no member is recorded.
type timebankJSON struct {
	OrgID        uuid.UUID    `json:"org_id"`
	Unit         string       `json:"unit"`
	CreditLimit  string       `json:"credit_limit"`
	Cap          *string      `json:"cap"`
	PoolAccount  uuid.UUID    `json:"pool_account"`
	PoolBalances balancesJSON `json:"pool_balances"`
	UpdatedBy    *uuid.UUID   `json:"updated_by"`
	UpdatedAt    time.Time    `json:"updated_at"`
}

func (a *api) toTimebankJSON(ctx context.Context, r exchange.TimebankRules) (timebankJSON, error) {
	pool, err := a.ledger.Account(ctx, r.PoolAccount)
	if err != nil {
		return timebankJSON{}, err
	}
	acc := a.toAccountJSON(ctx, pool)
	out := timebankJSON{
		OrgID: r.OrgID, Unit: r.Unit, CreditLimit: a.amount(ctx, r.CreditLimit, r.Unit),
		PoolAccount: r.PoolAccount, PoolBalances: acc.Balances, UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.Cap != nil {
		c := a.amount(ctx, *r.Cap, r.Unit)
		out.Cap = &c
	}
	if r.UpdatedBy != uuid.Nil {
		out.UpdatedBy = &r.UpdatedBy
	}
	return out, nil
}

// getTimebank shows an organization's time-bank rules and its pool's
// balances to its members and to those who act for it.
func (a *api) getTimebank(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	org, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	rules, err := a.timebanks.TimebankRules(ctx, principal(r), org)
	if err != nil {
		return err
	}
	out, err := a.toTimebankJSON(ctx, rules)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// timebankRulesRequest sets the rules. unit defaults to the time bank's
// unit, or HOUR the first time; a cap left out or null means none.
type timebankRulesRequest struct {
	Unit        string        `json:"unit" validate:"max=32,line"`
	CreditLimit decimalString `json:"credit_limit" validate:"required,decimal"`
	Cap         decimalString `json:"cap" validate:"omitempty,decimal"`
}

// putTimebank sets an organization's time-bank rules, for whoever acts for
// it: the first time (201) it opens the community pool; later (200) it
// changes the limits, which apply to accounts opened from then on (accounts
// already open keep their bounds). Sending the same rules again changes
// nothing but the time and author of the last change.
func (a *api) putTimebank(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	org, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req timebankRulesRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in := exchange.TimebankSettings{Unit: req.Unit, CreditLimit: req.CreditLimit.value(), Cap: req.Cap.ptr()}
	rules, created, err := a.timebanks.SetTimebankRules(ctx, principal(r), org, in)
	if err != nil {
		return err
	}
	out, err := a.toTimebankJSON(ctx, rules)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/orgs/"+org.String()+"/timebank")
	return writeJSON(w, status, out)
}

// donationRequest gives hours to the pool: account_id names the
// member's account when they have several in the time bank's unit.
type donationRequest struct {
	Amount    decimalString `json:"amount" validate:"required,decimal"`
	Memo      string        `json:"memo" validate:"max=1000,text"`
	AccountID string        `json:"account_id" validate:"omitempty,uuid"`
}

// hoursGrantRequest grants hours from the pool to a member of the organization.
type hoursGrantRequest struct {
	MemberID  string        `json:"member_id" validate:"required,uuid"`
	Amount    decimalString `json:"amount" validate:"required,decimal"`
	Memo      string        `json:"memo" validate:"max=1000,text"`
	AccountID string        `json:"account_id" validate:"omitempty,uuid"`
}

// hoursMove is the exchange's request for a validated donation or grant.
func hoursMove(org, member uuid.UUID, amount decimalString, memo, account, key string) exchange.TimebankMove {
	m := exchange.TimebankMove{OrgID: org, MemberID: member, Amount: amount.value(), Memo: memo, IdempotencyKey: key}
	if account != "" {
		m.Account = uuid.MustParse(account)
	}
	return m
}

// donateHours gives hours from the caller's own account in the time bank's
// unit to its pool, for members of the organization.
func (a *api) donateHours(w http.ResponseWriter, r *http.Request) error {
	org, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req donationRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	t, err := a.timebanks.DonateHours(r.Context(), principal(r), hoursMove(org, principal(r).MemberID, req.Amount, req.Memo, req.AccountID, timebankKey(r, "donation")))
	return a.writeHours(w, r, t, err)
}

// grantHours gives hours from the pool to a member of the organization, for
// those who act for it.
func (a *api) grantHours(w http.ResponseWriter, r *http.Request) error {
	org, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req hoursGrantRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	t, err := a.timebanks.GrantHours(r.Context(), principal(r), hoursMove(org, uuid.MustParse(req.MemberID), req.Amount, req.Memo, req.AccountID, timebankKey(r, "grant")))
	return a.writeHours(w, r, t, err)
}

func (a *api) writeHours(w http.ResponseWriter, r *http.Request, t ledger.Transfer, err error) error {
	if err != nil {
		return err
	}
	a.countPosted(t)
	w.Header().Set("Location", "/v1/transfers/"+t.ID.String())
	return writeJSON(w, http.StatusCreated, a.toTransferJSON(r.Context(), t))
}

// timebankKey is the ledger idempotency key of a donation or grant: derived
// from the request's Idempotency-Key, and kept apart from the keys of
// transfers made through /v1/transfers.
func timebankKey(r *http.Request, kind string) string {
	k := ledgerKey(r, -1)
	if k == "" {
		return ""
	}
	return "timebank-" + kind + ":" + k
}
