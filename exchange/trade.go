package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Trades. Nobody moves value that is not theirs: a coordinator may move
// their own organization's value at once (a plain transfer, such as in-kind
// support a municipality gives a group), but an exchange in which the other
// side gives something back needs the other side's consent. A trade is that
// consent made explicit: a coordinator of one organization (the proposer)
// names legs between its accounts and another organization's (the
// counterparty), in any units and either direction, and a coordinator of the
// counterparty accepts, which posts every leg as one atomic ledger transfer.

// TradeStatus is where a trade stands.
type TradeStatus string

// The trade statuses. A trade starts proposed; accepted, declined and
// cancelled are final. A proposed trade past its expiry is reported expired
// and can no longer be accepted.
const (
	TradeProposed  TradeStatus = "proposed"
	TradeAccepted  TradeStatus = "accepted"
	TradeDeclined  TradeStatus = "declined"
	TradeCancelled TradeStatus = "cancelled"
	TradeExpired   TradeStatus = "expired"
)

// The reasons of the trade errors.
const (
	ReasonUnknownTrade     ledger.Reason = "unknown_trade"
	ReasonTradeNotProposed ledger.Reason = "trade_not_proposed"
)

// Sentinel errors of trades, for errors.Is.
var (
	// ErrUnknownTrade: no trade has the id, or the principal may not see it.
	ErrUnknownTrade = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownTrade}
	// ErrTradeNotProposed: the trade was already accepted, declined,
	// cancelled, or has expired, so it cannot be decided again.
	ErrTradeNotProposed = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonTradeNotProposed}
)

func unknownTrade(id uuid.UUID) *ledger.Error {
	return newError(ErrUnknownTrade.Code, ReasonUnknownTrade, "unknown trade %s", id)
}

// TradeLeg is one movement of a trade: Amount of Unit from one account to
// another, one of them the proposer's and the other the counterparty's.
type TradeLeg struct {
	From, To uuid.UUID
	Amount   decimal.Decimal
	Unit     string
}

