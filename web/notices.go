package web

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// noticeText says a notification in the person's language: the
// catalogue's message for its kind, with its parameters (amounts in the
// language's digits with their unit's places, dates in its format). An agreement's
// news needs none; a notification of another kind written before
// parameters were kept is shown by the exchange's English text.
func noticeText(l *Lang, n exchange.Notification, scales map[string]int32) string {
	id := "home.notice." + n.Kind
	if !l.Has(id) {
		return n.Message
	}
	if n.Params == nil {
		if strings.HasPrefix(n.Kind, "agreement_") && n.Kind != "agreement_mismatch" {
			return l.T(id)
		}
		return n.Message
	}
	args := make([]any, 0, 2*len(n.Params))
	for k, v := range n.Params {
		switch k {
		case "Amount", "Paid", "Out", "In", "Above", "Giver", "Receiver":
			if d, err := decimal.NewFromString(v); err == nil {
				unit := n.Params["Unit"]
				args = append(args, k, fixedAmount(l, d, unit, scales[unit]))
				continue
			}
		case "Due":
			if t, err := time.Parse(time.DateOnly, v); err == nil {
				args = append(args, k, l.Day(t)) // a day, not an instant
				continue
			}
		}
		args = append(args, k, v)
	}
	return l.T(id, args...)
}

// fixedAmount writes an amount of a unit with the unit's places.
func fixedAmount(l *Lang, d decimal.Decimal, unit string, places int32) string {
	if unit == "HOUR" {
		return l.T("amount.hours", "Amount", l.Fixed(d, places))
	}
	return l.T("amount.unit", "Amount", l.Fixed(d, places), "Unit", unit)
}
