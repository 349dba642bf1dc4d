package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

// TestFastValidatorsAgree holds the hand-written checks of the transfer
// routes' bodies (validFast) to the validator's tags: for every variation
// of one field of a valid body, each says valid exactly when the other
// does, so that the validator, which runs whenever validFast says no,
// answers every refusal as it always did.
func TestFastValidatorsAgree(t *testing.T) {
	a := &api{validate: newValidator()}
	const id = "0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b"
	posting := func() postingRequest {
		return postingRequest{From: id, To: strings.ToUpper(id), Amount: decimalString{raw: []byte(`"2.50"`)}, Unit: "HOUR"}
	}
	transfer := func() transferRequest {
		return transferRequest{Postings: []postingRequest{posting()}, Memo: "bike repair", Metadata: []byte(`{"a":1}`)}
	}
	ids := []string{"", "x", id, strings.ToUpper(id), id[:35], id + "0", "{" + id + "}", "urn:uuid:" + id,
		strings.Replace(id, "-", "", 1) + "0", "0192a3c45-d6e-7f80-9a1b-2c3d4e5f6a7b", strings.Replace(id, "a", "g", 1),
		strings.Replace(id, "a", "á", 1)[:36], strings.Replace(id, "-", "_", 1)}
	amounts := []string{"", `""`, `"2.50"`, `"-1"`, `"0"`, `"1e3"`, `2.5`, `"\u0031"`, `"1."`, `".5"`, `"+1"`, `" 1"`,
		`"` + strings.Repeat("9", 40) + "." + strings.Repeat("9", 40) + `"`, `"` + strings.Repeat("9", 41) + `"`,
		`"١٢"`, `true`, `{}`, `"1.2.3"`, `"--1"`}
	units := []string{"", "HOUR", strings.Repeat("é", 32), strings.Repeat("é", 33), "A\nB", "A\tB", "\u202eX", "A\x7f", "A\x00", "\xff"}
	memos := []string{"", "a\nb\tc", strings.Repeat("é", 1000), strings.Repeat("é", 1001), "a\x00", "\u202e", "a\x1b[2J", "\xfe"}
	times := []string{"", "2026-03-01T09:00:00Z", "2026-03-01T09:00:00.123+02:00", "2026-03-01", "x", "2026-13-01T09:00:00Z"}

	var cases []struct {
		name string
		v    fastValidator
	}
	add := func(name string, v fastValidator) {
		cases = append(cases, struct {
			name string
			v    fastValidator
		}{name, v})
	}
	for _, s := range ids {
		r := transfer()
		r.Postings[0].From = s
		add(fmt.Sprintf("from %q", s), &r)
		r2 := transfer()
		r2.Postings[0].To = s
		add(fmt.Sprintf("to %q", s), &r2)
	}
	for _, s := range amounts {
		r := transfer()
		r.Postings[0].Amount = decimalString{raw: []byte(s)}
		if s == "" {
			r.Postings[0].Amount = decimalString{} // absent
		}
		add(fmt.Sprintf("amount %s", s), &r)
	}
	for _, s := range units {
		r := transfer()
		r.Postings[0].Unit = s
		add(fmt.Sprintf("unit %q", s), &r)
	}
	for _, s := range memos {
		r := transfer()
		r.Memo = s
		add(fmt.Sprintf("memo %.20q", s), &r)
	}
	for _, s := range times {
		r := transfer()
		r.ExpiresAt, r.Pending = s, true
		add(fmt.Sprintf("expires_at %q", s), &r)
	}
	for _, n := range []int{-1, 0, 1, 2, 100, 101} {
		r := transfer()
		r.Postings = nil
		for range n {
			r.Postings = append(r.Postings, posting())
		}
		if n == 0 {
			r.Postings = []postingRequest{}
		}
		add(fmt.Sprintf("%d postings", n), &r)
		if n > 1 {
			bad := transfer()
			bad.Postings = append(append([]postingRequest{}, r.Postings...), posting())
			bad.Postings[n-1].Unit = ""
			add(fmt.Sprintf("%d postings, the last without a unit", n), &bad)
		}
	}
	yes := true
	for _, n := range []int{-1, 0, 1, 1000, 1001} {
		for _, atomic := range []*bool{nil, &yes} {
			b := batchRequest{Atomic: atomic}
			for range n {
				b.Transfers = append(b.Transfers, transfer())
			}
			if n == 0 {
				b.Transfers = []transferRequest{}
			}
			add(fmt.Sprintf("batch of %d, atomic %v", n, atomic != nil), &b)
		}
	}
	for i, m := range memos {
		b := batchRequest{Atomic: &yes, Transfers: []transferRequest{transfer(), transfer()}}
		b.Transfers[1].Memo = m
		add(fmt.Sprintf("batch, second memo %d", i), &b)
	}

	valid := 0
	for _, c := range cases {
		fast := c.v.validFast()
		err := a.check(c.v)
		if fast != (err == nil) {
			t.Errorf("%s: validFast says %v, the validator %v", c.name, fast, err)
		}
		if fast {
			valid++
		}
	}
	if valid < 10 || valid == len(cases) {
		t.Fatalf("%d of %d cases valid: the table does not test both answers", valid, len(cases))
	}
}
