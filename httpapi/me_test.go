package httpapi_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/mutual-ledger/mutual/exchange"
)

// myAccount finds an account in GET /v1/me's answer.
func myAccount(t *testing.T, me map[string]any, id string) map[string]any {
	t.Helper()
	for _, a := range me["accounts"].([]any) {
		if a := a.(map[string]any); a["id"] == id {
			return a
		}
	}
	t.Fatalf("account %s is not among mine: %v", id, me["accounts"])
	return nil
}

// TestMeShowsAccountsAndOrganizations: a member admitted to a time bank
// sees, at GET /v1/me, the time bank with her role, and her accounts with
// the unit's code and scale, posted, held and available, named as the
// export names them, the time-bank account under its organization.
func TestMeShowsAccountsAndOrganizations(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String()
	w.must(w.call("PUT", tb+"/timebank", w.coordTB.token, map[string]any{"credit_limit": "10"}), 201)
	w.must(w.call("POST", tb+"/timebank/donations", w.ben.token, map[string]any{"amount": "5"}), 201)
	lea, leaHours := w.admitToTimebank(w.coordTB, w.timebank, "Lea Núñez")
	w.must(w.call("POST", tb+"/timebank/grants", w.coordTB.token, map[string]any{"member_id": lea.id.String(), "amount": "3"}), 201)
	// A hold of one hour and a quarter out of her account.
	w.must(w.call("POST", "/v1/transfers", lea.token, map[string]any{
		"postings": []any{posting(leaHours, w.anaHours, "1.25", "HOUR")}, "pending": true}), 201)

	me := w.must(w.call("GET", "/v1/me", lea.token, nil), 200)
	if me["id"] != lea.id.String() || me["name"] != "Lea Núñez" {
		t.Errorf("me = %v", me)
	}
	orgs := me["organizations"].([]any)
	if len(orgs) != 1 {
		t.Fatalf("organizations = %v", orgs)
	}
	if o := orgs[0].(map[string]any); o["org_id"] != w.timebank.ID.String() || o["name"] != "Riverside time bank" ||
		o["kind"] != "timebank" || o["role"] != "member" {
		t.Errorf("organization = %v", o)
	}
	acc := myAccount(t, me, leaHours)
	unit := acc["unit"].(map[string]any)
	if acc["posted"] != "3.00" || acc["held"] != "1.25" || acc["available"] != "1.75" ||
		unit["code"] != "HOUR" || unit["scale"] != float64(2) || acc["org_id"] != w.timebank.ID.String() ||
		acc["status"] != "open" || acc["kind"] != "member" {
		t.Errorf("account = %v", acc)
	}
	short := strings.ReplaceAll(lea.id.String(), "-", "")[:4]
	if want := "members:Lea Núñez (" + short + "):Riverside time bank"; acc["label"] != want {
		t.Errorf("label = %q, want %q", acc["label"], want)
	}
	// The export names the account the same.
	names := exportNames(t, w.must200(w.call("GET", "/v1/export/journal", w.admin.token, nil)))
	if names[leaHours] != acc["label"] {
		t.Errorf("the export names the account %q, /v1/me %q", names[leaHours], acc["label"])
	}

	// Ana's account was opened by the admin for her alone: no organization.
	me = w.must(w.call("GET", "/v1/me", w.ana.token, nil), 200)
	if acc := myAccount(t, me, w.anaHours); acc["org_id"] != nil || acc["posted"] != "0.00" || acc["held"] != "0.00" {
		t.Errorf("Ana's account = %v", acc)
	}
}

