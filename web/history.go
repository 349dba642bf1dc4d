package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// historyService is what my history reads: an account's entries, newest
// first, and the transfers they belong to (for what each was).
type historyService interface {
	Entries(ctx context.Context, p exchange.Principal, id uuid.UUID, pg ledger.Page) (ledger.Account, []ledger.Entry, int64, error)
	TransferFor(ctx context.Context, p exchange.Principal, id uuid.UUID) (ledger.Transfer, error)
	// TransfersFor returns the transfers among ids that p may read, by id.
	TransfersFor(ctx context.Context, p exchange.Principal, ids []uuid.UUID) (map[uuid.UUID]ledger.Transfer, error)
}

func (s *Server) registerHistoryPages() {
	s.member("GET /history", s.history)
	s.member("GET /history.csv", s.historyCSV)
}

// historyPage is how many entries a page of history shows.
const historyPage = 25

// entryView is one entry of my history.
type entryView struct {
	When, What, Amount, Balance string
	Credit                      bool
}

type historyData struct {
	Accounts []Option
	Account  balanceView
	Entries  []entryView
	// Older is the link to the next page back, "" on the last; Newest
	// the link to the first page, "" on it.
	Older, Newest, CSV string
}

// historyAccount returns the account of mine the request names (account=),
// or my first; ok is false when I have none.
func (s *Server) historyAccount(r *Request) (ledger.Account, []ledger.Account, bool, error) {
	accs, err := s.ex.MemberAccounts(r.Context(), *r.Principal, r.Principal.MemberID)
	if err != nil {
		return ledger.Account{}, nil, false, err
	}
	want := r.URL.Query().Get("account")
	for _, a := range accs {
		if a.ID.String() == want {
			return a, accs, true, nil
		}
	}
	if want != "" {
		// Not one of mine: as if it did not exist.
		return ledger.Account{}, accs, false, errNotFound
	}
	if len(accs) == 0 {
		return ledger.Account{}, accs, false, nil
	}
	return accs[0], accs, true, nil
}

// history shows the entries of one of my accounts, newest first, each
// with the balance after it, a page at a time, and a link to all of them
// as CSV.
func (s *Server) history(w http.ResponseWriter, r *Request) error {
	acc, accs, ok, err := s.historyAccount(r)
	if err != nil {
		return err
	}
	var d historyData
	if !ok {
		return s.render(w, r, http.StatusOK, "history", "history.title", nil, d)
	}
	for _, a := range accs {
		d.Accounts = append(d.Accounts, Option{a.ID.String(), a.Name + " (" + unitName(r.Lang, a.Unit) + ")"})
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	acc, entries, next, err := s.ex.Entries(r.Context(), *r.Principal, acc.ID, ledger.Page{Limit: historyPage, Before: before})
	if err != nil {
		return err
	}
	scales, err := s.scales(r, acc.Unit)
	if err != nil {
		return err
	}
	sc := scales[acc.Unit]
	d.Account = s.viewBalance(r, acc, scales)
	memos, err := s.entriesWhat(r, entries)
	if err != nil {
		return err
	}
	for _, e := range entries {
		what := memos[e.TransferID]
		d.Entries = append(d.Entries, entryView{When: r.Lang.DateTime(e.PostedAt), What: what,
			Amount: signed(r.Lang, e.Amount, sc), Balance: r.Lang.Fixed(e.BalanceAfter, sc), Credit: e.Amount.Sign() > 0})
	}
	q := url.Values{"account": {acc.ID.String()}}
	if next != 0 {
		older := url.Values{"account": {acc.ID.String()}, "before": {strconv.FormatInt(next, 10)}}
		d.Older = "/history?" + older.Encode()
	}
	if before != 0 {
		d.Newest = "/history?" + q.Encode()
	}
	d.CSV = "/history.csv?" + q.Encode()
	return s.render(w, r, http.StatusOK, "history", "history.title", nil, d)
}

// signed writes an entry's amount with its sign, "+" for what came in.
func signed(l *Lang, d decimal.Decimal, scale int32) string {
	if d.Sign() > 0 {
		return "+" + l.Fixed(d, scale)
	}
	return l.Fixed(d, scale)
}

// entriesWhat says what each entry was for, by transfer: a donation to the
// pool or a grant from it (in the person's language), else the transfer's
// memo (an agreement's is its offer's and need's titles), else the
// transfer's hold's memo. The transfers, and then their holds, are read in
// one round trip each, whatever the number of entries.
func (s *Server) entriesWhat(r *Request, entries []ledger.Entry) (map[uuid.UUID]string, error) {
	ids := make([]uuid.UUID, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.TransferID)
	}
	ts, err := s.ex.TransfersFor(r.Context(), *r.Principal, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]string, len(ts))
	var holds []uuid.UUID
	for id, t := range ts {
		what := t.Memo
		var meta struct{ Kind string }
		if json.Unmarshal(t.Metadata, &meta) == nil && (meta.Kind == "donation" || meta.Kind == "grant") {
			label := r.Lang.T("history.kind." + meta.Kind)
			if what != "" {
				label += ": " + what
			}
			what = label
		}
		if what == "" && t.PendingID != nil {
			holds = append(holds, *t.PendingID)
		}
		out[id] = what
	}
	if len(holds) == 0 {
		return out, nil
	}
	hs, err := s.ex.TransfersFor(r.Context(), *r.Principal, holds)
	if err != nil {
		return nil, err
	}
	for id, t := range ts {
		if out[id] == "" && t.PendingID != nil {
			out[id] = hs[*t.PendingID].Memo
		}
	}
	return out, nil
}

