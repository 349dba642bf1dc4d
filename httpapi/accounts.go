package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

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
	switch {
	case (req.Owner.Member == "") == (req.Owner.Org == ""):
		return invalidField("owner", "owner must name exactly one of member or org")
	case req.Owner.Org != "":
		org := uuid.MustParse(req.Owner.Org)
		switch {
		case req.Kind == string(ledger.KindMember):
			return invalidField("kind", "an organization's account cannot be of kind member")
		case req.OrgID != "":
			return invalidField("org_id", "org_id is only for a member's account; owner.org names the organization")
		case req.Kind == string(ledger.KindExternal):
			if err := requireAdmin(p, "open external accounts"); err != nil {
				return err
			}
		}
		if err := a.mayManageOrg(ctx, p, org, "owner.org"); err != nil {
			return err
		}
		owner = exchange.OrgOwner(org)
	default:
		member := uuid.MustParse(req.Owner.Member)
		if req.Kind != string(ledger.KindMember) {
			return invalidField("kind", "a member's account is of kind member")
		}
		if req.OrgID == "" && !p.Admin {
			return invalidField("org_id", "org_id is required: the organization, which you coordinate, that the member belongs to")
		}
		if err := a.checkMembership(ctx, p, member, req.OrgID); err != nil {
			return err
		}
		owner = exchange.MemberOwner(member)
	}

	in := ledger.NewAccount{
		ID: keyedID(r, "account"), Unit: req.Unit, Owner: owner, Kind: ledger.AccountKind(req.Kind), Name: req.Name,
		LowerBound: req.LowerBound.ptr(), UpperBound: req.UpperBound.ptr(),
	}
	if err := a.timebankBounds(ctx, &in, req.OrgID); err != nil {
		return err
	}
	acc, err := a.ledger.CreateAccount(ctx, in)
	if errors.Is(err, ledger.ErrUnknownUnit) {
		return &ledger.Error{Code: ledger.ENOTFOUND, Reason: ledger.ReasonUnknownUnit,
			Message: fmt.Sprintf("unknown unit %q", req.Unit), Field: "unit", Unit: req.Unit, Index: -1}
	}
	if err != nil {
		acc, err = a.sameAccount(ctx, in, err)
		if err != nil {
			return err
		}
	}
	w.Header().Set("Location", "/v1/accounts/"+acc.ID.String())
	return writeJSON(w, http.StatusCreated, a.toAccountJSON(ctx, acc))
}

// timebankBounds gives a member's account that names its organization
// (org, "" for none) and no bounds the bounds of the organization's
// time-bank rules, when they count the account's unit.
func (a *api) timebankBounds(ctx context.Context, in *ledger.NewAccount, org string) error {
	if org == "" || in.Kind != ledger.KindMember || in.LowerBound != nil || in.UpperBound != nil {
		return nil
	}
	rules, err := a.auth.TimebankRules(ctx, uuid.MustParse(org))
	if errors.Is(err, exchange.ErrNoTimebank) {
		return nil
	}
	if err != nil || rules.Unit != in.Unit {
		return err
	}
	in.LowerBound, in.UpperBound = rules.Bounds()
	return nil
}

// checkMembership checks that the principal may open an account for the
// member: the member exists and, when org is given, belongs to it and the
// principal acts for it.
func (a *api) checkMembership(ctx context.Context, p exchange.Principal, member uuid.UUID, org string) error {
	var orgID uuid.UUID
	if org != "" {
		orgID = uuid.MustParse(org)
		if err := a.mayManageOrg(ctx, p, orgID, "org_id"); err != nil {
			return err
		}
	}
	ms, err := a.auth.Memberships(ctx, member)
	if errors.Is(err, exchange.ErrUnknownMember) {
		return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownMember,
			Message: fmt.Sprintf("unknown member %s", member), Field: "owner.member", Index: -1}
	}
	if err != nil {
		return err
	}
	if org == "" {
		return nil
	}
	for _, m := range ms {
		if m.OrgID == orgID {
			return nil
		}
	}
	return &ledger.Error{Code: ledger.EINVALID, Reason: exchange.ReasonNotAMember,
		Message: fmt.Sprintf("member %s does not belong to organization %s", member, orgID), Field: "org_id", Index: -1}
}

// sameAccount answers a creation that failed because the (keyed) id is
// taken: when the account there is the one asked for, an earlier attempt of
// this request made it, and it is returned; otherwise the error stands.
func (a *api) sameAccount(ctx context.Context, in ledger.NewAccount, err error) (ledger.Account, error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ECONFLICT {
		return ledger.Account{}, err
	}
	acc, gerr := a.ledger.Account(ctx, in.ID)
	if gerr != nil || acc.Owner != in.Owner || acc.Unit != in.Unit || acc.Kind != in.Kind || acc.Name != in.Name {
		return ledger.Account{}, err
	}
	return acc, nil
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
	acc, err := a.readableAccount(r.Context(), principal(r), id)
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
	acc, err := a.readableAccount(ctx, principal(r), id)
	if err != nil {
		return err
	}
	entries, next, err := a.entriesPage(r, id, "entries")
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
	return writeJSON(w, http.StatusOK, newList(items, next))
}

// entriesPage reads the page of an account's entries that ?limit= and
// ?after= ask for, and the cursor of the next; kind names the list the
// cursors are for.
func (a *api) entriesPage(r *http.Request, id uuid.UUID, kind string) ([]ledger.Entry, string, error) {
	limit, after, err := pageQuery(r, kind)
	if err != nil {
		return nil, "", err
	}
	var before int64
	if after != "" {
		before, err = strconv.ParseInt(after, 10, 64)
		if err != nil || before <= 0 {
			return nil, "", malformed("after", "after is not a cursor of this list; pass the next value of the previous page")
		}
	}
	entries, next, err := a.ledger.Entries(r.Context(), id, ledger.Page{Limit: limit, Before: before})
	if errors.Is(err, ledger.ErrUnknownAccount) {
		return nil, "", notFoundAccount(id.String(), "")
	}
	if err != nil {
		return nil, "", err
	}
	nextCursor := ""
	if next > 0 {
		nextCursor = cursor(kind, strconv.FormatInt(next, 10))
	}
	return entries, nextCursor, nil
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
	acc, err := a.readableAccount(ctx, principal(r), id)
	if err != nil {
		return err
	}
	bal, err := a.ledger.BalanceAt(ctx, id, at)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, balanceJSON{AccountID: id, Unit: acc.Unit, At: at, Balance: a.amount(ctx, bal, acc.Unit)})
}
