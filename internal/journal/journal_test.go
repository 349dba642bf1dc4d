package journal

import (
	"testing"

	"github.com/google/uuid"
)

// The export as a whole is tested through the API with hledger itself (see
// httpapi's TestJournalExportMatchesHledger); these are the spellings.

func TestAccountName(t *testing.T) {
	id := uuid.MustParse("0193a5b0-7c1e-7d2a-9c4b-3f1e2d4c5b6a")
	for _, tc := range []struct{ owner, want string }{
		{"member:0193a5b0-0000-7000-8000-000000000001", "member:0193a5b0-0000-7000-8000-000000000001:HOUR:" + id.String()},
		{"", "unowned:HOUR:" + id.String()},
		{"org:x  y;z", "org:x__y_z:HOUR:" + id.String()},
		{"::a::", "a:HOUR:" + id.String()},
	} {
		if got := AccountName(tc.owner, "HOUR", id); got != tc.want {
			t.Errorf("AccountName(%q) = %q, want %q", tc.owner, got, tc.want)
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
