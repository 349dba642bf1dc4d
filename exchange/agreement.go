package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// AgreementStatus is where an agreement stands.
type AgreementStatus string

// The agreement statuses and their transitions:
//
//	proposed → accepted (the hold is written), cancelled, expired
//	accepted → completed (the hold is posted), cancelled or expired (voided), disputed
//	disputed → completed or cancelled, by a coordinator's resolution
//
// completed, cancelled and expired are final.
const (
	AgreementProposed  AgreementStatus = "proposed"
	AgreementAccepted  AgreementStatus = "accepted"
	AgreementCompleted AgreementStatus = "completed"
	AgreementCancelled AgreementStatus = "cancelled"
	AgreementExpired   AgreementStatus = "expired"
	AgreementDisputed  AgreementStatus = "disputed"
)

// open reports whether an agreement still holds its listings' quantity
// without having completed: accepted or disputed.
func (st AgreementStatus) open() bool { return st == AgreementAccepted || st == AgreementDisputed }

// consumes reports whether an agreement uses up its quantity of its
// listings: accepted, disputed or completed.
func (st AgreementStatus) consumes() bool { return st.open() || st == AgreementCompleted }

// The reasons of the agreement errors.
const (
	ReasonUnknownAgreement ledger.Reason = "unknown_agreement"
	ReasonAgreementState   ledger.Reason = "agreement_state"
	ReasonAgreementExpired ledger.Reason = "agreement_expired"
	ReasonNoCapacity       ledger.Reason = "no_capacity"
	ReasonListingClosed    ledger.Reason = "listing_closed"
	ReasonNoAccount        ledger.Reason = "no_account"
)

// Sentinel errors of agreements, for errors.Is.
var (
	// ErrUnknownAgreement: no agreement has the id, or the principal may
	// not see it.
	ErrUnknownAgreement = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownAgreement}
	// ErrAgreementState: the agreement's status does not allow the step
	// (accepting a cancelled agreement, cancelling a completed one).
	ErrAgreementState = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonAgreementState}
	// ErrAgreementExpired: the agreement passed its expiry before the step;
	// it is now expired and its hold, if any, released.
	ErrAgreementExpired = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonAgreementExpired}
	// ErrNoCapacity: the offer or the need has less quantity left than the
	// agreement asks for (another agreement took it).
	ErrNoCapacity = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonNoCapacity}
	// ErrListingClosed: the offer or the need is no longer open (withdrawn,
	// expired or fulfilled).
	ErrListingClosed = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonListingClosed}
	// ErrNoAccount: the member has no open account in the agreement's unit,
	// or several and did not say which.
	ErrNoAccount = &ledger.Error{Code: ledger.EINVALID, Reason: ReasonNoAccount}
)

func unknownAgreement(id uuid.UUID) *ledger.Error {
	return newError(ErrUnknownAgreement.Code, ReasonUnknownAgreement, "unknown agreement %s", id)
}

func agreementState(a *Agreement, step string) *ledger.Error {
	return newError(ErrAgreementState.Code, ReasonAgreementState, "agreement %s is %s and cannot be %s", a.ID, a.Status, step)
}

// Agreement joins an offer to a need: the giver (the offer's owner) gives
// Quantity of Unit to the receiver (the need's owner), and the receiver's
// account pays the giver's when it is completed.
type Agreement struct {
	ID         uuid.UUID
	OfferID    uuid.UUID
	NeedID     uuid.UUID
	Giver      uuid.UUID
	Receiver   uuid.UUID
	ProposedBy uuid.UUID
	// ProposedFor is the organization on whose behalf a coordinator
	// (ProposedBy, who need not be a party) sent the proposal from a
	// matching proposal; both parties then accept it. Nil when a party
	// proposed.
	ProposedFor *uuid.UUID
	// Quantity is what was agreed: the most the hold reserves and the
	// completion may post.
	Quantity decimal.Decimal
	Unit     string
	// GiverAccount is credited and ReceiverAccount debited; each is set
	// when its owner proposes or accepts.
	GiverAccount    *uuid.UUID
	ReceiverAccount *uuid.UUID
	// Status is as of the store's clock: a proposed or accepted agreement
	// past ExpiresAt reads as expired even before ExpireAgreements records
	// it (its hold is then released by the sweeper or the next step).
	Status AgreementStatus
	// HoldID is the ledger hold written on acceptance; TransferID the
	// transfer that posted it on completion.
	HoldID     *uuid.UUID
	TransferID *uuid.UUID
	// GiverConfirmed and ReceiverConfirmed are the actual quantities each
	// party confirmed; the agreement completes when they are equal.
	GiverConfirmed    *decimal.Decimal
	ReceiverConfirmed *decimal.Decimal
	// CompletedQuantity is what a completed agreement moved (at most
	// Quantity): what it takes from its offer and its need. Nil until it
	// completes, and for agreements completed before it was recorded.
	CompletedQuantity *decimal.Decimal
	Message           string
	// Reason says why it was cancelled or disputed, or how a dispute was
	// resolved.
	Reason string
	// ClosedBy is who cancelled it or resolved its dispute; DisputedBy who
	// disputed it.
	ClosedBy    *uuid.UUID
	DisputedBy  *uuid.UUID
	ExpiresAt   time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	AcceptedAt  *time.Time
	CompletedAt *time.Time
}

// party reports whether m is the giver or the receiver.
func (a *Agreement) party(m uuid.UUID) bool { return m == a.Giver || m == a.Receiver }

// other returns the party who is not m.
func (a *Agreement) other(m uuid.UUID) uuid.UUID {
	if m == a.Giver {
		return a.Receiver
	}
	return a.Giver
}