// Trade is an exchange between two organizations.
type Trade struct {
	ID              uuid.UUID
	ProposerOrg     uuid.UUID
	CounterpartyOrg uuid.UUID
	ProposedBy      uuid.UUID // the member who proposed it
	// Status is the trade's status as of the store's clock: a proposed trade
	// past ExpiresAt is reported expired.
	Status TradeStatus
	Memo   string
	Legs   []TradeLeg
	// TransferID is the ledger transfer that moved the legs, once accepted.
	TransferID *uuid.UUID
	// DecidedBy is the member who accepted, declined or cancelled it.
	DecidedBy *uuid.UUID
	ExpiresAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewTrade is a proposal.
type NewTrade struct {
	ID uuid.UUID // optional; a new one is made when zero
	// ProposerOrg is optional: it is inferred as the organization that owns
	// the legs' accounts that are not the counterparty's. When given, it must
	// be that organization.
	ProposerOrg     uuid.UUID
	CounterpartyOrg uuid.UUID  // required
	Legs            []TradeLeg // 1 to ledger.MaxPostings
	Memo            string     // up to ledger.MaxMemo bytes
	// ExpiresAt, when given, must be in the future.
	ExpiresAt *time.Time
}

// ProposeTrade records a trade proposed by p. Every leg must move between an
// account of the counterparty organization and one of the proposer's, in
// the accounts' unit, by a positive amount that fits the unit's scale; p
// must act for the proposer (its coordinators, those above it, the admin).
// A trade may go both ways or one way only (either way).
//
// It returns ledger.ErrInvalidRequest (with Field set) for a bad shape,
// memo, expiry or pairing of accounts, and for a fund's account (a fund's
// money moves only with its book); ledger.ErrUnitMismatch,
// ledger.ErrTooManyDecimals and ledger.ErrNonPositiveAmount for a bad leg;
// ErrUnknownOrg for an unknown counterparty or proposer;
// ledger.ErrUnknownAccount for an account that does not exist; ErrNotVisible
// (with Account set) for an account of the proposer's side p may not see,
// ErrForbidden when p may see it but not act for its owner, or when p does
// not act for the proposer_org given; ErrUnauthenticated for a zero
// Principal; and an ECONFLICT error when the ID is taken. Nothing is written
// when it fails. The counterparty's coordinators are notified in the same
// transaction.
func (s *Store) ProposeTrade(ctx context.Context, p Principal, in NewTrade) (Trade, error) {
	if p.MemberID == uuid.Nil {
		return Trade{}, unauthenticated()
	}
	now := s.clock()
	t, err := checkNewTrade(in, now)
	if err != nil {
		return Trade{}, err
	}
	t.ProposedBy = p.MemberID
	if err := s.checkTradeOrgs(ctx, p, &t); err != nil {
		return Trade{}, err
	}
	if err := s.checkTradeLegs(ctx, p, &t); err != nil {
		return Trade{}, err
	}
	// Everything checked is immutable (orgs, account owners and units, unit
	// scales) and the foreign keys back the rest: READ COMMITTED is enough.
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `
INSERT INTO trades (id, proposer_org, counterparty_org, proposed_by, status, memo, expires_at, created_at, updated_at, region)
VALUES ($1, $2, $3, $4, 'proposed', $5, $6, $7, $7, COALESCE((SELECT region FROM orgs WHERE id = $2), ''))`,
			t.ID, t.ProposerOrg, t.CounterpartyOrg, t.ProposedBy, t.Memo, t.ExpiresAt, now)
		if pgCode(err) == uniqueViolation {
			return idTaken("trade", t.ID)
		}
		if err != nil {
			return err
		}
		if err := insertLegs(ctx, tx, t); err != nil {
			return err
		}
		return tellTrade(ctx, tx, now, p, t, "trade_proposed")
	})
	if err != nil {
		return Trade{}, err
	}
	return t, nil
}

func checkNewTrade(in NewTrade, now time.Time) (Trade, error) {
	t := Trade{
		ID: in.ID, ProposerOrg: in.ProposerOrg, CounterpartyOrg: in.CounterpartyOrg, Status: TradeProposed,
		Memo: in.Memo, Legs: in.Legs, CreatedAt: now, UpdatedAt: now,
	}
	switch {
	case in.CounterpartyOrg == uuid.Nil:
		return Trade{}, invalid("counterparty_org", "counterparty_org is required: the organization asked to accept the trade")
	case in.ProposerOrg == in.CounterpartyOrg:
		return Trade{}, invalid("counterparty_org", "a trade is between two organizations; counterparty_org is the proposer itself")
	case len(in.Legs) == 0:
		return Trade{}, invalid("legs", "a trade needs at least one leg")
	case len(in.Legs) > ledger.MaxPostings:
		return Trade{}, invalid("legs", "a trade has at most %d legs, not %d", ledger.MaxPostings, len(in.Legs))
	case len(in.Memo) > ledger.MaxMemo:
		return Trade{}, invalid("memo", "memo is longer than %d bytes", ledger.MaxMemo)
	case !utf8.ValidString(in.Memo) || strings.ContainsRune(in.Memo, 0):
		return Trade{}, invalid("memo", "memo is not valid text")
	}
	if in.ExpiresAt != nil {
		e := in.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !e.After(now) {
			return Trade{}, invalid("expires_at", "expires_at %s is not in the future", e.Format(time.RFC3339))
		}
		t.ExpiresAt = &e
	}
	for i, l := range in.Legs {
		field := fmt.Sprintf("legs[%d]", i)
		switch {
		case l.From == uuid.Nil || l.To == uuid.Nil:
			return Trade{}, invalid(field, "%s needs both a from_account and a to_account", field)
		case l.From == l.To:
			e := newError(ledger.EINVALID, ledger.ReasonSameAccount, "%s moves value from account %s to itself", field, l.From)
			e.Field, e.Account = field, l.From
			return Trade{}, e
		case l.Amount.Sign() <= 0:
			e := newError(ledger.EINVALID, ledger.ReasonNonPositiveAmount, "%s.amount must be positive, not %s", field, l.Amount)
			e.Field = field + ".amount"
			return Trade{}, e
		}
	}
	if t.ID == uuid.Nil {
		t.ID = newID()
	}
	return t, nil
}

