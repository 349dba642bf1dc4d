package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// hledgerBalances runs hledger over a journal: `check --strict` (which also
// checks every balance assertion), then the balance of every account, as a
// map from account name to amount.
func hledgerBalances(t *testing.T, body []byte) map[string]decimal.Decimal {
	t.Helper()
	hledger, err := exec.LookPath("hledger")
	if err != nil {
		t.Fatal("hledger is not installed, and this test checks the journal export with it: " +
			"install it (Debian/Ubuntu: apt-get install -y hledger) and run the tests again")
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(hledger, append([]string{"-f", "-"}, args...)...)
		cmd.Stdin = bytes.NewReader(body)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hledger %s: %v\n%s\njournal:\n%s", strings.Join(args, " "), err, stderr.String(), head(body, 80))
		}
		return out
	}
	run("check", "--strict")
	rows, err := csv.NewReader(bytes.NewReader(run("balance", "--flat", "--empty", "--no-total", "--layout=bare", "-O", "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]decimal.Decimal{}
	for _, row := range rows[1:] {
		out[row[0]] = decimal.RequireFromString(row[2])
	}
	return out
}

// openingBalances reads the opening transaction of a period's journal: the
// asserted balance of each account.
func openingBalances(t *testing.T, body []byte) map[string]decimal.Decimal {
	t.Helper()
	out := map[string]decimal.Decimal{}
	lines := strings.Split(string(body), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, " * opening balances") })
	if i < 0 {
		t.Fatalf("no opening balances in:\n%s", head(body, 80))
	}
	for _, l := range lines[i+1:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		name, rest, _ := strings.Cut(strings.TrimSpace(l), "  ")
		amount, asserted, ok := strings.Cut(rest, " = ")
		if !ok {
			continue // the equity posting that balances an organization's opening
		}
		if amount != asserted {
			t.Errorf("opening of %s: %s asserted as %s", name, amount, asserted)
		}
		out[name] = decimal.RequireFromString(strings.Fields(amount)[0])
	}
	return out
}

