package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// agreementService is what the agreements pages ask: the member's
// agreements and each step on one. The exchange decides who may take
// which step; the pages offer the steps that fit the agreement's status
// and the member's side, and say before each what it does to the
// member's balance.
type agreementService interface {
	Agreements(ctx context.Context, p exchange.Principal, f exchange.AgreementFilter, pg exchange.Page) ([]exchange.Agreement, uuid.UUID, error)
	Agreement(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error)
	AcceptAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, account *uuid.UUID) (exchange.Agreement, error)
	ConfirmAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, quantity decimal.Decimal) (exchange.Agreement, error)
	CancelAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, reason string) (exchange.Agreement, error)
	DisputeAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, reason string) (exchange.Agreement, error)
	Listing(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Listing, error)
	// ListingsByID returns the listings among ids that p may see, by id.
	ListingsByID(ctx context.Context, p exchange.Principal, ids []uuid.UUID) (map[uuid.UUID]exchange.Listing, error)
	MemberNames(ctx context.Context, p exchange.Principal, ids []uuid.UUID) (map[uuid.UUID]string, error)
}

func (s *Server) registerAgreementPages() {
	s.member("GET /agreements", s.agreements)
	s.member("GET /agreements/{id}", s.agreement)
	s.member("POST /agreements/{id}/accept", s.acceptAgreement)
	s.member("POST /agreements/{id}/confirm", s.confirmAgreement)
	s.member("POST /agreements/{id}/cancel", s.cancelAgreement)
	s.member("POST /agreements/{id}/dispute", s.disputeAgreement)
}

// myAgreements returns every agreement of the member, oldest first.
func (s *Server) myAgreements(ctx context.Context, p exchange.Principal) ([]exchange.Agreement, error) {
	var all []exchange.Agreement
	pg := exchange.Page{Limit: exchange.MaxLimit}
	for {
		as, next, err := s.ex.Agreements(ctx, p, exchange.AgreementFilter{}, pg)
		if err != nil {
			return nil, err
		}
		all = append(all, as...)
		if next == uuid.Nil {
			return all, nil
		}
		pg.After = next
	}
}

// agreementView is an agreement as the pages show it to one of its
// parties: what, with whom, how much, where it stands and what is next.
type agreementView struct {
	exchange.Agreement
	Offer, Need, Other, Amount, Status, Next string
	// Waiting is set when the next step is the member's.
	Waiting bool
	// Party is set when the member is the giver or the receiver (a
	// coordinator may see others' agreements); IGive when the giver.
	Party, IGive bool
	// Confirmed: what each side confirmed, "" for not yet.
	MyConfirmed, OtherConfirmed string
}

// views turns agreements into views, reading their listings' titles and
// the other parties' names.
func (s *Server) agreementViews(r *Request, as []exchange.Agreement) ([]agreementView, error) {
	ctx := r.Context()
	var listings, people []uuid.UUID
	for _, a := range as {
		listings = append(listings, a.OfferID, a.NeedID)
		people = append(people, a.Giver, a.Receiver)
	}
	// Every title in one round trip; a listing the member may not see
	// is named as hidden.
	ls, err := s.ex.ListingsByID(ctx, *r.Principal, listings)
	if err != nil {
		return nil, err
	}
	titles := make(map[uuid.UUID]string, len(listings))
	for _, id := range listings {
		if l, ok := ls[id]; ok {
			titles[id] = l.Title
		} else {
			titles[id] = r.Lang.T("agreements.listing_hidden")
		}
	}
	names, err := s.ex.MemberNames(ctx, *r.Principal, people)
	if err != nil {
		return nil, err
	}
	out := make([]agreementView, len(as))
	for i, a := range as {
		out[i] = s.viewAgreement(r, a, titles, names)
	}
	return out, nil
}

func (s *Server) viewAgreement(r *Request, a exchange.Agreement, titles map[uuid.UUID]string, names map[uuid.UUID]string) agreementView {
	me := r.Principal.MemberID
	v := agreementView{Agreement: a, Offer: titles[a.OfferID], Need: titles[a.NeedID], IGive: a.Giver == me,
		Party:  a.Giver == me || a.Receiver == me,
		Amount: amount(r.Lang, a.Quantity, a.Unit), Status: r.Lang.T("agreements.status." + string(a.Status))}
	other := a.Giver
	mine, theirs := a.ReceiverConfirmed, a.GiverConfirmed
	if v.IGive {
		other = a.Receiver
		mine, theirs = theirs, mine
	}
	if n, ok := names[other]; ok {
		v.Other = n
	} else {
		v.Other = r.Lang.T("listings.owner_neighbor")
	}
	if mine != nil {
		v.MyConfirmed = amount(r.Lang, *mine, a.Unit)
	}
	if theirs != nil {
		v.OtherConfirmed = amount(r.Lang, *theirs, a.Unit)
	}
	switch a.Status {
	case exchange.AgreementProposed:
		if a.ProposedBy == me {
			v.Next = r.Lang.T("agreements.next.wait_answer", "Name", v.Other)
		} else {
			v.Next, v.Waiting = r.Lang.T("agreements.next.answer"), true
		}
	case exchange.AgreementAccepted:
		if mine == nil {
			v.Next, v.Waiting = r.Lang.T("agreements.next.confirm"), true
		} else {
			v.Next = r.Lang.T("agreements.next.wait_confirm", "Name", v.Other)
		}
	case exchange.AgreementDisputed:
		v.Next, v.Waiting = r.Lang.T("agreements.next.disputed"), true
	default:
		v.Next = r.Lang.T("agreements.next.none")
	}
	return v
}