// checkTradeOrgs checks that the counterparty exists and, when the proposer
// is named, that it exists and p acts for it.
func (s *Store) checkTradeOrgs(ctx context.Context, p Principal, t *Trade) error {
	gov, err := s.governors(ctx, OrgOwner(t.CounterpartyOrg))
	if err != nil {
		return err
	}
	if len(gov) == 0 {
		e := unknownOrg(t.CounterpartyOrg).(*ledger.Error)
		e.Field = "counterparty_org"
		return e
	}
	if t.ProposerOrg == uuid.Nil {
		return nil
	}
	if gov, err = s.governors(ctx, OrgOwner(t.ProposerOrg)); err != nil {
		return err
	}
	if len(gov) == 0 {
		e := unknownOrg(t.ProposerOrg).(*ledger.Error)
		e.Field = "proposer_org"
		return e
	}
	if err := p.MayManageOrg(gov); err != nil {
		if e, ok := err.(*ledger.Error); ok && e.Code == EFORBIDDEN {
			e.Message, e.Field = fmt.Sprintf("you do not act for organization %s", t.ProposerOrg), "proposer_org"
		}
		return err
	}
	return nil
}

// checkTradeLegs checks the legs against the ledger's accounts and infers
// the proposer. Each leg has one account of the counterparty's; the other
// is the proposer's side, which p must be allowed to move value out of
// (checked before anything about it is told, so that a 404 hides the
// accounts p may not see).
func (s *Store) checkTradeLegs(ctx context.Context, p Principal, t *Trade) error {
	ids := make([]uuid.UUID, 0, 2*len(t.Legs))
	for _, l := range t.Legs {
		ids = append(ids, l.From, l.To)
	}
	refs, err := s.led.AccountRefs(ctx, ids)
	if err != nil {
		return err
	}
	counterparty := OrgOwner(t.CounterpartyOrg)
	allowed := map[string]bool{}
	var proposer string
	for i, l := range t.Legs {
		field := fmt.Sprintf("legs[%d]", i)
		from, to := refs[l.From], refs[l.To]
		for _, side := range []struct {
			id    uuid.UUID
			ref   ledger.AccountRef
			field string
		}{{l.From, from, field + ".from_account"}, {l.To, to, field + ".to_account"}} {
			if side.ref.ID == uuid.Nil {
				e := newError(ledger.ErrUnknownAccount.Code, ledger.ReasonUnknownAccount, "unknown account %s", side.id)
				e.Field, e.Account = side.field, side.id
				return e
			}
			if side.ref.Owner == counterparty || allowed[side.ref.Owner] {
				continue
			}
			if err := s.mayActForSide(ctx, p, side.ref, side.field); err != nil {
				return err
			}
			allowed[side.ref.Owner] = true
		}
		for _, acc := range []ledger.AccountRef{from, to} {
			if acc.Kind == ledger.KindFund {
				// A fund's money moves only with the fund's book (its
				// contributions and grants), never by a plain transfer.
				return invalid(field, "%s names account %s, a fund's: money moves in and out of a fund only by its contributions and grant disbursements", field, acc.ID)
			}
		}
		own := from.Owner
		if from.Owner == counterparty {
			own = to.Owner
		}
		switch {
		case from.Owner == counterparty && to.Owner == counterparty:
			return invalid(field, "%s moves value between two accounts of the counterparty; every leg goes between the two organizations", field)
		case from.Owner != counterparty && to.Owner != counterparty:
			return invalid(field, "%s names no account of counterparty_org %s; every leg goes between the two organizations", field, t.CounterpartyOrg)
		case proposer != "" && own != proposer:
			return invalid(field, "%s names an account of a third party (%s); a trade is between two organizations", field, own)
		}
		proposer = own
		if err := s.checkLegUnit(ctx, field, l, from, to); err != nil {
			return err
		}
	}
	kind, id, ok := ParseOwner(proposer)
	switch {
	case !ok || kind != OwnerOrg:
		return invalid("legs", "the legs' other side belongs to %q, not to an organization; a trade is between two organizations' accounts", proposer)
	case t.ProposerOrg != uuid.Nil && id != t.ProposerOrg:
		return invalid("proposer_org", "the legs name accounts of organization %s, not of proposer_org %s", id, t.ProposerOrg)
	}
	t.ProposerOrg = id
	return nil
}

