package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// history makes a few hundred transfers of every sort through the API:
// single and multi-unit transfers, holds posted in part or voided,
// reversals, refusals, memos with characters a journal format could trip
// on. It returns every account with its owner string.
func history(t *testing.T, w *world) map[string]string {
	t.Helper()
	w.unit("KG_PRODUCE", 3)
	w.unit("MEAL", 0)
	owners := map[string]string{}
	type acct struct{ id, unit string }
	var accts []acct
	add := func(id, owner, unit string) {
		owners[id] = owner
		accts = append(accts, acct{id, unit})
	}
	member := func(a actor) string { return "member:" + a.id.String() }
	add(w.anaHours, member(w.ana), "HOUR")
	add(w.benHours, member(w.ben), "HOUR")
	add(w.camHours, member(w.cam), "HOUR")
	add(w.poolHours, "org:"+w.timebank.ID.String(), "HOUR")
	add(w.coopUSD, "org:"+w.coop.ID.String(), "USD")
	add(w.bankUSD, "org:"+w.coop.ID.String(), "USD")
	add(w.account(orgOwner(w.coop), "KG_PRODUCE", "organization", "-500"), "org:"+w.coop.ID.String(), "KG_PRODUCE")
	add(w.account(orgOwner(w.timebank), "KG_PRODUCE", "pool", ""), "org:"+w.timebank.ID.String(), "KG_PRODUCE")
	add(w.account(orgOwner(w.local), "USD", "fund", "-1000"), "org:"+w.local.ID.String(), "USD")
	add(w.account(orgOwner(w.coop), "MEAL", "organization", "-300"), "org:"+w.coop.ID.String(), "MEAL")
	add(w.account(memberOwner(w.cam), "MEAL", "member", "-5"), member(w.cam), "MEAL")
	add(w.account(memberOwner(w.ana), "MEAL", "member", ""), member(w.ana), "MEAL")
	add(w.account(orgOwner(w.coop), "HOUR", "organization", "-50"), "org:"+w.coop.ID.String(), "HOUR")
	byUnit := map[string][]string{}
	for _, a := range accts {
		byUnit[a.unit] = append(byUnit[a.unit], a.id)
	}
	scales := map[string]int32{"HOUR": 2, "USD": 2, "KG_PRODUCE": 3, "MEAL": 0}
	units := []string{"HOUR", "USD", "KG_PRODUCE", "MEAL"}
	memos := []string{"bike repair", "rent; march | split", "(draft) groceries", "=SUM(A1:A9)", "café ☕ niño", "two\nlines", "", "  spaced  out  "}

	rng := rand.New(rand.NewPCG(7, 11))
	amount := func(unit string) string {
		scale := scales[unit]
		cents := rng.Int64N(5000) + 1
		return decimal.New(cents, -scale).StringFixed(scale)
	}
	pair := func(unit string) (string, string) {
		ids := byUnit[unit]
		i := rng.IntN(len(ids))
		j := (i + 1 + rng.IntN(len(ids)-1)) % len(ids)
		return ids[i], ids[j]
	}
	var posted []string
	counts := map[int]int{}
	for range 300 {
		w.clock.Advance(time.Duration(rng.IntN(600)) * time.Minute)
		memo := memos[rng.IntN(len(memos))]
		switch k := rng.IntN(10); {
		case k < 5: // one posting
			u := units[rng.IntN(len(units))]
			from, to := pair(u)
			r := w.transfer(w.admin.token, memo, posting(from, to, amount(u), u))
			counts[r.status]++
			if r.status == 201 {
				posted = append(posted, r.object(t)["id"].(string))
			}
		case k < 7: // several units at once
			u1, u2 := units[rng.IntN(2)], units[2+rng.IntN(2)]
			f1, t1 := pair(u1)
			f2, t2 := pair(u2)
			r := w.transfer(w.admin.token, memo, posting(f1, t1, amount(u1), u1), posting(f2, t2, amount(u2), u2))
			counts[r.status]++
		case k < 9: // a hold, then posted in part or voided
			u := units[rng.IntN(len(units))]
			from, to := pair(u)
			amt := amount(u)
			r := w.call("POST", "/v1/transfers", w.admin.token, map[string]any{
				"postings": []any{posting(from, to, amt, u)}, "pending": true, "memo": memo})
			counts[r.status]++
			if r.status != 201 {
				continue
			}
			id := r.object(t)["id"].(string)
			if rng.IntN(3) == 0 {
				w.must(w.call("POST", "/v1/transfers/"+id+"/void", w.admin.token, nil), 200)
				continue
			}
			part := decimal.RequireFromString(amt).Mul(decimal.NewFromFloat(0.5)).Truncate(scales[u])
			if part.IsZero() {
				part = decimal.RequireFromString(amt)
			}
			w.must(w.call("POST", "/v1/transfers/"+id+"/post", w.admin.token, map[string]any{"amounts": []string{part.String()}}), 201)
		default: // a reversal of an earlier transfer
			if len(posted) == 0 {
				continue
			}
			r := w.call("POST", "/v1/transfers/"+posted[rng.IntN(len(posted))]+"/reverse", w.admin.token, nil)
			counts[r.status]++
			if r.status != 201 && r.status != 409 && r.status != 422 {
				t.Fatalf("reversal: %s", r)
			}
		}
	}
	if counts[201] < 100 || counts[422] == 0 {
		t.Fatalf("the history is not varied enough: %v", counts)
	}
	return owners
}