// TestExportNamesNamesakesApart: two members called the same, each with a
// time-bank account, get two account names in the journal export, both
// readable, both accepted by hledger, and the time bank's statement labels
// the counterparties as the export does.
func TestExportNamesNamesakesApart(t *testing.T) {
	t.Parallel()
	hledger, err := exec.LookPath("hledger")
	if err != nil {
		t.Fatal("hledger is not installed, and this test checks the journal export with it: install it (apt-get install -y hledger)")
	}
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String()
	w.must(w.call("PUT", tb+"/timebank", w.coordTB.token, map[string]any{"credit_limit": "10"}), 201)
	w.must(w.call("POST", tb+"/timebank/donations", w.ben.token, map[string]any{"amount": "5"}), 201)
	// Names hledger would misread if taken raw: a colon, a semicolon, two
	// spaces, a parenthesis first.
	a1, acc1 := w.admitToTimebank(w.coordTB, w.timebank, "Ana Pérez")
	a2, acc2 := w.admitToTimebank(w.coordTB, w.timebank, "Ana Pérez")
	_, acc3 := w.admitToTimebank(w.coordTB, w.timebank, "(Jo): the  baker; Sr")
	for _, a := range []actor{a1, a2} {
		w.must(w.call("POST", tb+"/timebank/grants", w.coordTB.token, map[string]any{"member_id": a.id.String(), "amount": "2"}), 201)
	}
	w.must(w.transfer(a1.token, "", posting(acc1, acc3, "1", "HOUR")), 201)
	w.must(w.call("POST", tb+"/timebank/donations", a2.token, map[string]any{"amount": "1"}), 201)

	body := w.must200(w.call("GET", "/v1/export/journal", w.admin.token, nil))
	names := exportNames(t, body)
	n1, n2, n3 := names[acc1], names[acc2], names[acc3]
	if n1 == n2 || !strings.HasPrefix(n1, "members:Ana Pérez (") || !strings.HasPrefix(n2, "members:Ana Pérez (") {
		t.Errorf("namesakes: %q and %q", n1, n2)
	}
	if strings.Contains(n3, "  ") || strings.Contains(n3, ";") || strings.Count(n3, ":") != 2 || strings.HasPrefix(n3, "(") {
		t.Errorf("a name hledger would misread: %q", n3)
	}
	cmd := exec.Command(hledger, "-f", "-", "check", "--strict")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hledger check: %v\n%s\n%s", err, out, body)
	}
	cmd = exec.Command(hledger, "-f", "-", "accounts")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{n1, n2, n3} {
		if !strings.Contains("\n"+string(out), "\n"+n+"\n") {
			t.Errorf("hledger does not list %q:\n%s", n, out)
		}
	}
	// The time bank's statement: the pool's counterparty is labelled as in
	// the export.
	st := w.must(w.call("GET", tb+"/statement", w.coordTB.token, nil), 200)
	seen := 0
	for _, a := range st["accounts"].([]any) {
		a := a.(map[string]any)
		if a["label"] != names[a["id"].(string)] {
			t.Errorf("statement labels %s %q, the export %q", a["id"], a["label"], names[a["id"].(string)])
		}
		for _, e := range a["entries"].([]any) {
			cp := e.(map[string]any)["counterparty"].(map[string]any)
			if cp["label"] != names[cp["account_id"].(string)] {
				t.Errorf("statement labels counterparty %s %q, the export %q", cp["account_id"], cp["label"], names[cp["account_id"].(string)])
			}
			seen++
		}
	}
	if seen == 0 {
		t.Error("the statement has no entries to compare")
	}
}