// mayActForSide checks that p may move value out of an account of the
// proposer's side.
func (s *Store) mayActForSide(ctx context.Context, p Principal, ref ledger.AccountRef, field string) error {
	err := s.CanMoveFrom(ctx, p, ledger.Account{ID: ref.ID, Owner: ref.Owner})
	var e *ledger.Error
	if errors.As(err, &e) {
		e.Field = field
		switch e.Code {
		case ledger.ENOTFOUND:
			e.Message = fmt.Sprintf("unknown account %s", ref.ID)
		case EFORBIDDEN:
			e.Message = fmt.Sprintf("you may not trade from account %s: you do not act for its owner", ref.ID)
		}
	}
	return err
}

// checkLegUnit checks that a leg's unit is its accounts' and that the
// amount fits the unit's scale (never rounded: the ledger would refuse it
// at acceptance).
func (s *Store) checkLegUnit(ctx context.Context, field string, l TradeLeg, from, to ledger.AccountRef) error {
	for _, acc := range []ledger.AccountRef{from, to} {
		if acc.Unit != l.Unit {
			e := newError(ledger.ErrUnitMismatch.Code, ledger.ReasonUnitMismatch,
				"%s is in %q but account %s holds %s", field, l.Unit, acc.ID, acc.Unit)
			e.Field, e.Account, e.Unit = field+".unit", acc.ID, acc.Unit
			return e
		}
	}
	u, err := s.led.Unit(ctx, l.Unit)
	if err != nil {
		return err
	}
	return u.CheckAmount(l.Amount, field+".amount")
}

func insertLegs(ctx context.Context, tx *pgtx.Tx, t Trade) error {
	n := len(t.Legs)
	idx, from, to, amount, unit := make([]int64, n), make([]uuid.UUID, n), make([]uuid.UUID, n), make([]string, n), make([]string, n)
	for i, l := range t.Legs {
		idx[i], from[i], to[i], amount[i], unit[i] = int64(i), l.From, l.To, l.Amount.String(), l.Unit
	}
	_, err := tx.Exec(ctx, `
INSERT INTO trade_legs (trade_id, leg, from_account, to_account, amount, unit)
SELECT $1::UUID, l.leg, l.from_account, l.to_account, l.amount::NUMERIC, l.unit
FROM unnest($2::BIGINT[], $3::UUID[], $4::UUID[], $5::TEXT[], $6::TEXT[]) AS l (leg, from_account, to_account, amount, unit)`,
		t.ID, idx, from, to, amount, unit)
	return err
}

// tradeColumns selects a trade with its status as of $1 (the clock): a
// proposed trade past its expiry reads as expired.
const tradeColumns = `t.id, t.proposer_org, t.counterparty_org, t.proposed_by,
    CASE WHEN t.status = 'proposed' AND t.expires_at <= $1 THEN 'expired' ELSE t.status END,
    t.memo, t.transfer_id, t.decided_by, t.expires_at, t.created_at, t.updated_at`