// NewAgreement is a proposal: an offer and a need, by the owner of one of
// them to the owner of the other.
type NewAgreement struct {
	ID      uuid.UUID // optional; a new one is made when zero
	OfferID uuid.UUID
	NeedID  uuid.UUID
	// Quantity defaults to what is left of the need, or of the offer if
	// that is less.
	Quantity decimal.Decimal
	// Account is the proposer's account in the listings' unit; it may be
	// omitted when they have exactly one open.
	Account *uuid.UUID
	Message string // up to 2000 characters
	// ExpiresAt, when given, must be in the future; it defaults to
	// DefaultAgreementTTL from now. An agreement not completed by then
	// expires and its hold is released.
	ExpiresAt *time.Time
}

// DefaultAgreementTTL is how long an agreement lasts when its proposal says
// nothing.
const DefaultAgreementTTL = 30 * 24 * time.Hour

const agreementColumns = `a.id, a.offer_id, a.need_id, a.giver, a.receiver, a.proposed_by, a.quantity, a.unit,
    a.giver_account, a.receiver_account,
    CASE WHEN a.status IN ('proposed', 'accepted') AND a.expires_at <= $1 THEN 'expired' ELSE a.status END,
    a.hold_id, a.transfer_id, a.giver_confirmed, a.receiver_confirmed, a.message, a.reason,
    a.closed_by, a.disputed_by, a.expires_at, a.created_at, a.updated_at, a.accepted_at, a.completed_at,
    a.completed_quantity, a.proposed_for`

func scanAgreement(r pgx.Row) (Agreement, error) {
	var a Agreement
	var gc, rc, cq decimal.NullDecimal
	err := r.Scan(&a.ID, &a.OfferID, &a.NeedID, &a.Giver, &a.Receiver, &a.ProposedBy, &a.Quantity, &a.Unit,
		&a.GiverAccount, &a.ReceiverAccount, &a.Status, &a.HoldID, &a.TransferID, &gc, &rc,
		&a.Message, &a.Reason, &a.ClosedBy, &a.DisputedBy, &a.ExpiresAt, &a.CreatedAt, &a.UpdatedAt,
		&a.AcceptedAt, &a.CompletedAt, &cq, &a.ProposedFor)
	if cq.Valid {
		a.CompletedQuantity = &cq.Decimal
	}
	if gc.Valid {
		a.GiverConfirmed = &gc.Decimal
	}
	if rc.Valid {
		a.ReceiverConfirmed = &rc.Decimal
	}
	return a, err
}

// ProposeAgreement records a proposal by p, who must own the offer or the
// need; the other listing must be one p may see. Both must be open (or
// matched with quantity left), in the same unit, and owned by two different
// members. It returns ErrUnknownListing (also for a listing p may not see),
// ErrForbidden when p owns neither, ErrListingClosed, ErrNoCapacity when
// less than Quantity is left of either, ErrNoAccount, and
// ledger.ErrInvalidRequest for bad input. The other party is notified.
// Nothing is reserved yet: the hold is written on acceptance.
func (s *Store) ProposeAgreement(ctx context.Context, p Principal, in NewAgreement) (Agreement, error) {
	if p.MemberID == uuid.Nil {
		return Agreement{}, unauthenticated()
	}
	msg, err := checkText("message", in.Message, 0, 2000)
	if err != nil {
		return Agreement{}, err
	}
	now := s.clock()
	expires := now.Add(DefaultAgreementTTL)
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(now) {
			return Agreement{}, invalid("expires_at", "expires_at must be in the future")
		}
		expires = in.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	if in.Quantity.Sign() < 0 {
		return Agreement{}, invalid("quantity", "quantity must be positive, not %s", in.Quantity)
	}
	if in.ID == uuid.Nil {
		in.ID = newID()
	}
	var a Agreement
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		// What is left is read under the listings' locks, as acceptance
		// reads it, so a proposal never offers what a concurrent
		// acceptance has just taken.
		if err := lockListings(ctx, tx, []uuid.UUID{in.OfferID, in.NeedID}); err != nil {
			return err
		}
		offer, need, err := s.proposalListings(ctx, tx, p, in, now)
		if err != nil {
			return err
		}
		left, err := leftOf(ctx, tx, offer, need, uuid.Nil)
		if err != nil {
			return err
		}
		q := in.Quantity
		if q.IsZero() {
			q = decimal.Min(left[0], left[1])
			for i, l := range []Listing{offer, need} {
				if left[i].Sign() <= 0 {
					return newError(ErrNoCapacity.Code, ReasonNoCapacity, "%s %s has nothing left: other agreements took all of it", l.Kind, l.ID)
				}
			}
		}
		if err := checkQuantity(ctx, lt, "quantity", q, offer.Unit); err != nil {
			return err
		}
		if err := checkCapacity(offer, need, left, q); err != nil {
			return err
		}
		a = Agreement{
			ID: in.ID, OfferID: offer.ID, NeedID: need.ID, Giver: offer.Owner, Receiver: need.Owner,
			ProposedBy: p.MemberID, Quantity: q, Unit: offer.Unit, Status: AgreementProposed,
			Message: msg, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now,
		}
		acct, err := payingAccount(ctx, tx, p.MemberID, a.Unit, in.Account)
		if err != nil {
			return err
		}
		if p.MemberID == a.Giver {
			a.GiverAccount = &acct
		} else {
			a.ReceiverAccount = &acct
		}
		_, err = tx.Exec(ctx, `
INSERT INTO agreements (id, offer_id, need_id, giver, receiver, proposed_by, quantity, unit,
    giver_account, receiver_account, status, message, expires_at, created_at, updated_at, region)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'proposed', $11, $12, $13, $13,
    COALESCE((SELECT region FROM listings WHERE id = $3), ''))`,
			a.ID, a.OfferID, a.NeedID, a.Giver, a.Receiver, a.ProposedBy, a.Quantity, a.Unit,
			a.GiverAccount, a.ReceiverAccount, a.Message, a.ExpiresAt, now)
		if pgCode(err) == uniqueViolation {
			return idTaken("agreement", a.ID)
		}
		if err != nil {
			return err
		}
		record(tx, p, now, auditEvent{kind: "agreement.proposed", subject: a.ID, org: need.OrgID, member: a.Receiver,
			details: map[string]any{"status": a.Status, "quantity": a.Quantity.String(), "unit": a.Unit, "offer_id": a.OfferID, "need_id": a.NeedID}})
		return notify(ctx, tx, now, notice{Kind: "agreement_proposed", Agreement: &a.ID,
			Message: fmt.Sprintf("%s %s of %q for %q was proposed to you", q, a.Unit, offer.Title, need.Title)}, a.other(p.MemberID))
	})
	if err != nil {
		return Agreement{}, err
	}
	return a, nil
}

