package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// agreementService takes the steps of agreements and keeps their notifications, deciding itself who may.
// *exchange.Store implements it; see its methods of the same names for
// the errors.
type agreementService interface {
	AcceptAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, account *uuid.UUID) (exchange.Agreement, error)
	Agreement(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error)
	Agreements(ctx context.Context, p exchange.Principal, f exchange.AgreementFilter, pg exchange.Page) ([]exchange.Agreement, uuid.UUID, error)
	CancelAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, reason string) (exchange.Agreement, error)
	ConfirmAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, quantity decimal.Decimal) (exchange.Agreement, error)
	DisputeAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, reason string) (exchange.Agreement, error)
	MarkNotificationsRead(ctx context.Context, p exchange.Principal, upTo uuid.UUID) (int, error)
	Notifications(ctx context.Context, p exchange.Principal, unread bool, pg exchange.Page) ([]exchange.Notification, uuid.UUID, error)
	ProposeAgreement(ctx context.Context, p exchange.Principal, in exchange.NewAgreement) (exchange.Agreement, error)
	ResolveAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, quantity decimal.Decimal, note string) (exchange.Agreement, error)
}

func (a *api) registerAgreementRoutes(rt *router) {
	rt.write("/v1/agreements", a.proposeAgreement)
	rt.read(http.MethodGet, "/v1/agreements", a.listAgreements)
	rt.read(http.MethodGet, "/v1/agreements/{id}", a.getAgreement)
	rt.write("/v1/agreements/{id}/accept", a.acceptAgreement)
	rt.write("/v1/agreements/{id}/confirm", a.confirmAgreement)
	rt.write("/v1/agreements/{id}/cancel", a.cancelAgreement)
	rt.write("/v1/agreements/{id}/dispute", a.disputeAgreement)
	rt.write("/v1/agreements/{id}/resolve", a.resolveAgreement)
	rt.read(http.MethodGet, "/v1/me/notifications", a.listNotifications)
	rt.write("/v1/me/notifications/read", a.markNotificationsRead)
}

func notFoundAgreement(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownAgreement,
		Message: "unknown agreement " + id}
}