func scanTrade(r pgx.Row) (Trade, error) {
	var t Trade
	err := r.Scan(&t.ID, &t.ProposerOrg, &t.CounterpartyOrg, &t.ProposedBy, &t.Status, &t.Memo,
		&t.TransferID, &t.DecidedBy, &t.ExpiresAt, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

// queryer is what reads trades: a pool or a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadLegs fills in the legs of trades.
func loadLegs(ctx context.Context, q queryer, trades []Trade) error {
	if len(trades) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(trades))
	at := make(map[uuid.UUID]int, len(trades))
	for i, t := range trades {
		ids[i], at[t.ID] = t.ID, i
	}
	rows, err := q.Query(ctx, `
SELECT trade_id, from_account, to_account, amount, unit FROM trade_legs
WHERE trade_id = ANY($1) ORDER BY trade_id, leg`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var l TradeLeg
		if err := rows.Scan(&id, &l.From, &l.To, &l.Amount, &l.Unit); err != nil {
			return err
		}
		trades[at[id]].Legs = append(trades[at[id]].Legs, l)
	}
	return rows.Err()
}

func (s *Store) trade(ctx context.Context, q queryer, id uuid.UUID, lock bool) (Trade, error) {
	sql := `SELECT ` + tradeColumns + ` FROM trades t WHERE t.id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, s.clock(), id)
	if err != nil {
		return Trade{}, err
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trade, error) { return scanTrade(r) })
	if err != nil {
		return Trade{}, err
	}
	if len(ts) == 0 {
		return Trade{}, unknownTrade(id)
	}
	if err := loadLegs(ctx, q, ts); err != nil {
		return Trade{}, err
	}
	return ts[0], nil
}

// Who may see and decide a trade. The members of either organization (any
// role) and the coordinators who act for either may see it; deciding is for
// those who act for the side that decides: the counterparty accepts or
// declines, the proposer cancels.

// MayReadTrades decides whether p may see the trades of an organization,
// given the organization and its governors (the organization and its
// ancestors): its members, its governors' coordinators and the admin may;
// anyone else gets ErrNotVisible.
func (p Principal) MayReadTrades(org uuid.UUID, orgGovernors []uuid.UUID) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if _, member := p.Roles[org]; member || p.Admin || p.governs(orgGovernors) {
		return nil
	}
	return notVisible()
}

// tradeParty is one side of a trade, as the rules need it.
type tradeParty struct {
	org       uuid.UUID
	governors []uuid.UUID
}

func (s *Store) parties(ctx context.Context, t Trade) (proposer, counterparty tradeParty, err error) {
	proposer.org, counterparty.org = t.ProposerOrg, t.CounterpartyOrg
	if proposer.governors, err = s.governors(ctx, OrgOwner(t.ProposerOrg)); err != nil {
		return
	}
	counterparty.governors, err = s.governors(ctx, OrgOwner(t.CounterpartyOrg))
	return
}

// visibleTrade returns a trade p may see, with its parties, or
// ErrUnknownTrade, as for a trade that does not exist.
func (s *Store) visibleTrade(ctx context.Context, p Principal, id uuid.UUID) (Trade, tradeParty, tradeParty, error) {
	if p.MemberID == uuid.Nil {
		return Trade{}, tradeParty{}, tradeParty{}, unauthenticated()
	}
	t, err := s.trade(ctx, s.db.Pool, id, false)
	if err != nil {
		return Trade{}, tradeParty{}, tradeParty{}, err
	}
	prop, cp, err := s.parties(ctx, t)
	if err != nil {
		return Trade{}, tradeParty{}, tradeParty{}, err
	}
	if p.MayReadTrades(prop.org, prop.governors) != nil && p.MayReadTrades(cp.org, cp.governors) != nil {
		return Trade{}, tradeParty{}, tradeParty{}, unknownTrade(id)
	}
	return t, prop, cp, nil
}

// mayReadDealings decides whether p may list what an organization deals with
// other organizations (its trades, its obligations; what names them): nil,
// ErrUnknownOrg, or ErrForbidden by MayReadTrades' rule (organizations are
// public, so the refusal hides nothing).
func (s *Store) mayReadDealings(ctx context.Context, p Principal, org uuid.UUID, what string) error {
	gov, err := s.governors(ctx, OrgOwner(org))
	if err != nil {
		return err
	}
	if len(gov) == 0 {
		return unknownOrg(org)
	}
	if err := p.MayReadTrades(org, gov); err != nil {
		if errors.Is(err, ErrNotVisible) {
			return forbiddenBecause(fmt.Sprintf("you may not see the %s of organization %s: ask one of its coordinators", what, org))
		}
		return err
	}
	return nil
}

// Trade returns a trade p may see: ErrUnknownTrade for one that does not
// exist or that p may not see (see MayReadTrades: a member or coordinator
// of either party, or the admin), ErrUnauthenticated for a zero Principal.
func (s *Store) Trade(ctx context.Context, p Principal, id uuid.UUID) (Trade, error) {
	t, _, _, err := s.visibleTrade(ctx, p, id)
	return t, err
}

// Trades lists the trades an organization proposed or was proposed, in id
// order (creation order), one page at a time; next is the After of the
// following page (uuid.Nil on the last). It returns ErrUnknownOrg,
// ErrForbidden when p may not see the organization's trades (see
// MayReadTrades; organizations are public, so the refusal hides nothing),
// and ledger.ErrInvalidRequest for a bad limit.
func (s *Store) Trades(ctx context.Context, p Principal, org uuid.UUID, page Page) (trades []Trade, next uuid.UUID, err error) {
	limit, err := page.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	if err := s.mayReadDealings(ctx, p, org, "trades"); err != nil {
		return nil, uuid.Nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT `+tradeColumns+` FROM trades t
WHERE (t.proposer_org = $2 OR t.counterparty_org = $2) AND t.id > $3 ORDER BY t.id LIMIT $4`,
		s.clock(), org, page.After, limit+1)
	if err != nil {
		return nil, uuid.Nil, err
	}
	trades, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trade, error) { return scanTrade(r) })
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(trades) > limit {
		trades = trades[:limit]
		next = trades[limit-1].ID
	}
	if err := loadLegs(ctx, s.db.Pool, trades); err != nil {
		return nil, uuid.Nil, err
	}
	return trades, next, nil
}

