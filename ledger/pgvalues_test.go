package ledger

import (
	"testing"

	"github.com/shopspring/decimal"
)

// TestNumericArrayKeepsEachValue checks the text form of NUMERIC[]
// parameters: every value reads back with its coefficient and its
// exponent (1.50 stays 1.50, of scale 2), whatever its size and sign.
func TestNumericArrayKeepsEachValue(t *testing.T) {
	in := []string{"0", "1", "-1", "1.50", "-0.05", "0.00", "0.001", "-123456.789",
		"999999999999999999", "-999999999999999999", "1000000000000000000",
		"123456789012345678901234567890.123456789", "-0.000000000000000000000001"}
	var ds []decimal.Decimal
	for _, s := range in {
		ds = append(ds, decimal.RequireFromString(s))
	}
	ds = append(ds, decimal.New(12, 3), decimal.New(-7, 2)) // positive exponents: 12000, -700
	text := numericArray(ds)
	if text[0] != '{' || text[len(text)-1] != '}' {
		t.Fatalf("numericArray = %q, want {…}", text)
	}
	var got []string
	start := 1
	for i := 1; i < len(text); i++ {
		if text[i] == ',' || text[i] == '}' {
			got = append(got, text[start:i])
			start = i + 1
		}
	}
	if len(got) != len(ds) {
		t.Fatalf("numericArray = %q: %d values, want %d", text, len(got), len(ds))
	}
	for i, d := range ds {
		back, err := decimal.NewFromString(got[i])
		if err != nil {
			t.Fatalf("value %d (%s) written as %q: %v", i, d, got[i], err)
		}
		wantExp := d.Exponent()
		if wantExp > 0 {
			wantExp = 0 // written out in full: 12e3 is 12000
		}
		if !back.Equal(d) || back.Exponent() != wantExp {
			t.Errorf("value %d: %s (exponent %d) written as %q, which reads %s (exponent %d)", i, d, d.Exponent(), got[i], back, back.Exponent())
		}
	}
}