// proposalListings loads and checks the two listings of a proposal.
func (s *Store) proposalListings(ctx context.Context, tx *pgtx.Tx, p Principal, in NewAgreement, now time.Time) (offer, need Listing, err error) {
	v := ViewerOf(p)
	load := func(id uuid.UUID, field string, kind ListingKind) (Listing, error) {
		l, err := scanListing(tx.QueryRow(ctx, `SELECT `+listingColumns+` FROM listings l WHERE l.id = $2`, now, id))
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !v.MaySee(l)) {
			e := unknownListing(id)
			e.Field = field
			return l, e
		}
		if err != nil {
			return l, err
		}
		if l.Kind != kind {
			return l, invalid(field, "listing %s is a %s, not a %s", id, l.Kind, kind)
		}
		return l, nil
	}
	if offer, err = load(in.OfferID, "offer_id", Offer); err != nil {
		return
	}
	if need, err = load(in.NeedID, "need_id", Need); err != nil {
		return
	}
	switch {
	case p.MemberID != offer.Owner && p.MemberID != need.Owner:
		return offer, need, forbiddenBecause("only the owner of the offer or of the need may propose an agreement between them")
	case offer.Owner == need.Owner:
		return offer, need, invalid("need_id", "the offer and the need have the same owner")
	case offer.Unit != need.Unit:
		return offer, need, invalid("need_id", "the offer is in %s and the need in %s", offer.Unit, need.Unit)
	}
	return offer, need, checkOpen(offer, need)
}

func checkOpen(ls ...Listing) error {
	for _, l := range ls {
		if l.Status != StatusOpen && l.Status != StatusMatched {
			return newError(ErrListingClosed.Code, ReasonListingClosed, "%s %s is %s", l.Kind, l.ID, l.Status)
		}
	}
	return nil
}

// leftOf returns how much is left of the offer and of the need: their
// quantity less what their agreements take (consumedSQL), leaving out the
// agreement except.
func leftOf(ctx context.Context, q *pgtx.Tx, offer, need Listing, except uuid.UUID) ([2]decimal.Decimal, error) {
	var used [2]decimal.Decimal
	err := q.QueryRow(ctx, `
SELECT COALESCE(sum(`+consumedSQL+`) FILTER (WHERE offer_id = $1), 0), COALESCE(sum(`+consumedSQL+`) FILTER (WHERE need_id = $2), 0)
FROM agreements
WHERE (offer_id = $1 OR need_id = $2) AND `+consumesSQL+` AND id <> $3`,
		offer.ID, need.ID, except).Scan(&used[0], &used[1])
	return [2]decimal.Decimal{offer.Quantity.Sub(used[0]), need.Quantity.Sub(used[1])}, err
}

func checkCapacity(offer, need Listing, left [2]decimal.Decimal, q decimal.Decimal) error {
	for i, l := range []Listing{offer, need} {
		if left[i].LessThan(q) {
			avail := decimal.Max(left[i], decimal.Zero)
			e := newError(ErrNoCapacity.Code, ReasonNoCapacity, "%s %q has %s %s left after its agreements, less than the %s asked for",
				l.Kind, l.Title, avail, l.Unit, q)
			e.Field, e.Unit, e.Available, e.Requested = "quantity", l.Unit, &avail, &q
			return e
		}
	}
	return nil
}

// checkQuantity checks a positive quantity against the unit's scale, which
// it reads through lt's transaction (or its cache).
func checkQuantity(ctx context.Context, lt *ledger.Tx, field string, v decimal.Decimal, unit string) error {
	u, err := lt.Unit(ctx, unit)
	if err != nil {
		return err
	}
	return u.CheckAmount(v, field)
}