// notProposed is the conflict for deciding a trade that is no longer
// proposed.
func notProposed(t Trade) *ledger.Error {
	return newError(ErrTradeNotProposed.Code, ReasonTradeNotProposed,
		"trade %s is %s, not proposed: it can no longer be accepted, declined or cancelled", t.ID, t.Status)
}

// decidedAlready reports whether p's member already made decision to on t:
// the same request sent again (its first answer lost with the connection,
// say) gets the trade as it stands instead of ErrTradeNotProposed, which
// would tell the member that someone else decided.
func decidedAlready(t Trade, p Principal, to TradeStatus) bool {
	return t.Status == to && t.DecidedBy != nil && *t.DecidedBy == p.MemberID
}

// mayDecide checks that p acts for the party that makes the decision.
func mayDecide(p Principal, party tradeParty, what string) error {
	err := p.MayManageOrg(party.governors)
	if e, ok := err.(*ledger.Error); ok && e.Code == EFORBIDDEN {
		e.Message = fmt.Sprintf("only a coordinator of organization %s may %s this trade", party.org, what)
	}
	return err
}

// AcceptTrade accepts a proposed trade for its counterparty: in one
// transaction it locks the trade, posts every leg as one atomic ledger
// transfer (metadata {"trade": id}) and marks the trade accepted with that
// transfer. When two decisions race (two accepts, an accept and a cancel),
// the row lock orders them and the later one finds the trade decided. The
// proposer's coordinators and the member who proposed are notified in the
// same transaction.
//
// It returns ErrUnknownTrade (also for a trade p may not see); ErrForbidden
// when p may see it but does not act for the counterparty;
// ErrTradeNotProposed when it was already decided (by another member) or has
// expired; accepting a trade the same member accepted returns it unchanged;
// the ledger's refusals (ledger.ErrInsufficientFunds, ledger.ErrAccountFrozen,
// ...), with the trade left proposed and nothing moved.
func (s *Store) AcceptTrade(ctx context.Context, p Principal, id uuid.UUID) (Trade, error) {
	_, _, cp, err := s.visibleTrade(ctx, p, id)
	if err != nil {
		return Trade{}, err
	}
	if err := mayDecide(p, cp, "accept"); err != nil {
		return Trade{}, err
	}
	var out Trade
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		out = Trade{}
		t, err := s.trade(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if decidedAlready(t, p, TradeAccepted) {
			out = t
			return nil
		}
		if t.Status != TradeProposed {
			return notProposed(t)
		}
		meta, err := json.Marshal(map[string]string{"trade": t.ID.String()})
		if err != nil {
			return err
		}
		ps := make([]ledger.Posting, len(t.Legs))
		for i, l := range t.Legs {
			ps[i] = ledger.Posting{From: l.From, To: l.To, Amount: l.Amount, Unit: l.Unit}
		}
		tr, err := lt.CreateTransfer(ctx, ledger.TransferRequest{Postings: ps, Memo: t.Memo, Metadata: meta})
		if err != nil {
			return legErr(err)
		}
		now := s.clock()
		t.Status, t.TransferID, t.DecidedBy, t.UpdatedAt = TradeAccepted, &tr.ID, &p.MemberID, now
		// The transfer's row is written with COMMIT: the update that
		// references it follows it.
		b := &pgx.Batch{}
		b.Queue(`UPDATE trades SET status = 'accepted', transfer_id = $2, decided_by = $3, updated_at = $4
WHERE id = $1 AND status = 'proposed'`, t.ID, tr.ID, p.MemberID, now)
		tx.Defer(b, func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("accepting trade %s updated %d rows, want 1", t.ID, tag.RowsAffected())
			}
			return err
		})
		out = t
		return tellTrade(ctx, tx, now, p, t, "trade_accepted")
	})
	return out, err
}