// agreementJSON is an agreement as its parties, the coordinators of its
// organizations and the admin see it. Quantities are written with the
// unit's scale; the accounts, the hold, the transfer and the confirmations
// are null until they exist.
type agreementJSON struct {
	ID                uuid.UUID  `json:"id"`
	OfferID           uuid.UUID  `json:"offer_id"`
	NeedID            uuid.UUID  `json:"need_id"`
	Giver             uuid.UUID  `json:"giver"`
	Receiver          uuid.UUID  `json:"receiver"`
	ProposedBy        uuid.UUID  `json:"proposed_by"`
	ProposedFor       *uuid.UUID `json:"proposed_for"`
	Quantity          string     `json:"quantity"`
	Unit              string     `json:"unit"`
	GiverAccount      *uuid.UUID `json:"giver_account"`
	ReceiverAccount   *uuid.UUID `json:"receiver_account"`
	Status            string     `json:"status"`
	HoldID            *uuid.UUID `json:"hold_id"`
	TransferID        *uuid.UUID `json:"transfer_id"`
	GiverConfirmed    *string    `json:"giver_confirmed"`
	ReceiverConfirmed *string    `json:"receiver_confirmed"`
	CompletedQuantity *string    `json:"completed_quantity"`
	Message           string     `json:"message"`
	Reason            string     `json:"reason"`
	ClosedBy          *uuid.UUID `json:"closed_by"`
	DisputedBy        *uuid.UUID `json:"disputed_by"`
	ExpiresAt         time.Time  `json:"expires_at"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	AcceptedAt        *time.Time `json:"accepted_at"`
	CompletedAt       *time.Time `json:"completed_at"`
}

func (a *api) agreementJSON(ctx context.Context, g exchange.Agreement) agreementJSON {
	scale := int32(-1)
	if u, err := a.ledger.Unit(ctx, g.Unit); err == nil {
		scale = u.Scale
	}
	fixed := func(d decimal.Decimal) string {
		if scale < 0 {
			return d.String()
		}
		return d.StringFixed(scale)
	}
	opt := func(d *decimal.Decimal) *string {
		if d == nil {
			return nil
		}
		s := fixed(*d)
		return &s
	}
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return agreementJSON{
		ID: g.ID, OfferID: g.OfferID, NeedID: g.NeedID, Giver: g.Giver, Receiver: g.Receiver,
		ProposedBy: g.ProposedBy, ProposedFor: g.ProposedFor, Quantity: fixed(g.Quantity), Unit: g.Unit,
		CompletedQuantity: opt(g.CompletedQuantity),
		GiverAccount:      g.GiverAccount, ReceiverAccount: g.ReceiverAccount, Status: string(g.Status),
		HoldID: g.HoldID, TransferID: g.TransferID,
		GiverConfirmed: opt(g.GiverConfirmed), ReceiverConfirmed: opt(g.ReceiverConfirmed),
		Message: g.Message, Reason: g.Reason, ClosedBy: g.ClosedBy, DisputedBy: g.DisputedBy,
		ExpiresAt: g.ExpiresAt.UTC(), CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
		AcceptedAt: utc(g.AcceptedAt), CompletedAt: utc(g.CompletedAt),
	}
}

// proposeAgreementRequest proposes an exchange between an offer and a need;
// the caller owns one of them. quantity defaults to what is left of the
// need (or of the offer, if less); account_id to the caller's only open
// account in the listings' unit.
type proposeAgreementRequest struct {
	OfferID   string        `json:"offer_id" validate:"required,uuid"`
	NeedID    string        `json:"need_id" validate:"required,uuid"`
	Quantity  decimalString `json:"quantity" validate:"omitempty,decimal"`
	AccountID string        `json:"account_id" validate:"omitempty,uuid"`
	Message   string        `json:"message" validate:"max=2000,text"`
	ExpiresAt string        `json:"expires_at" validate:"omitempty,rfc3339"`
}

// proposeAgreement records a proposal by the owner of the offer or of the
// need, to the owner of the other, who is notified. Nothing is reserved
// until they accept. With an Idempotency-Key the agreement's id is derived
// from the key, so that a retry after a crash finds the first proposal.
func (a *api) proposeAgreement(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req proposeAgreementRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in := exchange.NewAgreement{
		ID: keyedID(r, "agreement"), OfferID: uuid.MustParse(req.OfferID), NeedID: uuid.MustParse(req.NeedID),
		Account: optID(req.AccountID), Message: req.Message,
	}
	if req.Quantity.set() {
		if in.Quantity = req.Quantity.value(); in.Quantity.Sign() <= 0 {
			return invalidField("quantity", "quantity must be positive")
		}
	}
	if req.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, req.ExpiresAt)
		in.ExpiresAt = &t
	}
	g, err := a.agreements.ProposeAgreement(ctx, principal(r), in)
	if err != nil {
		if g, err = a.sameAgreement(r, in, err); err != nil {
			return err
		}
	}
	w.Header().Set("Location", "/v1/agreements/"+g.ID.String())
	return writeJSON(w, http.StatusCreated, a.agreementJSON(ctx, g))
}

// sameAgreement answers a proposal that failed because its (keyed) id is
// taken: when the agreement there is the caller's proposal of the same
// offer and need, an earlier attempt of this request made it.
func (a *api) sameAgreement(r *http.Request, in exchange.NewAgreement, err error) (exchange.Agreement, error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ECONFLICT || le.Field != "id" {
		return exchange.Agreement{}, err
	}
	p := principal(r)
	g, gerr := a.agreements.Agreement(r.Context(), p, in.ID)
	if gerr != nil || g.ProposedBy != p.MemberID || g.OfferID != in.OfferID || g.NeedID != in.NeedID {
		return exchange.Agreement{}, err
	}
	return g, nil
}

func optID(s string) *uuid.UUID {
	if s == "" {
		return nil
	}
	id := uuid.MustParse(s)
	return &id
}

// listAgreements lists the caller's agreements, as giver or receiver,
// oldest first; ?status= and ?listing= narrow it. ?org= lists instead the
// agreements of an organization's offers and needs, for its coordinators
// and the admin (403 for others): where a coordinator finds the disputes to
// resolve.
func (a *api) listAgreements(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pg, err := idPage(r, "agreements")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := exchange.AgreementFilter{Status: exchange.AgreementStatus(q.Get("status"))}
	if s := q.Get("listing"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return malformed("listing", "listing must be a listing's id")
		}
		f.Listing = id
	}
	if s := q.Get("org"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return malformed("org", "org must be an organization's id")
		}
		f.Org = id
	}
	gs, next, err := a.agreements.Agreements(ctx, principal(r), f, pg)
	if err != nil {
		return err
	}
	items := make([]agreementJSON, len(gs))
	for i, g := range gs {
		items[i] = a.agreementJSON(ctx, g)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("agreements", next)))
}

// getAgreement shows an agreement to its parties, the coordinators of its
// listings' organizations and the admin; to anyone else it does not exist.
func (a *api) getAgreement(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundAgreement)
	if err != nil {
		return err
	}
	g, err := a.agreements.Agreement(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.agreementJSON(r.Context(), g))
}

// agreementStep runs one step on the agreement named in the path, with the
// request body decoded into req (which may be empty when emptyOK), and
// answers with the agreement as the step left it.
func (a *api) agreementStep(w http.ResponseWriter, r *http.Request, req any, emptyOK bool,
	do func(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error)) error {
	id, err := parseID(r, "id", notFoundAgreement)
	if err != nil {
		return err
	}
	if err := a.decode(r, req, emptyOK); err != nil {
		return err
	}
	g, err := do(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.agreementJSON(r.Context(), g))
}

type acceptAgreementRequest struct {
	AccountID string `json:"account_id" validate:"omitempty,uuid"`
}

// acceptAgreement accepts a proposal: only the party who did not propose.
// The hours are held from the receiver's account in the same transaction;
// a receiver without the credit gets 422 and the proposal stands. Two
// people accepting proposals of one offer that has room for one: the
// second gets 409 no-capacity.
func (a *api) acceptAgreement(w http.ResponseWriter, r *http.Request) error {
	var req acceptAgreementRequest
	return a.agreementStep(w, r, &req, true, func(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error) {
		return a.agreements.AcceptAgreement(ctx, p, id, optID(req.AccountID))
	})
}

type quantityRequest struct {
	Quantity decimalString `json:"quantity" validate:"required,decimal"`
}

// confirmAgreement records the actual quantity a party says was given;
// once both parties confirmed the same quantity, the hold is posted for it
// and the agreement is completed.
func (a *api) confirmAgreement(w http.ResponseWriter, r *http.Request) error {
	var req quantityRequest
	return a.agreementStep(w, r, &req, false, func(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error) {
		return a.agreements.ConfirmAgreement(ctx, p, id, req.Quantity.value())
	})
}

type reasonRequest struct {
	Reason string `json:"reason" validate:"max=2000,text"`
}

// cancelAgreement cancels a proposed or accepted agreement, by either
// party; an accepted one's hold is voided.
func (a *api) cancelAgreement(w http.ResponseWriter, r *http.Request) error {
	var req reasonRequest
	return a.agreementStep(w, r, &req, true, func(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error) {
		return a.agreements.CancelAgreement(ctx, p, id, req.Reason)
	})
}

type disputeRequest struct {
	Reason string `json:"reason" validate:"required,max=2000,text"`
}

// disputeAgreement is a party's objection to an accepted agreement: the
// hold stays, and the coordinators are notified.
func (a *api) disputeAgreement(w http.ResponseWriter, r *http.Request) error {
	var req disputeRequest
	return a.agreementStep(w, r, &req, false, func(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error) {
		return a.agreements.DisputeAgreement(ctx, p, id, req.Reason)
	})
}

type resolveRequest struct {
	Quantity decimalString `json:"quantity" validate:"required,decimal"`
	Note     string        `json:"note" validate:"required,max=2000,text"`
}

// resolveAgreement settles a dispute: a coordinator of the organizations
// involved (not a party) records the quantity given, or "0" for nothing.
func (a *api) resolveAgreement(w http.ResponseWriter, r *http.Request) error {
	var req resolveRequest
	return a.agreementStep(w, r, &req, false, func(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error) {
		q := req.Quantity.value()
		if q.Sign() < 0 {
			return exchange.Agreement{}, invalidField("quantity", "quantity must be zero (nothing was given) or positive")
		}
		return a.agreements.ResolveAgreement(ctx, p, id, q, req.Note)
	})
}

// notificationJSON is something that needs the caller's attention. Exactly
// one of agreement_id, trade_id, grant_id, obligation_id and clearing_run_id
// is set, as the kind says.
type notificationJSON struct {
	ID        uuid.UUID  `json:"id"`
	Kind      string     `json:"kind"`
	Agreement *uuid.UUID `json:"agreement_id"`
	Trade     *uuid.UUID `json:"trade_id"`
	Grant     *uuid.UUID `json:"grant_id"`
	Message   string     `json:"message"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at"`

	// An obligation's or a clearing run's notification names it here.
	Obligation  *uuid.UUID `json:"obligation_id"`
	ClearingRun *uuid.UUID `json:"clearing_run_id"`
	// Params are the names and figures the message speaks of, for a
	// client to say it in its language (exchange.Notification.Params).
	Params map[string]string `json:"params,omitempty"`
}

