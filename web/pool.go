package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// poolService is what giving hours to a community pool needs.
type poolService interface {
	TimebankRules(ctx context.Context, p exchange.Principal, orgID uuid.UUID) (exchange.TimebankRules, error)
	DonateHours(ctx context.Context, p exchange.Principal, m exchange.TimebankMove) (ledger.Transfer, error)
}

func (s *Server) registerPoolPages() {
	s.member("GET /pool", s.pool)
	s.member("POST /pool", s.donate)
}

type poolData struct {
	Orgs []Option
}

// poolOrgs are my organizations that keep a time bank.
func (s *Server) poolOrgs(r *Request) ([]Option, error) {
	var out []Option
	for _, o := range sortedOrgs(*r.Principal) {
		rules, err := s.ex.TimebankRules(r.Context(), *r.Principal, o)
		if errors.Is(err, exchange.ErrNoTimebank) {
			continue
		}
		if err != nil {
			return nil, err
		}
		org, err := s.ex.Org(r.Context(), *r.Principal, rules.OrgID)
		if err != nil {
			return nil, err
		}
		out = append(out, Option{o.String(), org.Name})
	}
	return out, nil
}

// pool is the form to give hours to a time bank's community pool, from
// which coordinators grant hours to people who cannot give back.
func (s *Server) pool(w http.ResponseWriter, r *Request) error {
	orgs, err := s.poolOrgs(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "pool", "pool.title", nil, poolData{Orgs: orgs})
}

// donate gives hours from my account to the pool. Hours that are not a
// number are refused here; the exchange refuses too many decimals, more
// than my balance and credit allow, and an organization I do not belong
// to. A refusal shows the form again with the reason beside the field,
// and nothing moves.
func (s *Server) donate(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	orgs, err := s.poolOrgs(r)
	if err != nil {
		return err
	}
	m := exchange.TimebankMove{Memo: f.Get("memo")}
	if q, ok := hours(f.Get("amount")); ok {
		m.Amount = q
	} else {
		f.Refuse("amount", r.Lang.T("error.field.amount"))
	}
	switch org, err := uuid.Parse(f.Get("org")); {
	case len(orgs) == 1 && f.Get("org") == "":
		m.OrgID = uuid.MustParse(orgs[0].Value)
	case err != nil:
		f.Refuse("org", r.Lang.T("error.field.org"))
	default:
		m.OrgID = org
	}
	if f.OK() {
		_, err := s.ex.DonateHours(r.Context(), *r.Principal, m)
		if err == nil {
			return s.redirect(w, r, "/home", "flash.donated")
		}
		// More than I have is about the hours I typed.
		var le *ledger.Error
		if errors.As(err, &le) && le.Reason == ledger.ReasonInsufficientFunds {
			f.Refuse("amount", r.Lang.T("error.reason.insufficient_funds"))
		} else if !r.refuse(f, renameFields(err, "account_id", "")) {
			return err
		}
	}
	return s.render(w, r, http.StatusUnprocessableEntity, "pool", "pool.title", f, poolData{Orgs: orgs})
}
