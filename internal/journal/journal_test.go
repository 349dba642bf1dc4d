package journal

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The export as a whole is tested through the API with hledger itself (see
// httpapi's TestJournalExportMatchesHledger); these are the spellings.

func TestAccountNames(t *testing.T) {
	ana1 := uuid.MustParse("3f2a91c0-0000-7000-8000-000000000001")
	ana2 := uuid.MustParse("3f2a55d0-0000-7000-8000-000000000002")
	ben := uuid.MustParse("0194aaaa-0000-7000-8000-000000000003")
	barrio := uuid.MustParse("0195bbbb-0000-7000-8000-000000000004")
	norte1 := uuid.MustParse("0196cccc-0000-7000-8000-000000000005")
	norte2 := uuid.MustParse("0197dddd-0000-7000-8000-000000000006")
	acct := func(n int, owner, unit, kind, name string) account {
		return account{id: uuid.MustParse(fmt.Sprintf("00000000-0000-7000-8000-%012d", n)), owner: owner, unit: unit, kind: kind, name: name}
	}
	m := func(id uuid.UUID) string { return "member:" + id.String() }
	o := func(id uuid.UUID) string { return "org:" + id.String() }
	accts := []account{
		acct(1, m(ana1), "HOUR", "member", "Barrio Norte"),
		acct(2, m(ana2), "HOUR", "member", "Barrio Norte"),
		acct(3, m(ben), "HOUR", "member", "Barrio Norte"),
		acct(4, m(ben), "USD", "member", "Barrio Norte"),
		acct(5, m(ben), "USD", "member", "Barrio Norte"),
		acct(6, o(barrio), "HOUR", "pool", "Barrio Norte community pool"),
		acct(7, o(norte1), "USD", "organization", "Caja: común; (vieja)"),
		acct(8, o(norte2), "USD", "organization", ""),
		acct(9, "", "USD", "external", "world"),
	}
	members := []holder{{ana1, "Ana  Pérez"}, {ana2, "Ana Pérez"}, {ben, "Ben: Ruiz"}}
	orgs := []holder{{barrio, "Barrio Norte"}, {norte1, "Norte"}, {norte2, "Norte"}}
	got := nameAccounts(accts, members, orgs)
	want := map[int]string{
		1: "members:Ana Pérez (3f2a9):Barrio Norte",
		2: "members:Ana Pérez (3f2a5):Barrio Norte",
		3: "members:Ben- Ruiz (0194):Barrio Norte HOUR",
		6: "orgs:Barrio Norte:pool",
		7: "orgs:Norte (0196):Caja- común, (vieja)",
		8: "orgs:Norte (0197):organization",
		9: "unowned:world",
	}
	// Accounts 4 and 5 differ only past their ids' first digits: the
	// short ids must grow until they differ.
	want[4] = "members:Ben- Ruiz (0194):Barrio Norte USD (00000000000070008000000000000004)"
	want[5] = "members:Ben- Ruiz (0194):Barrio Norte USD (00000000000070008000000000000005)"
	seen := map[string]bool{}
	for n, w := range want {
		id := accts[n-1].id
		if got[id] != w {
			t.Errorf("account %d: %q, want %q", n, got[id], w)
		}
		if seen[got[id]] {
			t.Errorf("account %d: %q is not unique", n, got[id])
		}
		seen[got[id]] = true
		if strings.Contains(got[id], "  ") || strings.Contains(got[id], ";") || strings.Contains(got[id], "\t") {
			t.Errorf("account %d: %q is not a safe hledger name", n, got[id])
		}
	}
}

func TestCommodity(t *testing.T) {
	for code, want := range map[string]string{"HOUR": "HOUR", "KG_PRODUCE": `"KG_PRODUCE"`, "CO2": `"CO2"`} {
		if got := Commodity(code); got != want {
			t.Errorf("Commodity(%q) = %s, want %s", code, got, want)
		}
	}
}

func TestDescription(t *testing.T) {
	for memo, want := range map[string]string{
		"":                    "no memo",
		"rent; march | split": "rent, march / split",
		"(draft) groceries":   "[draft) groceries",
		"two\nlines\t here ":  "two lines here",
	} {
		if got := description(memo); got != want {
			t.Errorf("description(%q) = %q, want %q", memo, got, want)
		}
	}
}