// TestLeavingAnOrganization walks a member out of a time bank as a
// coordinator would: refused while she holds hours, owes hours, or has an
// agreement in progress; then her account is closed, her open listing
// withdrawn, her membership ended, and she is still a person who can sign
// in and read her history.
func TestLeavingAnOrganization(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := "/v1/orgs/" + w.timebank.ID.String()
	w.must(w.call("PUT", tb+"/timebank", w.coordTB.token, map[string]any{"credit_limit": "10"}), 201)
	w.must(w.call("POST", tb+"/timebank/donations", w.ben.token, map[string]any{"amount": "5"}), 201)
	lea, leaHours := w.admitToTimebank(w.coordTB, w.timebank, "Lea")
	leave := func(tok string, member actor) resp {
		return w.call("DELETE", tb+"/members/"+member.id.String(), tok, nil)
	}

	// She holds two hours: refused, naming the account, and nothing changes.
	w.must(w.call("POST", tb+"/timebank/grants", w.coordTB.token, map[string]any{"member_id": lea.id.String(), "amount": "2"}), 201)
	p := w.problem(leave(lea.token, lea), 409, "balance-not-settled")
	if !strings.Contains(p.Detail, leaHours) || !strings.Contains(p.Detail, "holds 2") || !strings.Contains(p.Detail, "pool") {
		t.Errorf("detail: %q", p.Detail)
	}
	// She owes one hour: refused, saying so.
	w.must(w.transfer(lea.token, "", posting(leaHours, w.anaHours, "3", "HOUR")), 201)
	p = w.problem(leave(lea.token, lea), 409, "balance-not-settled")
	if !strings.Contains(p.Detail, "owes 1") {
		t.Errorf("detail: %q", p.Detail)
	}
	// A coordinator grants the hour from the pool.
	w.must(w.call("POST", tb+"/timebank/grants", w.coordTB.token, map[string]any{"member_id": lea.id.String(), "amount": "1"}), 201)

	// An agreement proposed on her offer: refused until it is cancelled.
	offer := w.listing(lea, w.timebank, exchange.Offer, "repairs", 40, exchange.VisibilityOrg).ID.String()
	need := w.listing(w.ana, w.timebank, exchange.Need, "repairs", 40, exchange.VisibilityOrg).ID.String()
	ag := w.must(w.call("POST", "/v1/agreements", w.ana.token, map[string]any{"offer_id": offer, "need_id": need, "quantity": "1"}), 201)["id"].(string)
	w.problem(leave(lea.token, lea), 409, "agreements-in-progress")
	w.must(w.call("POST", "/v1/agreements/"+ag+"/cancel", w.ana.token, nil), 200)

	// Others may not end her membership: Ben (404, he may not see her),
	// the co-op's coordinator (404); Ana may not either.
	w.problem(leave(w.ben.token, lea), 404, "not-found")
	w.problem(leave(w.coordCoop.token, lea), 404, "not-found")
	w.problem(leave(w.ana.token, lea), 404, "not-found")

	// Settled: she leaves.
	d := w.must(leave(lea.token, lea), 200)
	if d["member_id"] != lea.id.String() || d["ended_by"] != lea.id.String() || d["role"] != "member" ||
		d["withdrawn_listings"] != float64(1) || len(d["closed_accounts"].([]any)) != 1 || d["closed_accounts"].([]any)[0] != leaHours {
		t.Errorf("departure = %v", d)
	}
	if s := w.listingStatus(offer); s != "withdrawn" {
		t.Errorf("her offer is %s, want withdrawn", s)
	}
	// Her account is closed; nothing moves into it again.
	w.problem(w.transfer(w.ana.token, "", posting(w.anaHours, leaHours, "1", "HOUR")), 422, "account-closed")
	// She is still a person: she signs in and reads her (closed) account.
	me := w.must(w.call("GET", "/v1/me", lea.token, nil), 200)
	if len(me["organizations"].([]any)) != 0 || myAccount(t, me, leaHours)["status"] != "closed" {
		t.Errorf("me after leaving = %v", me)
	}
	w.must(w.call("GET", "/v1/accounts/"+leaHours+"/entries", lea.token, nil), 200)
	// The time bank's coordinator no longer sees her; leaving again is 422.
	w.problem(w.call("GET", "/v1/members/"+lea.id.String(), w.coordTB.token, nil), 404, "not-found")
	w.problem(leave(lea.token, lea), 422, "not-a-member")

	// A coordinator removes Ben, who gave the pool five hours. Ben's
	// account was opened by the admin for him alone: it stays open, his
	// balance is his own business; only his membership ends.
	d = w.must(leave(w.coordTB.token, w.ben), 200)
	if d["ended_by"] != w.coordTB.id.String() || len(d["closed_accounts"].([]any)) != 0 {
		t.Errorf("departure = %v", d)
	}
	// The network's only admin cannot leave it.
	w.problem(w.call("DELETE", "/v1/orgs/"+w.network.ID.String()+"/members/"+w.admin.id.String(), w.admin.token, nil), 409, "last-admin")
	var n int
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM membership_departures`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d departures recorded (%v), want 2", n, err)
	}
}

// myRows are the authorization matrix's rows for leaving an organization
// (a fresh member of the time bank each time, removed by the caller) and
// for asking for a sign-in code by email.
func (w *world) myRows() []authzRow {
	return []authzRow{
		{"DELETE /v1/orgs/{id}/members/{member_id}", func(tk string) resp {
			m := w.member(w.timebank, exchange.RoleMember, "Leaver")
			return w.call("DELETE", "/v1/orgs/"+w.timebank.ID.String()+"/members/"+m.id.String(), tk, nil)
		}, []int{401, 401, 404, 404, 404, 200, 404, 200}},
		// Public; this world sends no mail (see TestSignInWithACodeByEmail).
		{"POST /v1/signin/email", func(tk string) resp {
			return w.call("POST", "/v1/signin/email", tk, map[string]any{"email": "ana@example.org"})
		}, []int{404, 404, 404, 404, 404, 404, 404, 404}},
	}
}