// tradeNews says what a trade's notification of each kind tells, and
// whether it goes to the proposer's side (the counterparty acted) rather
// than the counterparty's (the proposer acted).
var tradeNews = map[string]struct {
	toProposer bool
	says       string
}{
	"trade_proposed":  {false, "%s proposes a trade to %s: accept or decline it"},
	"trade_accepted":  {true, "%[2]s accepted the trade %[1]s proposed; its legs moved"},
	"trade_declined":  {true, "%[2]s declined the trade %[1]s proposed; nothing moved"},
	"trade_cancelled": {false, "%s cancelled the trade it proposed to %s"},
}

// tellTrade notifies the other side of a trade's step than the one that
// took it: the coordinators of the counterparty when the proposer proposes
// or cancels; those of the proposer, and the member who proposed, when the
// counterparty accepts or declines. An organization without coordinators
// of its own is represented by those of the nearest organization above it
// that has some. p, who acted, is not told.
func tellTrade(ctx context.Context, tx *pgtx.Tx, now time.Time, p Principal, t Trade, kind string) error {
	news := tradeNews[kind]
	org := t.CounterpartyOrg
	if news.toProposer {
		org = t.ProposerOrg
	}
	// The step is recorded with its notification: each step tells once.
	acted := t.ProposerOrg
	if news.toProposer {
		acted = t.CounterpartyOrg
	}
	d := map[string]any{"status": t.Status, "proposer_org": t.ProposerOrg, "counterparty_org": t.CounterpartyOrg}
	if t.TransferID != nil {
		d["transfer_id"] = *t.TransferID
	}
	record(tx, p, now, auditEvent{kind: strings.Replace(kind, "_", ".", 1), subject: t.ID, org: acted, details: d})
	to, err := nearestCoordinators(ctx, tx, org, p.MemberID)
	if err != nil {
		return err
	}
	if news.toProposer {
		to = without(append(to, t.ProposedBy), p.MemberID)
	}
	var proposer, counterparty string
	if err := tx.QueryRow(ctx, `SELECT (SELECT name FROM orgs WHERE id = $1), (SELECT name FROM orgs WHERE id = $2)`,
		t.ProposerOrg, t.CounterpartyOrg).Scan(&proposer, &counterparty); err != nil {
		return err
	}
	msg := fmt.Sprintf(news.says, proposer, counterparty)
	memo := truncateRunes(t.Memo, 500)
	if memo != "" {
		msg += ": " + memo
	}
	return notify(ctx, tx, now, notice{Kind: kind, Trade: &t.ID, Message: msg,
		Params: map[string]string{"Proposer": proposer, "Counterparty": counterparty, "Memo": memo}}, to...)
}