// Agreement returns an agreement p may see: a party's, or one whose
// listings are in an organization p coordinates (or any, for the admin).
// Anyone else gets ErrUnknownAgreement, as for one that does not exist.
func (s *Store) Agreement(ctx context.Context, p Principal, id uuid.UUID) (Agreement, error) {
	a, err := scanAgreement(s.db.Pool.QueryRow(ctx, `SELECT `+agreementColumns+` FROM agreements a WHERE a.id = $2`, s.clock(), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Agreement{}, unknownAgreement(id)
	}
	if err != nil {
		return Agreement{}, err
	}
	if err := s.maySeeAgreement(ctx, p, &a); err != nil {
		return Agreement{}, err
	}
	return a, nil
}

func (s *Store) maySeeAgreement(ctx context.Context, p Principal, a *Agreement) error {
	if p.MemberID == uuid.Nil {
		return unauthenticated()
	}
	if p.Admin || a.party(p.MemberID) {
		return nil
	}
	if ok, err := s.coordinates(ctx, p, a); err != nil || ok {
		return err
	}
	return unknownAgreement(a.ID)
}

// coordinates reports whether p coordinates an organization the
// agreement's offer or need is posted in (or one above it).
func (s *Store) coordinates(ctx context.Context, p Principal, a *Agreement) (bool, error) {
	if p.Admin {
		return true, nil
	}
	if !p.governsAny() {
		return false, nil
	}
	orgs, err := s.agreementOrgs(ctx, a)
	if err != nil {
		return false, err
	}
	for _, o := range orgs {
		gov, err := s.governors(ctx, OrgOwner(o))
		if err != nil {
			return false, err
		}
		if p.governs(gov) {
			return true, nil
		}
	}
	return false, nil
}

// agreementOrgs returns the organizations of the agreement's need and offer,
// the need's first.
func (s *Store) agreementOrgs(ctx context.Context, a *Agreement) ([]uuid.UUID, error) {
	var needOrg, offerOrg uuid.UUID
	err := s.db.Pool.QueryRow(ctx, `SELECT (SELECT org_id FROM listings WHERE id = $1), (SELECT org_id FROM listings WHERE id = $2)`,
		a.NeedID, a.OfferID).Scan(&needOrg, &offerOrg)
	if err != nil {
		return nil, err
	}
	if needOrg == offerOrg {
		return []uuid.UUID{needOrg}, nil
	}
	return []uuid.UUID{needOrg, offerOrg}, nil
}

// AgreementFilter narrows Agreements.
type AgreementFilter struct {
	Status  AgreementStatus // "" for any
	Listing uuid.UUID       // uuid.Nil for any
	// Org, when set, asks for the agreements whose offer or need is posted
	// in the organization, rather than the principal's own: for its
	// coordinators (and those of the organizations above it) and the admin.
	Org uuid.UUID
}

// Agreements returns p's own agreements, as giver or receiver, or with
// f.Org those of an organization p coordinates, oldest first, one page at
// a time. It returns ErrForbidden or ErrUnknownOrg for an organization p
// may not list, and ledger.ErrInvalidRequest for a bad status or page.
func (s *Store) Agreements(ctx context.Context, p Principal, f AgreementFilter, pg Page) (as []Agreement, next uuid.UUID, err error) {
	if p.MemberID == uuid.Nil {
		return nil, uuid.Nil, unauthenticated()
	}
	if f.Org != uuid.Nil {
		if err := s.CanManageOrg(ctx, p, f.Org); err != nil {
			return nil, uuid.Nil, err
		}
	}
	limit, err := pg.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	if f.Status != "" && !slices.Contains([]AgreementStatus{AgreementProposed, AgreementAccepted, AgreementCompleted,
		AgreementCancelled, AgreementExpired, AgreementDisputed}, f.Status) {
		return nil, uuid.Nil, invalid("status", "status must be proposed, accepted, completed, cancelled, expired or disputed, not %q", f.Status)
	}
	var listing, org *uuid.UUID
	if f.Listing != uuid.Nil {
		listing = &f.Listing
	}
	if f.Org != uuid.Nil {
		org = &f.Org
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT * FROM (
    SELECT `+agreementColumns+` FROM agreements a
    WHERE a.id > $3
      AND (CASE WHEN $7::UUID IS NULL THEN a.giver = $2 OR a.receiver = $2
                ELSE EXISTS (SELECT 1 FROM listings l WHERE l.id IN (a.offer_id, a.need_id) AND l.org_id = $7) END)
      AND ($5::UUID IS NULL OR a.offer_id = $5 OR a.need_id = $5)
) x WHERE $4 = '' OR x.status = $4
ORDER BY x.id LIMIT $6`, s.clock(), p.MemberID, pg.After, string(f.Status), listing, limit+1, org)
	if err != nil {
		return nil, uuid.Nil, err
	}
	as, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Agreement, error) { return scanAgreement(r) })
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(as) > limit {
		as = as[:limit]
		next = as[limit-1].ID
	}
	return as, next, nil
}

// step is one change to an agreement, decided under its lock.
type step struct {
	s   *Store
	ctx context.Context
	tx  *pgtx.Tx
	lt  *ledger.Tx
	now time.Time
	p   Principal
	// coordinates is set when p sees the agreement as a coordinator of an
	// organization of its listings (or as the admin), not as a party.
	coordinates bool
	a           Agreement       // locked; the step changes it
	before      AgreementStatus // a's status when it was locked
	offer       Listing         // locked
	need        Listing         // locked
	// noop is set by a step that finds its work already done (a repeated
	// acceptance): nothing is written.
	noop   bool
	notify []notification
	// action names the step in the audit log ("accepted", "confirmed").
	action string
}

type notification struct {
	kind    string
	message string
	to      []uuid.UUID
	params  map[string]string
}

// errExpired aborts a step on an agreement found past its expiry: it is
// expired in a transaction of its own, then the step is refused.
var errExpired = errors.New("agreement expired")

// change runs one step on an agreement in one transaction: it locks the
// agreement, then its two listings (in id order), lets decide check and
// change them and make at most one ledger change, then writes the
// agreement, the listings' statuses and the notifications. Every step on an
// agreement locks it first, so two parties acting at once are decided one
// after the other, and every acceptance locks the listings, so two
// agreements on one offer cannot both take its last hour.
func (s *Store) change(ctx context.Context, p Principal, id uuid.UUID, action string, decide func(st *step) error) (Agreement, error) {
	// Who may see the agreement rests on rows that never change (its
	// parties, its listings' organizations, the organization tree), so it
	// is decided before the transaction and off its connection: a
	// transaction that waited for a second connection could wait for ever
	// once the pool is spent. Whoever may see it and is no party sees it
	// as one of its coordinators or the admin.
	pre, err := s.Agreement(ctx, p, id)
	if err != nil {
		return Agreement{}, err
	}
	coordinates := !pre.party(p.MemberID)
	var a Agreement
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		st := &step{s: s, ctx: ctx, tx: tx, lt: lt, now: s.clock(), p: p, coordinates: coordinates, action: action}
		if err := st.lock(id); err != nil {
			return err
		}
		if st.a.Status == AgreementExpired && !st.expiredStored() {
			return errExpired
		}
		if err := decide(st); err != nil {
			return err
		}
		if !st.noop {
			if err := st.write(); err != nil {
				return err
			}
		}
		a = st.a
		return nil
	})
	if errors.Is(err, errExpired) {
		if _, err := s.expireAgreement(ctx, id); err != nil {
			return Agreement{}, err
		}
		return Agreement{}, newError(ErrAgreementExpired.Code, ReasonAgreementExpired, "agreement %s expired; nothing is reserved for it any more", id)
	}
	if err != nil {
		return Agreement{}, err
	}
	return a, nil
}

// lock loads and locks the agreement and its listings.
func (st *step) lock(id uuid.UUID) error {
	var err error
	st.a, err = scanAgreement(st.tx.QueryRow(st.ctx, `SELECT `+agreementColumns+` FROM agreements a WHERE a.id = $2 FOR UPDATE`, st.now, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return unknownAgreement(id)
	}
	if err != nil {
		return err
	}
	st.before = st.a.Status
	rows, err := st.tx.Query(st.ctx, `SELECT `+listingColumns+` FROM listings l WHERE l.id IN ($2, $3) ORDER BY l.id FOR UPDATE`,
		st.now, st.a.OfferID, st.a.NeedID)
	if err != nil {
		return err
	}
	ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Listing, error) { return scanListing(r) })
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.ID == st.a.OfferID {
			st.offer = l
		} else {
			st.need = l
		}
	}
	return nil
}

// expiredStored reports whether the agreement's expiry is already recorded
// (rather than only read from the clock).
func (st *step) expiredStored() bool {
	var stored string
	if err := st.tx.QueryRow(st.ctx, `SELECT status FROM agreements WHERE id = $1`, st.a.ID).Scan(&stored); err != nil {
		return false
	}
	return stored == string(AgreementExpired)
}

// write stores the agreement after the ledger's rows (it references the
// hold and the transfer), then the listings' statuses and the notifications.
func (st *step) write() error {
	a := &st.a
	a.UpdatedAt = st.now
	b := &pgx.Batch{}
	b.Queue(`
UPDATE agreements SET status = $2, giver_account = $3, receiver_account = $4, hold_id = $5, transfer_id = $6,
    giver_confirmed = $7, receiver_confirmed = $8, reason = $9, closed_by = $10, disputed_by = $11,
    updated_at = $12, accepted_at = $13, completed_at = $14, completed_quantity = $15
WHERE id = $1`,
		a.ID, a.Status, a.GiverAccount, a.ReceiverAccount, a.HoldID, a.TransferID,
		optDecimal(a.GiverConfirmed), optDecimal(a.ReceiverConfirmed), a.Reason, a.ClosedBy, a.DisputedBy,
		a.UpdatedAt, a.AcceptedAt, a.CompletedAt, optDecimal(a.CompletedQuantity))
	n := 1
	// The listings' statuses turn on which agreements take their quantity
	// and which of those are still open: a step that changes neither (a
	// first confirmation, a dispute) leaves them as they are.
	if st.before.consumes() != a.Status.consumes() || st.before.open() != a.Status.open() {
		to, err := st.listingStatuses()
		if err != nil {
			return err
		}
		for i, l := range []*Listing{&st.offer, &st.need} {
			if to[i] != l.Status {
				b.Queue(`UPDATE listings SET status = $2, updated_at = $3 WHERE id = $1`, l.ID, to[i], st.now)
				l.Status = to[i]
				n++
			}
		}
	}
	for _, nt := range st.notify {
		for _, m := range nt.to {
			b.Queue(`INSERT INTO notifications (id, member_id, kind, agreement_id, message, created_at, params) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				newID(), m, nt.kind, a.ID, nt.message, st.now, params(nt.params))
			n++
		}
	}
	st.tx.Defer(b, func(br pgx.BatchResults) error {
		for range n {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	})
	d := map[string]any{"status": a.Status, "quantity": a.Quantity.String(), "unit": a.Unit}
	if a.HoldID != nil {
		d["hold_id"] = *a.HoldID
	}
	if a.TransferID != nil {
		d["transfer_id"] = *a.TransferID
	}
	record(st.tx, st.p, st.now, auditEvent{kind: "agreement." + st.action, subject: a.ID, org: st.need.OrgID, member: a.Receiver, details: d})
	return nil
}