func TestJournalExportMatchesHledger(t *testing.T) {
	t.Parallel()
	hledger, err := exec.LookPath("hledger")
	if err != nil {
		t.Fatal("hledger is not installed, and this test checks the journal export with it: " +
			"install it (Debian/Ubuntu: apt-get install -y hledger) and run the tests again")
	}
	w := newWorld(t)
	owners := history(t, w)

	r := w.call("GET", "/v1/export/journal?format=hledger", w.admin.token, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("export: %d %s\n%s", r.status, r.header.Get("Content-Type"), w.logs.String()[max(0, len(w.logs.String())-2000):])
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(hledger, append([]string{"-f", "-"}, args...)...)
		cmd.Stdin = bytes.NewReader(r.body)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hledger %s: %v\n%s\njournal:\n%s", strings.Join(args, " "), err, stderr.String(), head(r.body, 60))
		}
		return out
	}
	// hledger accepts the journal, with every account and commodity
	// declared.
	run("check", "--strict")
	out := run("balance", "--flat", "--empty", "--no-total", "--layout=bare", "-O", "csv")
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	hl := map[string][2]string{} // account name → commodity, amount
	for _, row := range rows[1:] {
		hl[row[0]] = [2]string{row[1], row[2]}
	}
	// Its balance of every account is the API's, digit for digit.
	checked := 0
	names := exportNames(t, r.body)
	for id := range owners {
		acc := w.must(w.call("GET", "/v1/accounts/"+id, w.admin.token, nil), 200)
		unit := acc["unit"].(string)
		want := decimal.RequireFromString(acc["balances"].(map[string]any)["posted"].(string))
		name := names[id]
		got, ok := hl[name]
		if !ok {
			if !want.IsZero() {
				t.Errorf("hledger has no balance for %s, the API %s %s", name, want, unit)
			}
			continue
		}
		checked++
		amt := decimal.RequireFromString(got[1])
		if !amt.Equal(want) || (!amt.IsZero() && got[0] != unit) {
			t.Errorf("%s: hledger %s %s, the API %s %s", name, got[1], got[0], want, unit)
		}
		delete(hl, name)
	}
	for name := range hl {
		t.Errorf("hledger has an account the API does not: %s", name)
	}
	if checked < len(owners)-1 {
		t.Errorf("only %d of %d accounts compared", checked, len(owners))
	}

	// The CSV export sums to the same balances.
	r = w.call("GET", "/v1/export/journal?format=csv", w.admin.token, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv export: %d %s", r.status, r.header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "transfer_id,posted_at,account_id,unit,amount,memo" {
		t.Errorf("csv header %v", recs[0])
	}
	sums := map[string]decimal.Decimal{}
	for _, rec := range recs[1:] {
		sums[rec[2]] = sums[rec[2]].Add(decimal.RequireFromString(rec[4]))
		if _, err := time.Parse(time.RFC3339Nano, rec[1]); err != nil {
			t.Errorf("posted_at %q", rec[1])
		}
		if strings.HasPrefix(rec[5], "=") {
			t.Errorf("a memo a spreadsheet would run: %q", rec[5])
		}
	}
	for id := range owners {
		posted, _ := w.balance(id)
		if !sums[id].Equal(decimal.RequireFromString(posted)) {
			t.Errorf("csv sums account %s to %s, the API %s", id, sums[id], posted)
		}
	}

	// Admins only; two formats.
	w.problem(w.call("GET", "/v1/export/journal", w.coordCoop.token, nil), 403, "forbidden")
	w.problem(w.call("GET", "/v1/export/journal?format=xlsx", w.admin.token, nil), 400, "malformed-request")
}

func head(b []byte, lines int) string {
	s := strings.SplitN(string(b), "\n", lines+1)
	if len(s) > lines {
		s = append(s[:lines], fmt.Sprintf("… (%d bytes)", len(b)))
	}
	return strings.Join(s, "\n")
}

// exportNames reads the account directives of an hledger export ("account
// NAME  ; id:ID, ..."): each account's id to its name.
func exportNames(t *testing.T, body []byte) map[string]string {
	t.Helper()
	names := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, "account ")
		if !ok {
			continue
		}
		name, tags, ok := strings.Cut(rest, "  ; ")
		if !ok {
			continue
		}
		for _, tag := range strings.Split(tags, ", ") {
			if id, ok := strings.CutPrefix(tag, "id:"); ok {
				if _, dup := names[id]; dup {
					t.Errorf("account %s is declared twice", id)
				}
				names[id] = name
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no account directives in the export:\n%s", body)
	}
	return names
}
