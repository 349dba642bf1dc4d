package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
)

// rollupJSON is an organization's subtree rolled up at an instant: the
// posted balances of every account its organizations own, summed by unit
// for the whole subtree (totals), for the organization's own accounts
// (own) and for each child organization's subtree (children).
type rollupJSON struct {
	Org      orgJSON           `json:"org"`
	At       time.Time         `json:"at"`
	Orgs     int               `json:"orgs"`
	Totals   []unitTotalJSON   `json:"totals"`
	Own      []unitTotalJSON   `json:"own"`
	Children []childRollupJSON `json:"children"`
}

// unitTotalJSON is the sum of the balances of accounts accounts in unit.
type unitTotalJSON struct {
	Unit     string `json:"unit"`
	Balance  string `json:"balance"`
	Accounts int    `json:"accounts"`
}

// childRollupJSON is one child organization's subtree: orgs counts its
// organizations, the child included.
type childRollupJSON struct {
	Org    orgJSON         `json:"org"`
	Orgs   int             `json:"orgs"`
	Totals []unitTotalJSON `json:"totals"`
}

// getRollup rolls up an organization's subtree, now or at ?at= (RFC 3339,
// not in the future), read in one snapshot, for those who may read its
// accounts: its coordinators, those above it and the admin (404 for anyone
// else, as for an organization that does not exist).
func (a *api) getRollup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var at time.Time
	if s := r.URL.Query().Get("at"); s != "" {
		if at, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return malformed("at", `at must be an RFC 3339 time, such as "2026-03-01T09:00:00Z"`)
		}
	}
	ru, err := a.statements.Rollup(ctx, principal(r), id, at)
	if err != nil {
		return err
	}
	out := rollupJSON{Org: toOrgJSON(ru.Org), At: ru.At.UTC(), Orgs: ru.Orgs,
		Totals: a.unitTotals(ctx, ru.Totals), Own: a.unitTotals(ctx, ru.Own),
		Children: make([]childRollupJSON, len(ru.Children))}
	for i, c := range ru.Children {
		out.Children[i] = childRollupJSON{Org: toOrgJSON(c.Org), Orgs: c.Orgs, Totals: a.unitTotals(ctx, c.Totals)}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *api) unitTotals(ctx context.Context, ts []exchange.UnitTotal) []unitTotalJSON {
	out := make([]unitTotalJSON, len(ts))
	for i, t := range ts {
		out[i] = unitTotalJSON{Unit: t.Unit, Balance: a.amount(ctx, t.Balance, t.Unit), Accounts: t.Accounts}
	}
	return out
}