// listingStatuses returns what the offer's and the need's statuses become
// once the step is written: matched while the whole quantity is taken by
// agreements still open, fulfilled once taken and none is open any more,
// open otherwise. Withdrawn, expired and fulfilled listings keep their
// status.
func (st *step) listingStatuses() ([2]ListingStatus, error) {
	var used [2]decimal.Decimal
	var open, completed [2]int64
	err := st.tx.QueryRow(st.ctx, `
SELECT COALESCE(sum(`+consumedSQL+`) FILTER (WHERE offer_id = $1), 0),
       count(*) FILTER (WHERE offer_id = $1 AND status IN ('accepted', 'disputed')),
       count(*) FILTER (WHERE offer_id = $1 AND status = 'completed'),
       COALESCE(sum(`+consumedSQL+`) FILTER (WHERE need_id = $2), 0),
       count(*) FILTER (WHERE need_id = $2 AND status IN ('accepted', 'disputed')),
       count(*) FILTER (WHERE need_id = $2 AND status = 'completed')
FROM agreements
WHERE (offer_id = $1 OR need_id = $2) AND `+consumesSQL+` AND id <> $3`,
		st.offer.ID, st.need.ID, st.a.ID).Scan(&used[0], &open[0], &completed[0], &used[1], &open[1], &completed[1])
	if err != nil {
		return [2]ListingStatus{}, err
	}
	var out [2]ListingStatus
	for i, l := range []Listing{st.offer, st.need} {
		if st.a.Status.consumes() {
			used[i] = used[i].Add(st.a.consumed())
			if st.a.Status.open() {
				open[i]++
			} else {
				completed[i]++
			}
		}
		switch {
		case l.Status != StatusOpen && l.Status != StatusMatched:
			out[i] = l.Status
		case used[i].LessThan(l.Quantity):
			out[i] = StatusOpen
		case open[i] == 0 && completed[i] > 0:
			out[i] = StatusFulfilled
		default:
			out[i] = StatusMatched
		}
	}
	return out, nil
}

