package journal

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkNameAccounts names the accounts of a large network: 50,000
// members sharing 500 names, each with two accounts, and 500 organizations
// with a pool each, as the full journal export does once per export.
func BenchmarkNameAccounts(b *testing.B) {
	var accts []account
	var members, orgs []holder
	for i := range 50000 {
		m := holder{uuid.New(), fmt.Sprintf("Member %d", i%500)}
		members = append(members, m)
		for _, unit := range []string{"HOUR", "USD"} {
			accts = append(accts, account{id: uuid.New(), owner: "member:" + m.id.String(), unit: unit, kind: "member", name: "Barrio"})
		}
	}
	for i := range 500 {
		o := holder{uuid.New(), fmt.Sprintf("Org %d", i)}
		orgs = append(orgs, o)
		accts = append(accts, account{id: uuid.New(), owner: "org:" + o.id.String(), unit: "HOUR", kind: "pool", name: "pool"})
	}
	b.ResetTimer()
	for b.Loop() {
		if n := nameAccounts(accts, members, orgs); len(n) != len(accts) {
			b.Fatal(len(n))
		}
	}
}
