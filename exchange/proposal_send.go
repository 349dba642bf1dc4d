package exchange

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// ProposalPair is one pair of a matching proposal a coordinator sends:
// Quantity of the offer for the need.
type ProposalPair struct {
	OfferID, NeedID uuid.UUID
	Quantity        decimal.Decimal
}

// ProposalSend asks to send pairs of a matching proposal as agreement
// proposals, on behalf of an organization.
type ProposalSend struct {
	// OrgID is the organization the coordinator acts for; every need must
	// be posted in it or in an organization under it.
	OrgID uuid.UUID
	Pairs []ProposalPair
	// Message goes with every proposal (up to 2000 characters).
	Message string
	// ExpiresAt, when given, must be in the future; it defaults to
	// DefaultAgreementTTL from now.
	ExpiresAt *time.Time
}

// ReasonAlreadyProposed: a pair sent has a proposal waiting for its
// answers.
const ReasonAlreadyProposed ledger.Reason = "already_proposed"

// ErrAlreadyProposed: the offer and the need of a pair have a proposal
// between them that waits for its answers (a proposed agreement takes
// nothing until accepted, so a proposal computed again holds the pair
// again): sending it would ask the same people twice.
var ErrAlreadyProposed = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonAlreadyProposed}

// MaxSendPairs is the most pairs one SendProposal takes.
const MaxSendPairs = 2000

// SendProposal records each pair as an agreement proposed by p on behalf
// of in.OrgID (Agreement.ProposedFor), all in one transaction: either
// every pair is proposed or none is. Each party is notified and accepts as
// for any proposal (AcceptAgreement; both must accept). p must act for the
// organization (its coordinators, those above it, the admin), each need
// must be posted in it or under it, and each offer must be one p may see.
// Both listings of each pair are locked (in id order) and what is left of
// them read under the locks: the pairs of one listing may not ask, together,
// for more than is left of it.
//
// It returns ErrForbidden (field org_id) or ErrUnknownOrg for an
// organization p may not act for; ledger.ErrInvalidRequest for no pairs,
// too many, a repeated pair, a quantity that is not positive or too fine
// for the unit, listings of the wrong kind, of one owner or of two units, a
// bad message or expiry (the field names the pair: "pairs[3].quantity");
// ErrUnknownListing for a listing that does not exist or p may not see;
// ErrForbidden for a need outside the organization's subtree;
// ErrListingClosed; ErrAlreadyProposed (field "pairs[i]") for a pair with a
// proposal, by anyone, that waits for its answers; and ErrNoCapacity (with
// what is available) when the pairs ask more of a listing than is left.
func (s *Store) SendProposal(ctx context.Context, p Principal, in ProposalSend) ([]Agreement, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	subtree, err := s.Subtree(ctx, p, in.OrgID)
	if err != nil {
		return nil, err
	}
	msg, err := checkText("message", in.Message, 0, 2000)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	expires := now.Add(DefaultAgreementTTL)
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(now) {
			return nil, invalid("expires_at", "expires_at must be in the future")
		}
		expires = in.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	if len(in.Pairs) == 0 || len(in.Pairs) > MaxSendPairs {
		return nil, invalid("pairs", "send 1 to %d pairs, not %d", MaxSendPairs, len(in.Pairs))
	}
	seen := make(map[[2]uuid.UUID]int, len(in.Pairs))
	var ids []uuid.UUID
	for i, pr := range in.Pairs {
		field := fmt.Sprintf("pairs[%d]", i)
		if pr.Quantity.Sign() <= 0 {
			return nil, invalid(field+".quantity", "quantity must be positive, not %s", pr.Quantity)
		}
		if j, ok := seen[[2]uuid.UUID{pr.OfferID, pr.NeedID}]; ok {
			return nil, invalid(field, "pairs[%d] and pairs[%d] join the same offer and need", j, i)
		}
		seen[[2]uuid.UUID{pr.OfferID, pr.NeedID}] = i
		ids = append(ids, pr.OfferID, pr.NeedID)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	ids = slices.Compact(ids)

	v := ViewerOf(p)
	var out []Agreement
	err = s.led.Within(ctx, func(tx *pgtx.Tx, lt *ledger.Tx) error {
		out = out[:0]
		if err := lockListings(ctx, tx, ids); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+listingColumns+` FROM listings l WHERE l.id = ANY($2)`, now, ids)
		if err != nil {
			return err
		}
		ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Listing, error) { return scanListing(r) })
		if err != nil {
			return err
		}
		byID := make(map[uuid.UUID]Listing, len(ls))
		for _, l := range ls {
			byID[l.ID] = l
		}
		left, err := remainingIn(ctx, tx, ids)
		if err != nil {
			return err
		}
		waiting, err := waitingIn(ctx, tx, ids, now)
		if err != nil {
			return err
		}
		asked := make(map[uuid.UUID]decimal.Decimal)
		b := &pgx.Batch{}
		for i, pr := range in.Pairs {
			field := fmt.Sprintf("pairs[%d]", i)
			get := func(id uuid.UUID, f string, kind ListingKind) (Listing, error) {
				l, ok := byID[id]
				if !ok || !v.MaySee(l) {
					e := unknownListing(id)
					e.Field = field + "." + f
					return l, e
				}
				if l.Kind != kind {
					return l, invalid(field+"."+f, "listing %s is a %s, not a %s", id, l.Kind, kind)
				}
				return l, nil
			}
			offer, err := get(pr.OfferID, "offer_id", Offer)
			if err != nil {
				return err
			}
			need, err := get(pr.NeedID, "need_id", Need)
			if err != nil {
				return err
			}
			switch {
			case !slices.Contains(subtree, need.OrgID):
				e := forbiddenBecause(fmt.Sprintf("need %s is not posted in the organization or under it", need.ID))
				e.Field = field + ".need_id"
				return e
			case offer.Owner == need.Owner:
				return invalid(field+".need_id", "the offer and the need have the same owner")
			case offer.Unit != need.Unit:
				return invalid(field+".need_id", "the offer is in %s and the need in %s", offer.Unit, need.Unit)
			}
			if err := checkOpen(offer, need); err != nil {
				return err
			}
			if id, ok := waiting[[2]uuid.UUID{offer.ID, need.ID}]; ok {
				e := newError(ErrAlreadyProposed.Code, ReasonAlreadyProposed,
					"%s: %q for %q has a proposal waiting for its answers (agreement %s)", field, offer.Title, need.Title, id)
				e.Field = field
				return e
			}
			if err := checkQuantity(ctx, lt, field+".quantity", pr.Quantity, offer.Unit); err != nil {
				return err
			}
			for _, l := range []Listing{offer, need} {
				sum := asked[l.ID].Add(pr.Quantity)
				asked[l.ID] = sum
				if avail := decimal.Max(left[l.ID], decimal.Zero); sum.GreaterThan(avail) {
					e := newError(ErrNoCapacity.Code, ReasonNoCapacity,
						"%s %q has %s %s left after its agreements, less than the %s the pairs up to %s ask for",
						l.Kind, l.Title, avail, l.Unit, sum, field)
					e.Field, e.Unit, e.Available, e.Requested = field+".quantity", l.Unit, &avail, &sum
					return e
				}
			}
			a := Agreement{
				ID: newID(), OfferID: offer.ID, NeedID: need.ID, Giver: offer.Owner, Receiver: need.Owner,
				ProposedBy: p.MemberID, ProposedFor: &in.OrgID, Quantity: pr.Quantity, Unit: offer.Unit,
				Status: AgreementProposed, Message: msg, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now,
			}
			b.Queue(`
INSERT INTO agreements (id, offer_id, need_id, giver, receiver, proposed_by, proposed_for, quantity, unit,
    status, message, expires_at, created_at, updated_at, region)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'proposed', $10, $11, $12, $12,
    COALESCE((SELECT region FROM listings WHERE id = $3), ''))`,
				a.ID, a.OfferID, a.NeedID, a.Giver, a.Receiver, a.ProposedBy, a.ProposedFor, a.Quantity, a.Unit,
				a.Message, a.ExpiresAt, now)
			record(tx, p, now, auditEvent{kind: "agreement.proposed", subject: a.ID, org: need.OrgID, member: a.Receiver,
				details: map[string]any{"status": a.Status, "quantity": a.Quantity.String(), "unit": a.Unit,
					"offer_id": a.OfferID, "need_id": a.NeedID, "proposed_for": in.OrgID}})
			note := fmt.Sprintf("a coordinator proposed an exchange of %s %s: %q for %q; accept it to agree", a.Quantity, a.Unit, offer.Title, need.Title)
			for _, m := range []uuid.UUID{a.Giver, a.Receiver} {
				b.Queue(`INSERT INTO notifications (id, member_id, kind, agreement_id, message, created_at) VALUES ($1, $2, 'agreement_proposed', $3, $4, $5)`,
					newID(), m, a.ID, note, now)
			}
			out = append(out, a)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// waitingIn returns, by (offer, need), a proposal between listings of ids
// that waits for its answers at now, read in tx (under the listings'
// locks: a proposal of them cannot be written meanwhile).
func waitingIn(ctx context.Context, tx *pgtx.Tx, ids []uuid.UUID, now time.Time) (map[[2]uuid.UUID]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `
SELECT offer_id, need_id, id FROM agreements WHERE need_id = ANY($1) AND status = 'proposed' AND expires_at > $2`, ids, now)
	if err != nil {
		return nil, err
	}
	out := map[[2]uuid.UUID]uuid.UUID{}
	var offer, need, id uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&offer, &need, &id}, func() error {
		out[[2]uuid.UUID{offer, need}] = id
		return nil
	})
	return out, err
}