func (st *step) tell(kind, message string, to ...uuid.UUID) {
	st.notify = append(st.notify, notification{kind: kind, message: message, to: to})
}

func optDecimal(d *decimal.Decimal) decimal.NullDecimal {
	if d == nil {
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: *d, Valid: true}
}

// AcceptAgreement accepts a proposal. Only the party who did not propose
// may accept; account names their account in the unit (nil: their only
// one). A proposal a coordinator sent for an organization (ProposedFor)
// is accepted by both parties: the first acceptance records the account
// and tells the other, the second reserves the hours as below. It locks the agreement and its listings, checks that both listings
// are still open with the quantity left, and writes a ledger hold that
// reserves the quantity in the receiver's account, in the same transaction.
// Accepting an agreement one has accepted returns it unchanged.
//
// It returns ErrUnknownAgreement, ErrForbidden (the proposer, or a
// coordinator who is no party), ErrAgreementState, ErrAgreementExpired,
// ErrListingClosed, ErrNoCapacity, ErrNoAccount, and the ledger's refusals
// of the hold: ledger.ErrInsufficientFunds when the receiver's credit does
// not cover it, ledger.ErrLimitExceeded when the giver's cap would be
// passed, ledger.ErrAccountFrozen.
func (s *Store) AcceptAgreement(ctx context.Context, p Principal, id uuid.UUID, account *uuid.UUID) (Agreement, error) {
	return s.change(ctx, p, id, "accepted", func(st *step) error {
		a := &st.a
		me := st.p.MemberID
		forOrg := a.ProposedFor != nil
		if !a.party(me) || (!forOrg && a.ProposedBy == me) {
			return forbiddenBecause("only the other party may accept the proposal")
		}
		mine := &a.ReceiverAccount
		if me == a.Giver {
			mine = &a.GiverAccount
		}
		if a.Status == AgreementAccepted || (a.Status == AgreementCompleted && a.AcceptedAt != nil) ||
			(forOrg && a.Status == AgreementProposed && *mine != nil) {
			st.noop = true
			return nil
		}
		if a.Status != AgreementProposed {
			return agreementState(a, "accepted")
		}
		if err := checkOpen(st.offer, st.need); err != nil {
			return err
		}
		left, err := leftOf(st.ctx, st.tx, st.offer, st.need, a.ID)
		if err != nil {
			return err
		}
		if err := checkCapacity(st.offer, st.need, left, a.Quantity); err != nil {
			return err
		}
		acct, err := payingAccount(st.ctx, st.tx, me, a.Unit, account)
		if err != nil {
			return err
		}
		*mine = &acct
		if forOrg && (a.GiverAccount == nil || a.ReceiverAccount == nil) {
			// A coordinator's proposal waits for both parties: the first
			// acceptance records their account, the second writes the hold.
			st.tell("agreement_accepted", fmt.Sprintf("the other party accepted the proposal of %s %s; accept it too to agree the exchange", a.Quantity, a.Unit), a.other(me))
			return nil
		}
		if *a.GiverAccount == *a.ReceiverAccount {
			return invalid("account_id", "the giver and the receiver name the same account")
		}
		meta, _ := json.Marshal(map[string]string{"agreement": a.ID.String(), "offer": a.OfferID.String(), "need": a.NeedID.String()})
		hold, err := st.lt.CreateTransfer(st.ctx, ledger.TransferRequest{
			Postings: []ledger.Posting{{From: *a.ReceiverAccount, To: *a.GiverAccount, Amount: a.Quantity, Unit: a.Unit}},
			Memo:     fmt.Sprintf("%s: %s", st.offer.Title, st.need.Title),
			Metadata: meta,
			Pending:  true,
		})
		if err != nil {
			return err
		}
		a.Status, a.HoldID, a.AcceptedAt = AgreementAccepted, &hold.ID, &st.now
		if forOrg {
			st.tell("agreement_accepted", fmt.Sprintf("both parties accepted the exchange of %s %s", a.Quantity, a.Unit), a.other(me))
			if !a.party(a.ProposedBy) {
				st.tell("agreement_accepted", fmt.Sprintf("both parties accepted your proposal of %s %s", a.Quantity, a.Unit), a.ProposedBy)
			}
			return nil
		}
		st.tell("agreement_accepted", fmt.Sprintf("your proposal of %s %s was accepted", a.Quantity, a.Unit), a.ProposedBy)
		return nil
	})
}