type agreementsData struct {
	Open, Closed []agreementView
}

// agreements lists the member's agreements: those still going first, each
// with its next step, then those that ended.
func (s *Server) agreements(w http.ResponseWriter, r *Request) error {
	as, err := s.myAgreements(r.Context(), *r.Principal)
	if err != nil {
		return err
	}
	vs, err := s.agreementViews(r, as)
	if err != nil {
		return err
	}
	var d agreementsData
	for i := len(vs) - 1; i >= 0; i-- { // newest first
		switch vs[i].Agreement.Status {
		case exchange.AgreementProposed, exchange.AgreementAccepted, exchange.AgreementDisputed:
			d.Open = append(d.Open, vs[i])
		default:
			d.Closed = append(d.Closed, vs[i])
		}
	}
	return s.render(w, r, http.StatusOK, "agreements", "agreements.title", nil, d)
}

// agreementData is one agreement's page: the agreement, and what each
// step it offers would do to the member's balance, said before they act.
type agreementData struct {
	A                                                agreementView
	CanAccept, CanConfirm, CanCancel, CanDispute     bool
	AcceptSays, ConfirmSays, CancelSays, DisputeSays string
}

func (s *Server) agreement(w http.ResponseWriter, r *Request) error {
	return s.renderAgreement(w, r, http.StatusOK, nil)
}

func (s *Server) renderAgreement(w http.ResponseWriter, r *Request, status int, f *Form) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	a, err := s.ex.Agreement(r.Context(), *r.Principal, id)
	if err != nil {
		return err
	}
	vs, err := s.agreementViews(r, []exchange.Agreement{a})
	if err != nil {
		return err
	}
	v := vs[0]
	me := r.Principal.MemberID
	party := a.Giver == me || a.Receiver == me
	d := agreementData{A: v}
	t := r.Lang.T
	switch a.Status {
	case exchange.AgreementProposed:
		d.CanAccept = party && a.ProposedBy != me
		d.CanCancel = party
		if v.IGive {
			d.AcceptSays = t("agreements.says.accept_giver", "Amount", v.Amount, "Name", v.Other)
		} else {
			d.AcceptSays = t("agreements.says.accept_receiver", "Amount", v.Amount, "Name", v.Other)
		}
		d.CancelSays = t("agreements.says.cancel_proposed")
	case exchange.AgreementAccepted:
		d.CanConfirm, d.CanCancel, d.CanDispute = party, party, party
		if v.IGive {
			d.ConfirmSays = t("agreements.says.confirm_giver", "Amount", v.Amount, "Name", v.Other)
			d.CancelSays = t("agreements.says.cancel_accepted_giver", "Amount", v.Amount, "Name", v.Other)
		} else {
			d.ConfirmSays = t("agreements.says.confirm_receiver", "Amount", v.Amount, "Name", v.Other)
			d.CancelSays = t("agreements.says.cancel_accepted_receiver", "Amount", v.Amount)
		}
		d.DisputeSays = t("agreements.says.dispute", "Amount", v.Amount)
	}
	if f == nil {
		f = NewForm(nil)
	}
	if f.Get("quantity") == "" && d.CanConfirm {
		f.Values.Set("quantity", a.Quantity.String())
	}
	return s.render(w, r, status, "agreement", "agreements.agreement_title", f, d)
}

// step takes one step on an agreement and goes back to its page saying
// what happened; a refusal shows the page again with the reason beside
// the field typed (field, renamed from the exchange's reason or quantity)
// or above the forms, and nothing is written.
func (s *Server) step(w http.ResponseWriter, r *Request, f *Form, field, flash string, do func(id uuid.UUID) error) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	if f.OK() {
		err := do(id)
		if err == nil {
			return s.redirect(w, r, "/agreements/"+id.String(), flash)
		}
		var le *ledger.Error
		if errors.As(err, &le) && le.Field != "" {
			e := *le
			if e.Field == "quantity" || e.Field == "reason" {
				e.Field = field
			} else {
				e.Field = ""
			}
			err = &e
		}
		if !r.refuse(f, err) {
			return err
		}
	}
	return s.renderAgreement(w, r, http.StatusUnprocessableEntity, f)
}

func (s *Server) acceptAgreement(w http.ResponseWriter, r *Request) error {
	return s.step(w, r, NewForm(r.Request), "", "flash.agreement_accepted", func(id uuid.UUID) error {
		_, err := s.ex.AcceptAgreement(r.Context(), *r.Principal, id, nil)
		return err
	})
}

func (s *Server) confirmAgreement(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	q, ok := hours(f.Get("quantity"))
	if !ok {
		f.Refuse("quantity", r.Lang.T("error.field.quantity"))
	}
	return s.step(w, r, f, "quantity", "flash.agreement_confirmed", func(id uuid.UUID) error {
		_, err := s.ex.ConfirmAgreement(r.Context(), *r.Principal, id, q)
		return err
	})
}

func (s *Server) cancelAgreement(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	return s.step(w, r, f, "cancel_reason", "flash.agreement_cancelled", func(id uuid.UUID) error {
		_, err := s.ex.CancelAgreement(r.Context(), *r.Principal, id, f.Get("cancel_reason"))
		return err
	})
}

func (s *Server) disputeAgreement(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	if f.Get("dispute_reason") == "" {
		f.Refuse("dispute_reason", r.Lang.T("error.field.dispute_reason"))
	}
	return s.step(w, r, f, "dispute_reason", "flash.agreement_disputed", func(id uuid.UUID) error {
		_, err := s.ex.DisputeAgreement(r.Context(), *r.Principal, id, f.Get("dispute_reason"))
		return err
	})
}
