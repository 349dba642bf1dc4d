package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// accountService opens accounts and reads them for a principal, deciding
// itself who may; *exchange.Store implements it (see its methods of the
// same names for the errors).
type accountService interface {
	OpenAccount(ctx context.Context, p exchange.Principal, in ledger.NewAccount, orgID uuid.UUID) (ledger.Account, error)
	Account(ctx context.Context, p exchange.Principal, id uuid.UUID) (ledger.Account, error)
	Entries(ctx context.Context, p exchange.Principal, id uuid.UUID, pg ledger.Page) (ledger.Account, []ledger.Entry, int64, error)
	AccountTransfers(ctx context.Context, p exchange.Principal, id uuid.UUID, pg ledger.Page) ([]ledger.Transfer, int64, error)
	BalanceAt(ctx context.Context, p exchange.Principal, id uuid.UUID, at time.Time) (ledger.Account, decimal.Decimal, error)
}

func (a *api) registerAccountRoutes(rt *router) {
	rt.write("/v1/accounts", a.createAccount)
	rt.read(http.MethodGet, "/v1/accounts/{id}", a.getAccount)
	rt.read(http.MethodGet, "/v1/accounts/{id}/entries", a.listEntries)
	rt.read(http.MethodGet, "/v1/accounts/{id}/balance", a.getBalance)
}

// ownerJSON names an account's owner: a member or an organization; other
// holds an owner string the exchange did not write (none for most accounts).
type ownerJSON struct {
	Member *uuid.UUID `json:"member,omitempty"`
	Org    *uuid.UUID `json:"org,omitempty"`
	Other  string     `json:"other,omitempty"`
}

func toOwnerJSON(owner string) ownerJSON {
	kind, id, ok := exchange.ParseOwner(owner)
	switch {
	case ok && kind == exchange.OwnerMember:
		return ownerJSON{Member: &id}
	case ok && kind == exchange.OwnerOrg:
		return ownerJSON{Org: &id}
	}
	return ownerJSON{Other: owner}
}

type balancesJSON struct {
	Posted         string `json:"posted"`
	PendingDebits  string `json:"pending_debits"`
	PendingCredits string `json:"pending_credits"`
	Available      string `json:"available"`
}

// accountJSON is an account as the API shows it. Amounts carry the unit's
// scale; a null lower bound means unbounded below (external accounts), a
// null upper bound no upper bound.
type accountJSON struct {
	ID         uuid.UUID    `json:"id"`
	Owner      ownerJSON    `json:"owner"`
	Unit       string       `json:"unit"`
	Kind       string       `json:"kind"`
	Name       string       `json:"name"`
	Status     string       `json:"status"`
	LowerBound *string      `json:"lower_bound"`
	UpperBound *string      `json:"upper_bound"`
	Balances   balancesJSON `json:"balances"`
	CreatedAt  time.Time    `json:"created_at"`
}

func (a *api) toAccountJSON(ctx context.Context, acc ledger.Account) accountJSON {
	amt := func(d decimal.Decimal) string { return a.amount(ctx, d, acc.Unit) }
	opt := func(d *decimal.Decimal) *string {
		if d == nil {
			return nil
		}
		s := amt(*d)
		return &s
	}
	return accountJSON{
		ID: acc.ID, Owner: toOwnerJSON(acc.Owner), Unit: acc.Unit, Kind: string(acc.Kind), Name: acc.Name,
		Status: string(acc.Status), LowerBound: opt(acc.LowerBound), UpperBound: opt(acc.UpperBound),
		Balances: balancesJSON{
			Posted: amt(acc.Posted), PendingDebits: amt(acc.PendingDebits),
			PendingCredits: amt(acc.PendingCredits), Available: amt(acc.Available),
		},
		CreatedAt: acc.CreatedAt.UTC(),
	}
}

type ownerRequest struct {
	Member string `json:"member" validate:"omitempty,uuid"`
	Org    string `json:"org" validate:"omitempty,uuid"`
}

type createAccountRequest struct {
	Owner      ownerRequest  `json:"owner" validate:"required"`
	OrgID      string        `json:"org_id" validate:"omitempty,uuid"`
	Unit       string        `json:"unit" validate:"required,max=32,line"`
	Kind       string        `json:"kind" validate:"required,oneof=member organization pool fund external"`
	Name       string        `json:"name" validate:"max=200,line"`
	LowerBound decimalString `json:"lower_bound" validate:"omitempty,decimal"`
	UpperBound decimalString `json:"upper_bound" validate:"omitempty,decimal"`
}