// listNotifications lists the caller's notifications, oldest first;
// ?unread=true leaves out those marked read.
func (a *api) listNotifications(w http.ResponseWriter, r *http.Request) error {
	pg, err := idPage(r, "notifications")
	if err != nil {
		return err
	}
	unread := false
	switch r.URL.Query().Get("unread") {
	case "", "false":
	case "true":
		unread = true
	default:
		return malformed("unread", "unread must be true or false")
	}
	ns, next, err := a.agreements.Notifications(r.Context(), principal(r), unread, pg)
	if err != nil {
		return err
	}
	items := make([]notificationJSON, len(ns))
	for i, n := range ns {
		items[i] = notificationJSON{ID: n.ID, Kind: n.Kind, Agreement: n.Agreement, Trade: n.Trade, Grant: n.Grant,
			Message: n.Message, CreatedAt: n.CreatedAt.UTC(), Obligation: n.Obligation, ClearingRun: n.ClearingRun, Params: n.Params}
		if n.ReadAt != nil {
			t := n.ReadAt.UTC()
			items[i].ReadAt = &t
		}
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("notifications", next)))
}

type markReadRequest struct {
	UpTo string `json:"up_to" validate:"required,uuid"`
}

type markReadResponse struct {
	Marked int `json:"marked"`
}

// markNotificationsRead marks the caller's notifications up to and
// including up_to as read.
func (a *api) markNotificationsRead(w http.ResponseWriter, r *http.Request) error {
	var req markReadRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	n, err := a.agreements.MarkNotificationsRead(r.Context(), principal(r), uuid.MustParse(req.UpTo))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, markReadResponse{Marked: n})
}