// legErr names a refused posting of a trade's transfer as the trade's leg,
// the field the client sent.
func legErr(err error) error {
	var e *ledger.Error
	if errors.As(err, &e) && strings.HasPrefix(e.Field, "postings[") {
		field := "legs[" + strings.TrimPrefix(e.Field, "postings[")
		if strings.HasSuffix(field, ".from") || strings.HasSuffix(field, ".to") {
			field += "_account"
		}
		e.Message = strings.ReplaceAll(e.Message, e.Field, field)
		e.Field = field
	}
	return err
}

// DeclineTrade declines a proposed trade for its counterparty; nothing
// moves, and the proposer's side is notified as for AcceptTrade. Its errors
// are AcceptTrade's, without the ledger's.
func (s *Store) DeclineTrade(ctx context.Context, p Principal, id uuid.UUID) (Trade, error) {
	_, _, cp, err := s.visibleTrade(ctx, p, id)
	if err != nil {
		return Trade{}, err
	}
	if err := mayDecide(p, cp, "decline"); err != nil {
		return Trade{}, err
	}
	return s.closeTrade(ctx, p, id, TradeDeclined)
}

// CancelTrade withdraws a proposed trade for its proposer; nothing moves,
// and the counterparty's coordinators are notified. It
// returns ErrUnknownTrade (also for a trade p may not see); ErrForbidden
// when p may see it but does not act for the proposer; ErrTradeNotProposed
// when it was already decided or has expired. Cancelling a trade the same
// member cancelled returns it unchanged.
func (s *Store) CancelTrade(ctx context.Context, p Principal, id uuid.UUID) (Trade, error) {
	_, prop, _, err := s.visibleTrade(ctx, p, id)
	if err != nil {
		return Trade{}, err
	}
	if err := mayDecide(p, prop, "cancel"); err != nil {
		return Trade{}, err
	}
	return s.closeTrade(ctx, p, id, TradeCancelled)
}

// closeTrade moves a proposed trade to a final status without moving value,
// under the same row lock as AcceptTrade.
func (s *Store) closeTrade(ctx context.Context, p Principal, id uuid.UUID, to TradeStatus) (Trade, error) {
	var out Trade
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		t, err := s.trade(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if decidedAlready(t, p, to) {
			out = t
			return nil
		}
		if t.Status != TradeProposed {
			return notProposed(t)
		}
		now := s.clock()
		if _, err := tx.Exec(ctx, `UPDATE trades SET status = $2, decided_by = $3, updated_at = $4 WHERE id = $1`,
			id, to, p.MemberID, now); err != nil {
			return err
		}
		t.Status, t.DecidedBy, t.UpdatedAt = to, &p.MemberID, now
		out = t
		return tellTrade(ctx, tx, now, p, t, "trade_"+string(to))
	})
	return out, err
}