// createAccount opens an account. Who may:
//   - an organization's account (owner.org): whoever acts for the
//     organization (its coordinators, those of the organizations above it,
//     the admin);
//   - a member's account (owner.member, kind member): a coordinator of an
//     organization the member belongs to, named in org_id; the admin, for
//     whom org_id is optional;
//   - an external account (unbounded below, so it can create value from
//     nothing): the admin only.
//
// A member's account in the unit of its organization's time bank, opened
// with neither bound, gets the time bank's credit limit and cap.
//
// With an Idempotency-Key the account's id is derived from the key, so that
// a retry after a crash finds the account made the first time.
func (a *api) createAccount(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req createAccountRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	var owner string
	var orgID uuid.UUID
	switch {
	case (req.Owner.Member == "") == (req.Owner.Org == ""):
		return invalidField("owner", "owner must name exactly one of member or org")
	case req.Owner.Org != "":
		switch {
		case req.Kind == string(ledger.KindMember):
			return invalidField("kind", "an organization's account cannot be of kind member")
		case req.OrgID != "":
			return invalidField("org_id", "org_id is only for a member's account; owner.org names the organization")
		}
		owner = exchange.OrgOwner(uuid.MustParse(req.Owner.Org))
	default:
		if req.Kind != string(ledger.KindMember) {
			return invalidField("kind", "a member's account is of kind member")
		}
		if req.OrgID == "" && !p.Admin {
			return invalidField("org_id", "org_id is required: the organization, which you coordinate, that the member belongs to")
		}
		if req.OrgID != "" {
			orgID = uuid.MustParse(req.OrgID)
		}
		owner = exchange.MemberOwner(uuid.MustParse(req.Owner.Member))
	}
	in := ledger.NewAccount{
		ID: keyedID(r, "account"), Unit: req.Unit, Owner: owner, Kind: ledger.AccountKind(req.Kind), Name: req.Name,
		LowerBound: req.LowerBound.ptr(), UpperBound: req.UpperBound.ptr(),
	}
	acc, err := a.accounts.OpenAccount(ctx, p, in, orgID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/accounts/"+acc.ID.String())
	return writeJSON(w, http.StatusCreated, a.toAccountJSON(ctx, acc))
}

func invalidField(field, msg string) error {
	return &apiError{kind: kindValidation, detail: msg, fields: []FieldError{{Field: field, Message: msg}}}
}

// getAccount shows an account with its balances, to those who may read it.
func (a *api) getAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundAccountPath)
	if err != nil {
		return err
	}
	acc, err := a.accounts.Account(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toAccountJSON(r.Context(), acc))
}

// entryJSON is one movement of an account: a side of a posting of a posted
// transfer. amount is negative for a debit.
type entryJSON struct {
	AccountID    uuid.UUID `json:"account_id"`
	Seq          int64     `json:"seq"`
	TransferID   uuid.UUID `json:"transfer_id"`
	Posting      int       `json:"posting"`
	Amount       string    `json:"amount"`
	BalanceAfter string    `json:"balance_after"`
	PostedAt     time.Time `json:"posted_at"`
}

// listEntries lists an account's entries, newest first.
func (a *api) listEntries(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundAccountPath)
	if err != nil {
		return err
	}
	pg, err := entriesQuery(r, "entries")
	if err != nil {
		return err
	}
	acc, entries, next, err := a.accounts.Entries(ctx, principal(r), id, pg)
	if err != nil {
		return err
	}
	items := make([]entryJSON, len(entries))
	for i, e := range entries {
		items[i] = entryJSON{
			AccountID: e.AccountID, Seq: e.Seq, TransferID: e.TransferID, Posting: e.Posting,
			Amount: a.amount(ctx, e.Amount, acc.Unit), BalanceAfter: a.amount(ctx, e.BalanceAfter, acc.Unit),
			PostedAt: e.PostedAt.UTC(),
		}
	}
	return writeJSON(w, http.StatusOK, newList(items, entriesCursor("entries", next)))
}

// entriesQuery reads the page of an account's entries that ?limit= and
// ?after= ask for; kind names the list the cursors are for.
func entriesQuery(r *http.Request, kind string) (ledger.Page, error) {
	limit, after, err := pageQuery(r, kind)
	if err != nil {
		return ledger.Page{}, err
	}
	var before int64
	if after != "" {
		before, err = strconv.ParseInt(after, 10, 64)
		if err != nil || before <= 0 {
			return ledger.Page{}, malformed("after", "after is not a cursor of this list; pass the next value of the previous page")
		}
	}
	return ledger.Page{Limit: limit, Before: before}, nil
}

// entriesCursor is the cursor of the next page of a list of kind paged by
// an account's entries, or "" for none.
func entriesCursor(kind string, next int64) string {
	if next <= 0 {
		return ""
	}
	return cursor(kind, strconv.FormatInt(next, 10))
}

type balanceJSON struct {
	AccountID uuid.UUID `json:"account_id"`
	Unit      string    `json:"unit"`
	At        time.Time `json:"at"`
	Balance   string    `json:"balance"`
}

// getBalance gives an account's posted balance at an instant (?at=, RFC
// 3339; now when absent).
func (a *api) getBalance(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundAccountPath)
	if err != nil {
		return err
	}
	at := a.now().UTC()
	if s := r.URL.Query().Get("at"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return malformed("at", `at must be an RFC 3339 time, such as "2026-03-01T09:00:00Z"`)
		}
		at = t.UTC()
	}
	acc, bal, err := a.accounts.BalanceAt(ctx, principal(r), id, at)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, balanceJSON{AccountID: id, Unit: acc.Unit, At: at, Balance: a.amount(ctx, bal, acc.Unit)})
}