// ConfirmAgreement records the actual quantity p, a party, says was given:
// more than zero and at most the agreed quantity. When both parties have
// confirmed the same quantity the hold is posted for it (the rest is
// released): the hours move from the receiver to the giver, the agreement
// is completed and its listings fulfilled when their whole quantity is
// taken and nothing else is open on them. An agreement completed below its
// agreed quantity takes only what it moved (CompletedQuantity): the rest
// goes back to the offer and the need, which stay open for it. Confirming again the quantity one confirmed returns the agreement
// unchanged; a different one replaces one's own confirmation while the
// agreement is not completed. Confirmations that differ leave it accepted
// and tell both parties and the coordinators of its organizations
// (agreement_mismatch): each party may correct their figure by confirming
// again, one may dispute, or a coordinator settles it (ResolveAgreement).
//
// It returns ErrUnknownAgreement, ErrForbidden (not a party),
// ErrAgreementState (not accepted), ErrAgreementExpired,
// ledger.ErrInvalidRequest for a bad quantity, and the ledger's refusals of
// the posting.
func (s *Store) ConfirmAgreement(ctx context.Context, p Principal, id uuid.UUID, quantity decimal.Decimal) (Agreement, error) {
	return s.change(ctx, p, id, "confirmed", func(st *step) error {
		a := &st.a
		if !a.party(st.p.MemberID) {
			return forbiddenBecause("only the giver and the receiver confirm an agreement")
		}
		mine := &a.ReceiverConfirmed
		if st.p.MemberID == a.Giver {
			mine = &a.GiverConfirmed
		}
		if *mine != nil && (*mine).Equal(quantity) && (a.Status == AgreementAccepted || a.Status == AgreementCompleted) {
			st.noop = true
			return nil
		}
		if a.Status != AgreementAccepted {
			return agreementState(a, "confirmed")
		}
		if err := checkQuantity(st.ctx, st.lt, "quantity", quantity, a.Unit); err != nil {
			return err
		}
		if quantity.GreaterThan(a.Quantity) {
			return invalid("quantity", "quantity %s is more than the %s agreed; agree a new exchange for the rest", quantity, a.Quantity)
		}
		*mine = &quantity
		if a.GiverConfirmed == nil || a.ReceiverConfirmed == nil {
			st.tell("agreement_confirmed", fmt.Sprintf("the other party confirmed %s %s; confirm to complete the exchange", quantity, a.Unit), a.other(st.p.MemberID))
			return nil
		}
		if !a.GiverConfirmed.Equal(*a.ReceiverConfirmed) {
			return st.mismatch()
		}
		return st.complete(quantity, "agreement_completed", fmt.Sprintf("%s %s were recorded", quantity, a.Unit))
	})
}

// complete posts the hold for quantity and marks the agreement completed.
func (st *step) complete(quantity decimal.Decimal, kind, message string) error {
	a := &st.a
	t, err := st.lt.PostPending(st.ctx, *a.HoldID, ledger.PostRequest{Amounts: []decimal.Decimal{quantity}})
	if err != nil {
		return err
	}
	a.Status, a.TransferID, a.CompletedAt, a.CompletedQuantity = AgreementCompleted, &t.ID, &st.now, &quantity
	st.tell(kind, message, a.Giver, a.Receiver)
	return nil
}

// CancelAgreement cancels a proposed or accepted agreement, by either
// party (or, while it is only proposed, by the coordinator who sent it for
// an organization); an accepted one's hold is voided in the same transaction, so the
// receiver's hours are free again and the listings reopen. Cancelling a
// cancelled agreement returns it unchanged. It returns
// ErrUnknownAgreement, ErrForbidden (not a party), ErrAgreementState
// (completed, expired or disputed: a dispute is resolved by a coordinator),
// and ledger.ErrInvalidRequest for a reason over 2000 characters.
func (s *Store) CancelAgreement(ctx context.Context, p Principal, id uuid.UUID, reason string) (Agreement, error) {
	reason, err := checkText("reason", reason, 0, 2000)
	if err != nil {
		return Agreement{}, err
	}
	return s.change(ctx, p, id, "cancelled", func(st *step) error {
		a := &st.a
		byProposer := a.ProposedFor != nil && a.ProposedBy == st.p.MemberID && a.Status == AgreementProposed
		if !a.party(st.p.MemberID) && !byProposer {
			return forbiddenBecause("only the giver and the receiver may cancel an agreement (or the coordinator who proposed it, before it is accepted); a coordinator resolves disputes")
		}
		switch a.Status {
		case AgreementCancelled:
			st.noop = true
			return nil
		case AgreementProposed, AgreementAccepted:
		default:
			return agreementState(a, "cancelled")
		}
		if err := st.release(); err != nil {
			return err
		}
		a.Status, a.Reason, a.ClosedBy = AgreementCancelled, reason, &st.p.MemberID
		if !a.party(st.p.MemberID) {
			st.tell("agreement_cancelled", "the coordinator withdrew the proposal: "+orNone(reason), a.Giver, a.Receiver)
			return nil
		}
		st.tell("agreement_cancelled", "the agreement was cancelled: "+orNone(reason), a.other(st.p.MemberID))
		return nil
	})
}