// transferTimes lists the instants of the posted transfers, in order, from
// the whole CSV export.
func transferTimes(t *testing.T, w *world) []time.Time {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(w.must200(w.call("GET", "/v1/export/journal?format=csv", w.admin.token, nil)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, rec := range recs[1:] {
		at, err := time.Parse(time.RFC3339Nano, rec[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 || !at.Equal(out[len(out)-1]) {
			out = append(out, at)
		}
	}
	return out
}

func (w *world) must200(r resp) []byte {
	w.t.Helper()
	if r.status != 200 {
		w.t.Fatalf("export: %s", r)
	}
	return r.body
}

// balanceAt is the API's balance of an account at an instant.
func (w *world) balanceAt(id string, at time.Time) decimal.Decimal {
	w.t.Helper()
	b := w.must(w.call("GET", "/v1/accounts/"+id+"/balance?at="+url.QueryEscape(at.Format(time.RFC3339Nano)), w.admin.token, nil), 200)
	return decimal.RequireFromString(b["balance"].(string))
}

// TestJournalExportOfAPeriod exports the middle of a varied history, from
// the instant of one transfer (which the period includes) to just after
// another, and checks with hledger that the opening balances are the API's
// just before from, that hledger accepts their assertions, and that the
// balances it reports are the API's at to.
func TestJournalExportOfAPeriod(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	owners := history(t, w)
	times := transferTimes(t, w)
	if len(times) < 100 {
		t.Fatalf("only %d instants", len(times))
	}
	// Transfers happen on whole minutes: half a minute after one, no
	// other has happened yet.
	from, to := times[len(times)/3], times[2*len(times)/3].Add(30*time.Second)
	q := "/v1/export/journal?from=" + url.QueryEscape(from.Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339Nano))
	body := w.must200(w.call("GET", q, w.admin.token, nil))

	opening := openingBalances(t, body)
	hl := hledgerBalances(t, body)
	names := exportNames(t, body)
	for id := range owners {
		name := names[id]
		if want := w.balanceAt(id, from.Add(-time.Microsecond)); !opening[name].Equal(want) {
			t.Errorf("%s opens at %s, the API had %s just before from", name, opening[name], want)
		}
		if want := w.balanceAt(id, to); !hl[name].Equal(want) {
			t.Errorf("%s: hledger %s, the API %s at to", name, hl[name], want)
		}
	}
	// The period holds the transfers of [from, to) and no others.
	recs, err := csv.NewReader(bytes.NewReader(w.must200(w.call("GET", q+"&format=csv", w.admin.token, nil)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, at := range times {
		if !at.Before(from) && at.Before(to) {
			want++
		}
	}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		at, _ := time.Parse(time.RFC3339Nano, rec[1])
		if at.Before(from) || !at.Before(to) {
			t.Errorf("transfer %s at %s is outside the period", rec[0], rec[1])
		}
		seen[rec[1]] = true
	}
	if len(seen) != want {
		t.Errorf("the period's CSV has transfers at %d instants, want %d", len(seen), want)
	}

	w.problem(w.call("GET", "/v1/export/journal?from=yesterday", w.admin.token, nil), 400, "malformed-request")
	w.problem(w.call("GET", "/v1/export/journal?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", w.admin.token, nil), 400, "malformed-request")
}

// TestJournalExportOfAnOrganization has the co-op's coordinator export the
// co-op's books for a period: hledger accepts them, the co-op's accounts
// have the API's balances at to, every posting touches one of them, and the
// other sides appear as counterparty accounts. Only those who govern the
// co-op may.
func TestJournalExportOfAnOrganization(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	owners := history(t, w)
	times := transferTimes(t, w)
	from, to := times[len(times)/4], times[3*len(times)/4].Add(30*time.Second)
	coop := "org:" + w.coop.ID.String()
	q := "/v1/export/journal?org=" + w.coop.ID.String() + "&from=" + url.QueryEscape(from.Format(time.RFC3339Nano)) +
		"&to=" + url.QueryEscape(to.Format(time.RFC3339Nano))
	body := w.must200(w.call("GET", q, w.coordCoop.token, nil))
	hl := hledgerBalances(t, body)
	opening := openingBalances(t, body)

	ours, counterparties := 0, 0
	names := exportNames(t, body)
	for id, owner := range owners {
		name, ok := names[id]
		if owner != coop {
			if ok {
				counterparties++
			}
			continue
		}
		ours++
		if want := w.balanceAt(id, from.Add(-time.Microsecond)); !opening[name].Equal(want) {
			t.Errorf("%s opens at %s, the API had %s just before from", name, opening[name], want)
		}
		if want := w.balanceAt(id, to); !hl[name].Equal(want) {
			t.Errorf("%s: hledger %s, the API %s at to", name, hl[name], want)
		}
	}
	if ours < 4 || counterparties == 0 {
		t.Errorf("%d of the co-op's accounts and %d counterparties compared", ours, counterparties)
	}
	if !strings.Contains(string(body), ", counterparty:") {
		t.Errorf("no account is marked as a counterparty")
	}
	// Every movement in the CSV is a posting touching the co-op: rows come
	// in pairs, debit then credit.
	recs, err := csv.NewReader(bytes.NewReader(w.must200(w.call("GET", q+"&format=csv", w.coordCoop.token, nil)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 3 || (len(recs)-1)%2 != 0 {
		t.Fatalf("%d csv rows", len(recs))
	}
	for i := 1; i+1 < len(recs); i += 2 {
		if owners[recs[i][2]] != coop && owners[recs[i+1][2]] != coop {
			t.Errorf("posting %v / %v does not touch the co-op", recs[i], recs[i+1])
		}
	}
	// The admin may too; the co-op's plain member, another organization's
	// coordinator and the time bank's member may not.
	w.must200(w.call("GET", q, w.admin.token, nil))
	w.problem(w.call("GET", q, w.cam.token, nil), 403, "forbidden")
	w.problem(w.call("GET", q, w.coordTB.token, nil), 403, "forbidden")
	w.problem(w.call("GET", q, w.ana.token, nil), 403, "forbidden")
	w.problem(w.call("GET", "/v1/export/journal?org="+uuid.NewString(), w.coordCoop.token, nil), 404, "not-found")
	w.problem(w.call("GET", "/v1/export/journal?org=coop", w.coordCoop.token, nil), 400, "malformed-request")
}
