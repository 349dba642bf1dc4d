package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// tradeService takes the steps of trades between organizations, deciding itself who may.
// *exchange.Store implements it; see its methods of the same names for
// the errors.
type tradeService interface {
	AcceptTrade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	CancelTrade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	DeclineTrade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	ProposeTrade(ctx context.Context, p exchange.Principal, in exchange.NewTrade) (exchange.Trade, error)
	Trade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	Trades(ctx context.Context, p exchange.Principal, orgID uuid.UUID, page exchange.Page) ([]exchange.Trade, uuid.UUID, error)
}

// registerTradeRoutes adds the trades between organizations and the
// organizations' statements, where trades (and in-kind support, a plain
// transfer) show on both sides.
func (a *api) registerTradeRoutes(rt *router) {
	rt.write("/v1/trades", a.proposeTrade)
	rt.read(http.MethodGet, "/v1/trades", a.listTrades)
	rt.read(http.MethodGet, "/v1/trades/{id}", a.getTrade)
	rt.write("/v1/trades/{id}/accept", a.acceptTrade)
	rt.write("/v1/trades/{id}/decline", a.declineTrade)
	rt.write("/v1/trades/{id}/cancel", a.cancelTrade)
	rt.read(http.MethodGet, "/v1/orgs/{id}/statement", a.getStatement)
}

// notFoundTrade is the error for a trade that does not exist or may not be
// seen.
func notFoundTrade(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownTrade,
		Message: "unknown trade " + id}
}

// tradeLegJSON is one leg of a trade.
type tradeLegJSON struct {
	FromAccount uuid.UUID `json:"from_account"`
	ToAccount   uuid.UUID `json:"to_account"`
	Amount      string    `json:"amount"`
	Unit        string    `json:"unit"`
}

