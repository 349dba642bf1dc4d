package web

import (
	"net/url"

	"github.com/shopspring/decimal"
)

// Option is one choice of a select field: its value, and its label
// already translated (or data, such as a category's name).
type Option struct {
	Value, Label string
}

// SelectField is a select's view for {{template "select" ...}}: a Field
// with its options, the one typed marked.
type SelectField struct {
	Field
	Options []SelectOption
}

// SelectOption is an option with whether it is the chosen one.
type SelectOption struct {
	Option
	Selected bool
}

// Select returns a select field of the page's form, its options in the
// order given; opts are Field's.
func (p *Page) Select(name, labelKey string, options []Option, opts ...string) SelectField {
	f := SelectField{Field: p.Field(name, labelKey, opts...)}
	for _, o := range options {
		f.Options = append(f.Options, SelectOption{Option: o, Selected: o.Value == f.Value})
	}
	return f
}

// Textarea returns a multi-line field of the page's form (Field's opts).
func (p *Page) Textarea(name, labelKey string, opts ...string) Field {
	return p.Field(name, labelKey, opts...)
}

// queryForm is a form read from a GET request's query (a search), kept to
// show again like a posted one.
func queryForm(q url.Values) *Form {
	f := NewForm(nil)
	f.Values = q
	return f
}

// amount writes a quantity of a unit for a person: hours as "2.5 h" in the
// language's digits, other units with their code.
func amount(l *Lang, d decimal.Decimal, unit string) string {
	if unit == "HOUR" {
		return l.T("amount.hours", "Amount", l.Decimal(d))
	}
	return l.T("amount.unit", "Amount", l.Decimal(d), "Unit", unit)
}