// release voids the agreement's hold, if it has one.
func (st *step) release() error {
	if st.a.HoldID == nil {
		return nil
	}
	_, err := st.lt.VoidPending(st.ctx, *st.a.HoldID)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// DisputeAgreement is a party's objection to an accepted agreement (the
// exchange did not happen as agreed, or the parties cannot agree on the
// quantity). The hold stays in place, the agreement no longer expires, and
// the coordinators of the need's and the offer's organizations are notified:
// one of them resolves it (ResolveAgreement). Disputing a disputed
// agreement returns it unchanged. It returns ErrUnknownAgreement,
// ErrForbidden, ErrAgreementState, ErrAgreementExpired, and
// ledger.ErrInvalidRequest when reason is missing or too long.
func (s *Store) DisputeAgreement(ctx context.Context, p Principal, id uuid.UUID, reason string) (Agreement, error) {
	reason, err := checkText("reason", reason, 1, 2000)
	if err != nil {
		return Agreement{}, err
	}
	return s.change(ctx, p, id, "disputed", func(st *step) error {
		a := &st.a
		if !a.party(st.p.MemberID) {
			return forbiddenBecause("only the giver and the receiver may dispute an agreement")
		}
		if a.Status == AgreementDisputed {
			st.noop = true
			return nil
		}
		if a.Status != AgreementAccepted {
			return agreementState(a, "disputed")
		}
		coordinators, err := st.coordinatorsOf()
		if err != nil {
			return err
		}
		a.Status, a.Reason, a.DisputedBy = AgreementDisputed, reason, &st.p.MemberID
		st.tell("agreement_disputed", "an agreement is disputed and waits for a coordinator: "+reason, coordinators...)
		st.tell("agreement_disputed", "the other party disputed the agreement: "+reason, a.other(st.p.MemberID))
		return nil
	})
}

// coordinatorsOf returns the members who coordinate the organizations of
// the agreement's need and offer (and the organizations above them), less
// the parties themselves: one query, in the step's transaction.
func (st *step) coordinatorsOf() ([]uuid.UUID, error) {
	rows, err := st.tx.Query(st.ctx, `
WITH RECURSIVE up (id, parent_id, depth) AS (
    SELECT o.id, o.parent_id, 0 FROM orgs o WHERE o.id IN (SELECT org_id FROM listings WHERE id IN ($1, $2))
  UNION ALL
    SELECT o.id, o.parent_id, up.depth + 1 FROM orgs o JOIN up ON o.id = up.parent_id WHERE up.depth < $5
)
SELECT DISTINCT m.member_id FROM memberships m
WHERE m.org_id IN (SELECT id FROM up) AND m.role IN ('coordinator', 'admin') AND m.member_id NOT IN ($3, $4)
ORDER BY m.member_id`, st.a.OfferID, st.a.NeedID, st.a.Giver, st.a.Receiver, maxDepth)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// ResolveAgreement settles a disputed agreement: a coordinator of the
// need's or the offer's organization (or an organization above them), or
// the admin, records the quantity given (posting the hold for it, which
// completes the agreement) or zero (voiding it, which cancels the
// agreement), with a note saying why. An accepted agreement whose two
// confirmations differ is settled the same way. It returns
// ErrUnknownAgreement, ErrForbidden (a party may not settle their own
// dispute), ErrAgreementState (neither disputed nor confirmed differently), ledger.ErrInvalidRequest for a bad
// quantity or note, and the ledger's refusals of the posting.
func (s *Store) ResolveAgreement(ctx context.Context, p Principal, id uuid.UUID, quantity decimal.Decimal, note string) (Agreement, error) {
	note, err := checkText("note", note, 1, 2000)
	if err != nil {
		return Agreement{}, err
	}
	return s.change(ctx, p, id, "resolved", func(st *step) error {
		a := &st.a
		if !st.coordinates {
			return forbiddenBecause("a dispute is resolved by a coordinator of the organizations involved who is not a party to it")
		}
		if a.Status != AgreementDisputed && !(a.Status == AgreementAccepted && a.mismatched()) {
			return agreementState(a, "resolved")
		}
		a.Reason, a.ClosedBy = note, &st.p.MemberID
		if quantity.IsZero() {
			if err := st.release(); err != nil {
				return err
			}
			a.Status = AgreementCancelled
			st.tell("agreement_resolved", "a coordinator resolved the dispute; nothing was recorded: "+note, a.Giver, a.Receiver)
			return nil
		}
		if err := checkQuantity(st.ctx, st.lt, "quantity", quantity, a.Unit); err != nil {
			return err
		}
		if quantity.GreaterThan(a.Quantity) {
			return invalid("quantity", "quantity %s is more than the %s agreed", quantity, a.Quantity)
		}
		return st.complete(quantity, "agreement_resolved",
			fmt.Sprintf("a coordinator resolved the dispute: %s %s were recorded (%s)", quantity, a.Unit, note))
	})
}

// ExpireAgreements records as expired up to limit proposed or accepted
// agreements past their expiry, voiding the holds of the accepted ones, and
// returns how many it expired. Reads already report them expired; this
// releases their hours. The server runs it periodically.
func (s *Store) ExpireAgreements(ctx context.Context, limit int) (int, error) {
	rows, err := s.db.Pool.Query(ctx, `
SELECT id FROM agreements WHERE status IN ('proposed', 'accepted') AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
		s.clock(), limit)
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		done, err := s.expireAgreement(ctx, id)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// expireAgreement expires one agreement if it is still proposed or accepted
// and past its expiry, voiding its hold, and reports whether it did.
func (s *Store) expireAgreement(ctx context.Context, id uuid.UUID) (bool, error) {
	var done bool
	err := s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		st := &step{s: s, ctx: ctx, tx: tx, lt: lt, now: s.clock(), p: systemPrincipal, action: "expired"}
		done = false
		if err := st.lock(id); err != nil {
			return err
		}
		if st.a.Status != AgreementExpired || st.expiredStored() {
			return nil
		}
		if err := st.release(); err != nil {
			return err
		}
		done = true
		st.tell("agreement_expired", "an agreement expired before it was completed; nothing was recorded", st.a.Giver, st.a.Receiver)
		return st.write()
	})
	return done, err
}

// RunAgreementExpiry calls ExpireAgreements every interval until ctx is
// done, logging failures through logf. It is the server's sweeper.
func (s *Store) RunAgreementExpiry(ctx context.Context, interval time.Duration, logf func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for {
				n, err := s.ExpireAgreements(ctx, 100)
				if err != nil && ctx.Err() == nil {
					logf(err)
				}
				if err != nil || n < 100 {
					break
				}
			}
		}
	}
}

// mismatched reports whether both parties confirmed and their figures
// differ.
func (a *Agreement) mismatched() bool {
	return a.GiverConfirmed != nil && a.ReceiverConfirmed != nil && !a.GiverConfirmed.Equal(*a.ReceiverConfirmed)
}

// mismatch tells both parties and the coordinators of the agreement's
// organizations that the confirmations differ, and how it is put right.
func (st *step) mismatch() error {
	a := &st.a
	coordinators, err := st.coordinatorsOf()
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("the confirmations differ: the giver confirmed %s %s and the receiver %s; "+
		"each may correct their figure, or a coordinator settles it", a.GiverConfirmed, a.Unit, a.ReceiverConfirmed)
	ps := map[string]string{"Giver": places(*a.GiverConfirmed), "Receiver": places(*a.ReceiverConfirmed), "Unit": a.Unit}
	st.notify = append(st.notify, notification{kind: "agreement_mismatch", message: msg, to: []uuid.UUID{a.Giver, a.Receiver}, params: ps},
		notification{kind: "agreement_mismatch", message: msg, to: coordinators, params: ps})
	return nil
}
