package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// statementService reads organizations' statements, deciding itself who may.
// *exchange.Store implements it; see its methods of the same names for
// the errors.
type statementService interface {
	Statement(ctx context.Context, p exchange.Principal, orgID uuid.UUID, from, to time.Time) (exchange.Statement, error)
	SubtreeStatement(ctx context.Context, p exchange.Principal, orgID uuid.UUID, from, to time.Time) (exchange.Statement, error)
	Rollup(ctx context.Context, p exchange.Principal, orgID uuid.UUID, at time.Time) (exchange.Rollup, error)
}

// statementJSON is an organization's statement over [from, to): from is
// null for a statement from the beginning.
type statementJSON struct {
	Org      orgJSON                `json:"org"`
	From     *time.Time             `json:"from"`
	To       time.Time              `json:"to"`
	Subtree  bool                   `json:"subtree"`
	Accounts []statementAccountJSON `json:"accounts"`
	// Obligations are what the organization was owed and owed at to.
	Obligations []statementObligationJSON `json:"obligations"`
}

// statementObligationJSON is one open obligation at the statement's end:
// direction receivable (the organization is owed) or payable (it owes).
type statementObligationJSON struct {
	ID               uuid.UUID `json:"id"`
	OrgID            uuid.UUID `json:"org_id"`
	Direction        string    `json:"direction"`
	Counterparty     uuid.UUID `json:"counterparty_org"`
	CounterpartyName string    `json:"counterparty_name"`
	Unit             string    `json:"unit"`
	Amount           string    `json:"amount"`
	Outstanding      string    `json:"outstanding"`
	DueDate          string    `json:"due_date"`
	Reference        string    `json:"reference"`
	Status           string    `json:"status"`
}

// statementAccountJSON is one account of a statement: closing_balance is
// opening_balance plus the entries' amounts.
type statementAccountJSON struct {
	ID             uuid.UUID            `json:"id"`
	OrgID          uuid.UUID            `json:"org_id"`
	Unit           string               `json:"unit"`
	Kind           string               `json:"kind"`
	Name           string               `json:"name"`
	Label          string               `json:"label"`
	Status         string               `json:"status"`
	OpeningBalance string               `json:"opening_balance"`
	ClosingBalance string               `json:"closing_balance"`
	Entries        []statementEntryJSON `json:"entries"`
}

// statementEntryJSON is one movement of the account, oldest first: amount
// is negative for value going out, balance_after the running balance.
// metadata is the transfer's (a trade's id, in-kind support's
// description), null when it has none.
type statementEntryJSON struct {
	PostedAt     time.Time        `json:"posted_at"`
	TransferID   uuid.UUID        `json:"transfer_id"`
	Posting      int              `json:"posting"`
	Amount       string           `json:"amount"`
	BalanceAfter string           `json:"balance_after"`
	Memo         string           `json:"memo"`
	Metadata     json.RawMessage  `json:"metadata"`
	Counterparty counterpartyJSON `json:"counterparty"`
}

// counterpartyJSON is the account on the other side of an entry's posting;
// org_name is set when an organization owns it.
type counterpartyJSON struct {
	AccountID   uuid.UUID `json:"account_id"`
	AccountName string    `json:"account_name"`
	Label       string    `json:"label"`
	Owner       ownerJSON `json:"owner"`
	OrgName     string    `json:"org_name"`
}

// getStatement gives an organization's statement over ?from= to ?to= (RFC
// 3339; from the beginning, and up to now, when absent) to those who may
// read its accounts: its coordinators, those above it and the admin. With
// ?subtree=true it covers every organization under it too, each account
// and obligation naming its org_id. It is
// read in one snapshot and not paginated: a period of more than
// exchange.MaxStatementEntries entries is refused (422) with a request to
// ask for a shorter one.
func (a *api) getStatement(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var from, to time.Time
	for _, q := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := r.URL.Query().Get(q.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return malformed(q.name, `%s must be an RFC 3339 time, such as "2026-03-01T09:00:00Z"`, q.name)
			}
			*q.t = t
		}
	}
	read := a.statements.Statement
	switch r.URL.Query().Get("subtree") {
	case "", "false":
	case "true":
		read = a.statements.SubtreeStatement
	default:
		return malformed("subtree", `subtree must be true or false`)
	}
	st, err := read(ctx, principal(r), id, from, to)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toStatementJSON(ctx, st))
}

func (a *api) toStatementJSON(ctx context.Context, st exchange.Statement) statementJSON {
	out := statementJSON{Org: toOrgJSON(st.Org), From: utc(nonZero(st.From)), To: st.To.UTC(), Subtree: st.Subtree,
		Accounts: make([]statementAccountJSON, len(st.Accounts))}
	for i, acc := range st.Accounts {
		amt := func(d decimal.Decimal) string { return a.amount(ctx, d, acc.Unit) }
		j := statementAccountJSON{
			ID: acc.ID, OrgID: acc.OrgID, Unit: acc.Unit, Kind: string(acc.Kind), Name: acc.Name, Label: acc.Label, Status: string(acc.Status),
			OpeningBalance: amt(acc.Opening), ClosingBalance: amt(acc.Closing),
			Entries: make([]statementEntryJSON, len(acc.Entries)),
		}
		for k, e := range acc.Entries {
			meta := e.Metadata
			if len(meta) == 0 {
				meta = nil
			}
			j.Entries[k] = statementEntryJSON{
				PostedAt: e.PostedAt.UTC(), TransferID: e.TransferID, Posting: e.Posting,
				Amount: amt(e.Amount), BalanceAfter: amt(e.BalanceAfter), Memo: e.Memo, Metadata: meta,
				Counterparty: counterpartyJSON{
					AccountID: e.Counterparty.AccountID, AccountName: e.Counterparty.AccountName, Label: e.Counterparty.Label,
					Owner: toOwnerJSON(e.Counterparty.Owner), OrgName: e.Counterparty.OrgName,
				},
			}
		}
		out.Accounts[i] = j
	}
	out.Obligations = make([]statementObligationJSON, len(st.Obligations))
	for i, o := range st.Obligations {
		dir := "payable"
		if o.Receivable {
			dir = "receivable"
		}
		out.Obligations[i] = statementObligationJSON{ID: o.ID, OrgID: o.OrgID, Direction: dir, Counterparty: o.Counterparty,
			CounterpartyName: o.CounterpartyName, Unit: o.Unit, Amount: a.amount(ctx, o.Amount, o.Unit),
			Outstanding: a.amount(ctx, o.Outstanding, o.Unit), DueDate: o.DueDate.Format(time.DateOnly),
			Reference: o.Reference, Status: string(o.Status)}
	}
	return out
}

func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