// tradeJSON is a trade as the API shows it. transfer_id is set once it is
// accepted, decided_by once it is accepted, declined or cancelled.
type tradeJSON struct {
	ID              uuid.UUID      `json:"id"`
	ProposerOrg     uuid.UUID      `json:"proposer_org"`
	CounterpartyOrg uuid.UUID      `json:"counterparty_org"`
	ProposedBy      uuid.UUID      `json:"proposed_by"`
	Status          string         `json:"status"`
	Memo            string         `json:"memo"`
	Legs            []tradeLegJSON `json:"legs"`
	TransferID      *uuid.UUID     `json:"transfer_id"`
	DecidedBy       *uuid.UUID     `json:"decided_by"`
	ExpiresAt       *time.Time     `json:"expires_at"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
}

func (a *api) toTradeJSON(ctx context.Context, t exchange.Trade) tradeJSON {
	legs := make([]tradeLegJSON, len(t.Legs))
	for i, l := range t.Legs {
		legs[i] = tradeLegJSON{FromAccount: l.From, ToAccount: l.To, Amount: a.amount(ctx, l.Amount, l.Unit), Unit: l.Unit}
	}
	return tradeJSON{
		ID: t.ID, ProposerOrg: t.ProposerOrg, CounterpartyOrg: t.CounterpartyOrg, ProposedBy: t.ProposedBy,
		Status: string(t.Status), Memo: t.Memo, Legs: legs, TransferID: t.TransferID, DecidedBy: t.DecidedBy,
		ExpiresAt: utc(t.ExpiresAt), CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(),
	}
}

type tradeLegRequest struct {
	FromAccount string        `json:"from_account" validate:"required,uuid"`
	ToAccount   string        `json:"to_account" validate:"required,uuid"`
	Amount      decimalString `json:"amount" validate:"required,decimal"`
	Unit        string        `json:"unit" validate:"required,max=32,line"`
}

// proposeTradeRequest proposes a trade. proposer_org is optional: the
// exchange infers it from the legs' accounts that are not the
// counterparty's.
type proposeTradeRequest struct {
	ProposerOrg     string            `json:"proposer_org" validate:"omitempty,uuid"`
	CounterpartyOrg string            `json:"counterparty_org" validate:"required,uuid"`
	Legs            []tradeLegRequest `json:"legs" validate:"required,min=1,max=100,dive"`
	Memo            string            `json:"memo" validate:"max=1000,text"`
	ExpiresAt       string            `json:"expires_at" validate:"omitempty,rfc3339"`
}

// proposeTrade records a trade for a coordinator of the proposing
// organization (or the admin): 201 with the trade, proposed. Nothing moves
// until the counterparty accepts.
//
// With an Idempotency-Key the trade's id is derived from the key, so that a
// retry after a crash finds the trade made the first time.
func (a *api) proposeTrade(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req proposeTradeRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in := exchange.NewTrade{ID: keyedID(r, "trade"), CounterpartyOrg: uuid.MustParse(req.CounterpartyOrg), Memo: req.Memo}
	if req.ProposerOrg != "" {
		in.ProposerOrg = uuid.MustParse(req.ProposerOrg)
	}
	if req.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, req.ExpiresAt) // validated
		in.ExpiresAt = &t
	}
	in.Legs = make([]exchange.TradeLeg, len(req.Legs))
	for i, l := range req.Legs {
		in.Legs[i] = exchange.TradeLeg{From: uuid.MustParse(l.FromAccount), To: uuid.MustParse(l.ToAccount), Amount: l.Amount.value(), Unit: l.Unit}
	}
	t, err := a.trades.ProposeTrade(ctx, p, in)
	if err != nil {
		if t, err = a.sameTrade(ctx, p, in, err); err != nil {
			return err
		}
	}
	w.Header().Set("Location", "/v1/trades/"+t.ID.String())
	return writeJSON(w, http.StatusCreated, a.toTradeJSON(ctx, t))
}

// sameTrade answers a proposal that failed because the (keyed) id is taken:
// when the trade there was proposed by the same member to the same
// counterparty, an earlier attempt of this request made it, and it is
// returned; otherwise the error stands.
func (a *api) sameTrade(ctx context.Context, p exchange.Principal, in exchange.NewTrade, err error) (exchange.Trade, error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ECONFLICT {
		return exchange.Trade{}, err
	}
	t, gerr := a.trades.Trade(ctx, p, in.ID)
	if gerr != nil || t.ProposedBy != p.MemberID || t.CounterpartyOrg != in.CounterpartyOrg || len(t.Legs) != len(in.Legs) {
		return exchange.Trade{}, err
	}
	return t, nil
}

// getTrade shows a trade to the members and coordinators of either party,
// and the admin.
func (a *api) getTrade(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundTrade)
	if err != nil {
		return err
	}
	t, err := a.trades.Trade(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toTradeJSON(r.Context(), t))
}

// listTrades lists the trades an organization (?org=, required) proposed or
// was proposed, oldest first, for its members and coordinators and the
// admin.
func (a *api) listTrades(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	org, err := queryID(r, "org", "GET /v1/trades?org=<organization id>", notFoundOrg)
	if err != nil {
		return err
	}
	page, err := idPage(r, "trades")
	if err != nil {
		return err
	}
	trades, next, err := a.trades.Trades(ctx, principal(r), org, page)
	if err != nil {
		return err
	}
	items := make([]tradeJSON, len(trades))
	for i, t := range trades {
		items[i] = a.toTradeJSON(ctx, t)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("trades", next)))
}

// acceptTrade accepts a proposed trade for a coordinator of the
// counterparty (or the admin): every leg moves in one transfer, and the
// answer is 200 with the trade, accepted, naming it. A leg the ledger
// refuses (insufficient funds) is 422 and the trade stays proposed; a trade
// already decided is 409.
func (a *api) acceptTrade(w http.ResponseWriter, r *http.Request) error {
	return a.decideTrade(w, r, a.trades.AcceptTrade, true)
}

// declineTrade declines a proposed trade for a coordinator of the
// counterparty (or the admin).
func (a *api) declineTrade(w http.ResponseWriter, r *http.Request) error {
	return a.decideTrade(w, r, a.trades.DeclineTrade, false)
}

// cancelTrade withdraws a proposed trade for a coordinator of the proposer
// (or the admin).
func (a *api) cancelTrade(w http.ResponseWriter, r *http.Request) error {
	return a.decideTrade(w, r, a.trades.CancelTrade, false)
}

// decideTrade runs a decision on the trade the path names; posts says that
// the decision posts a transfer, which the metrics count.
func (a *api) decideTrade(w http.ResponseWriter, r *http.Request, decide func(context.Context, exchange.Principal, uuid.UUID) (exchange.Trade, error), posts bool) error {
	var req struct{}
	if err := a.decode(r, &req, true); err != nil {
		return err
	}
	id, err := parseID(r, "id", notFoundTrade)
	if err != nil {
		return err
	}
	t, err := decide(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	if posts {
		a.metrics.posted.Inc()
	}
	return writeJSON(w, http.StatusOK, a.toTradeJSON(r.Context(), t))
}