// historyCSV sends every entry of one of my accounts as CSV, newest
// first: amounts exactly as the ledger holds them, with a point for the
// decimals whatever the language, so a spreadsheet reads them as numbers;
// the column names in the person's language.
func (s *Server) historyCSV(w http.ResponseWriter, r *Request) error {
	acc, _, ok, err := s.historyAccount(r)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound
	}
	scales, err := s.scales(r, acc.Unit)
	if err != nil {
		return err
	}
	sc := scales[acc.Unit]
	var rows [][]string
	pg := ledger.Page{Limit: 1000}
	for {
		_, entries, next, err := s.ex.Entries(r.Context(), *r.Principal, acc.ID, pg)
		if err != nil {
			return err
		}
		memos, err := s.entriesWhat(r, entries)
		if err != nil {
			return err
		}
		for _, e := range entries {
			what := memos[e.TransferID]
			rows = append(rows, []string{e.PostedAt.UTC().Format(time.RFC3339), what, exact(e.Amount, sc), exact(e.BalanceAfter, sc),
				acc.Unit, e.TransferID.String()})
		}
		if next == 0 {
			break
		}
		pg.Before = next
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="history-`+acc.ID.String()+`.csv"`)
	h.Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	t := r.Lang.T
	cw.Write([]string{t("history.csv.date"), t("history.csv.what"), t("history.csv.amount"), t("history.csv.balance"), t("history.csv.unit"), t("history.csv.transfer")})
	for _, row := range rows {
		cw.Write(csvSafe(row))
	}
	cw.Flush()
	return cw.Error()
}

// exact writes an amount with its unit's decimal places, or every one it
// has when it has more (never rounded).
func exact(d decimal.Decimal, scale int32) string {
	if e := d.Exponent(); e < -scale {
		return d.StringFixed(-e)
	}
	return d.StringFixed(scale)
}

// csvSafe keeps a spreadsheet from reading a memo as a formula: a cell
// that begins with one of its signs gets a leading apostrophe. Amounts
// are left as they are (a "-3.00" is a number).
func csvSafe(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		if i == 1 && c != "" && (c[0] == '=' || c[0] == '+' || c[0] == '-' || c[0] == '@' || c[0] == '\t' || c[0] == '\r') {
			c = "'" + c
		}
		out[i] = c
	}
	return out
}