// remainingIn is Remaining by id, read in tx (under its locks).
func remainingIn(ctx context.Context, tx *pgtx.Tx, ids []uuid.UUID) (map[uuid.UUID]decimal.Decimal, error) {
	rows, err := tx.Query(ctx, remainingSQL, ids)
	if err != nil {
		return nil, err
	}
	left := make(map[uuid.UUID]decimal.Decimal, len(ids))
	var id uuid.UUID
	var q decimal.Decimal
	_, err = pgx.ForEachRow(rows, []any{&id, &q}, func() error {
		left[id] = q
		return nil
	})
	return left, err
}

// ProposalNames returns the names of those of members who belong to
// orgID or to an organization under it, for p who acts for orgID (as
// Subtree decides, with its errors): the people a coordinator may read
// (Principal.MayReadMember), named in the pairs of a matching proposal.
// Members outside the subtree are left out, not refused: their listings
// may be seen, their names are not the coordinator's to read.
func (s *Store) ProposalNames(ctx context.Context, p Principal, orgID uuid.UUID, members []uuid.UUID) (map[uuid.UUID]string, error) {
	subtree, err := s.Subtree(ctx, p, orgID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `
SELECT m.id, m.name FROM members m
WHERE m.id = ANY($1) AND EXISTS (SELECT 1 FROM memberships ms WHERE ms.member_id = m.id AND ms.org_id = ANY($2))`, members, subtree)
	if err != nil {
		return nil, err
	}
	names := make(map[uuid.UUID]string)
	var id uuid.UUID
	var name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		names[id] = name
		return nil
	})
	return names, err
}
