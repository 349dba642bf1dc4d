package web

import (
	"errors"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// refuse shows an error of the exchange on the form, in the person's
// language, and reports whether it was one a person can correct there:
// a refused field (ledger.Error with Field), shown beside it with the
// message "error.field.FIELD" when the catalogue has one, else the
// reason's "error.reason.REASON", else a general one; or a refusal of the
// whole request with a reason the catalogue explains, shown above the
// form (field ""). Any other error is not the person's to correct, and
// the handler returns it.
func (r *Request) refuse(f *Form, err error) bool {
	var le *ledger.Error
	if !errors.As(err, &le) {
		return false
	}
	var rl *exchange.RetryLater
	if errors.As(err, &rl) {
		f.Refuse("", r.Lang.N("error.reason.too_many_attempts", int((rl.After.Minutes())+1)))
		return true
	}
	switch {
	case le.Field != "" && r.Lang.Has("error.field."+le.Field):
		f.Refuse(le.Field, r.Lang.T("error.field."+le.Field))
	case le.Field != "" && r.Lang.Has("error.reason."+string(le.Reason)):
		f.Refuse(le.Field, r.Lang.T("error.reason."+string(le.Reason)))
	case le.Field != "":
		f.Refuse(le.Field, r.Lang.T("error.invalid"))
	case r.Lang.Has("error.reason." + string(le.Reason)):
		f.Refuse("", r.Lang.T("error.reason."+string(le.Reason)))
	default:
		return false
	}
	return true
}

// refuseAbove is refuse for a form of buttons and hidden fields: no field
// of it was typed, so every refusal, even one naming a field, goes above
// the form.
func (r *Request) refuseAbove(f *Form, err error) bool {
	var le *ledger.Error
	if errors.As(err, &le) && le.Field != "" {
		e := *le
		e.Field = ""
		err = &e
	}
	return r.refuse(f, err)
}
