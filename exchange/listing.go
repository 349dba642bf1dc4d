package exchange

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// ListingKind says whether a listing offers help or asks for it.
type ListingKind string

// The listing kinds.
const (
	Offer ListingKind = "offer"
	Need  ListingKind = "need"
)

// Visibility says who may see a listing.
type Visibility string

// The visibilities.
const (
	// VisibilityPublic listings are seen by everyone, without a token.
	VisibilityPublic Visibility = "public"
	// VisibilityOrg listings are seen only by members of the organization
	// they are posted in (and by their owner and the network admin).
	VisibilityOrg Visibility = "org"
)

// ListingStatus is where a listing is in its life.
type ListingStatus string

// The listing statuses. A listing starts open; UpdateListingStatus moves it
// along the transitions below; fulfilled, withdrawn and expired are final.
//
//	open    → matched, withdrawn, expired
//	matched → fulfilled, open, withdrawn
const (
	StatusOpen      ListingStatus = "open"
	StatusMatched   ListingStatus = "matched"
	StatusFulfilled ListingStatus = "fulfilled"
	StatusWithdrawn ListingStatus = "withdrawn"
	StatusExpired   ListingStatus = "expired"
)

var transitions = map[ListingStatus][]ListingStatus{
	StatusOpen:    {StatusMatched, StatusWithdrawn, StatusExpired},
	StatusMatched: {StatusFulfilled, StatusOpen, StatusWithdrawn},
}

func (st ListingStatus) valid() bool {
	switch st {
	case StatusOpen, StatusMatched, StatusFulfilled, StatusWithdrawn, StatusExpired:
		return true
	}
	return false
}

// The reasons of the listing errors.
const (
	ReasonUnknownListing   ledger.Reason = "unknown_listing"
	ReasonUnknownCategory  ledger.Reason = "unknown_category"
	ReasonCategoryExists   ledger.Reason = "category_exists"
	ReasonStatusTransition ledger.Reason = "status_transition"
)

// Sentinel errors of listings and categories, for errors.Is.
var (
	// ErrUnknownListing: no listing has the id.
	ErrUnknownListing = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownListing}
	// ErrUnknownCategory: no category has the code (Field says which input
	// named it).
	ErrUnknownCategory = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownCategory}
	// ErrCategoryExists: a category with the code already exists.
	ErrCategoryExists = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonCategoryExists}
	// ErrStatusTransition: the listing's status cannot move to the one asked
	// for (a final status, a transition not in the table, or the same status).
	ErrStatusTransition = &ledger.Error{Code: ledger.ECONFLICT, Reason: ReasonStatusTransition}
)

func unknownCategory(code string) *ledger.Error {
	return newError(ErrUnknownCategory.Code, ReasonUnknownCategory, "unknown category %q", code)
}

func unknownListing(id uuid.UUID) *ledger.Error {
	return newError(ErrUnknownListing.Code, ReasonUnknownListing, "unknown listing %s", id)
}

// Point is a place on Earth, in degrees.
type Point struct {
	Lat, Lon float64
}

func (p Point) check(field string) error {
	if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 {
		return invalid(field+".lat", "latitude must be between -90 and 90, not %v", p.Lat)
	}
	if math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180 {
		return invalid(field+".lon", "longitude must be between -180 and 180, not %v", p.Lon)
	}
	return nil
}

// Listing is an offer or a need posted in an organization.
type Listing struct {
	ID          uuid.UUID
	OrgID       uuid.UUID // the organization it is posted in
	Owner       uuid.UUID // the member who posted it
	Kind        ListingKind
	Title       string
	Description string
	Category    string
	Tags        []string // lower-case, sorted, never nil
	// Quantity is an exact amount of Unit (2.5 hours). For an offer it is
	// what the owner can give in all; for a need what they ask for.
	Quantity     decimal.Decimal
	Unit         string
	Place        Point
	City         string
	Neighborhood string
	// Start and End bound when the listing is available; both are zero
	// when it is available at any time.
	Start, End time.Time
	Urgency    int // 0 (none) to 3 (urgent); always 0 for offers
	Visibility Visibility
	// Status is the listing's status as of the store's clock: an open
	// listing whose ExpiresAt has passed is reported expired even before
	// ExpireListings has recorded it.
	Status    ListingStatus
	ExpiresAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// MaxKm is how far a need's person can go, in km (0 on offers, and on
	// needs posted before needs said: matching reads those as
	// matching.DefaultMaxKm).
	MaxKm float64
	// Remote offers are given from afar; any distance serves them.
	Remote bool
	// Flexible needs are matched even with offers at other hours.
	Flexible bool
	// Weekly is when an offer is given each week, in TimeZone; empty means
	// every day at any hour (within Start and End, if set).
	Weekly []WeeklySlot
	// TimeZone is the IANA name Weekly is read in.
	TimeZone string
}

// WeeklySlot is a stretch of a weekday, in minutes after midnight:
// "Saturdays 9 to 12" is {time.Saturday, 540, 720}.
type WeeklySlot = matching.Slot

// NewListing is a request to post a listing.
type NewListing struct {
	ID          uuid.UUID // optional; a new one is made when zero
	OrgID       uuid.UUID // required: where it is posted
	Owner       uuid.UUID // required: a member of OrgID
	Kind        ListingKind
	Title       string          // 1 to 200 characters once trimmed
	Description string          // up to 5000 characters
	Category    string          // the code of an existing category
	Tags        []string        // up to MaxTags, each 1 to 40 letters, digits, spaces, '-' or '_'; lower-cased, duplicates dropped
	Quantity    decimal.Decimal // > 0, with no more decimals than Unit's scale
	Unit        string          // an existing ledger unit; "" means HOUR
	Place       Point
	City        string // up to 200 characters
	// Neighborhood is optional, up to 200 characters.
	Neighborhood string
	// Start and End: both zero, or End after Start.
	Start, End time.Time
	// Urgency is 0 to 3 for needs, and must be 0 for offers.
	Urgency int
	// Visibility defaults to VisibilityOrg: a listing is shown beyond its
	// organization only when its owner asks.
	Visibility Visibility
	// ExpiresAt, when given, must be in the future.
	ExpiresAt *time.Time
	// MaxKm is how far a need's person can go, up to MaxReachKm; 0 takes
	// the organization's default (OrgMatching). Offers leave it 0.
	MaxKm float64
	// Remote is for offers given from afar.
	Remote bool
	// Flexible is for needs whose time is not binding.
	Flexible bool
	// Weekly is for offers: up to MaxWeeklySlots stretches of a weekday,
	// 0 ≤ Start < End ≤ 1440 minutes; overlapping or touching ones of a
	// day are joined.
	Weekly []WeeklySlot
	// TimeZone is the IANA zone Weekly is read in; "" takes the
	// organization's (OrgMatching).
	TimeZone string
}

// Limits of a listing.
const (
	MaxTags      = 20
	maxTagLength = 40
	// MaxReachKm is the farthest a need may reach.
	MaxReachKm = 1000
	// MaxWeeklySlots bounds an offer's weekly hours.
	MaxWeeklySlots = 28
)

// CreateListing posts a listing. It returns ledger.ErrInvalidRequest (with
// Field set) for a bad kind, title, description, tag, quantity, place, city,
// neighborhood, window, urgency (any on an offer, or outside 0..3),
// visibility or expiry, and for a quantity finer than the unit's scale (150
// hundredths of a unit of scale 0); ErrUnknownCategory; ledger.ErrUnknownUnit; ErrUnknownOrg;
// ErrUnknownMember; ErrNotAMember when the owner does not belong to the
// organization; and an ECONFLICT error when the ID is taken. Nothing is
// written when it fails.
//
// Who may: a member posts as themselves (in.Owner uuid.Nil means p);
// posting for someone else is ErrForbidden (Field "owner"), and a zero
// Principal is ErrUnauthenticated. System (fixtures) posts for anyone.
func (s *Store) CreateListing(ctx context.Context, p Principal, in NewListing) (Listing, error) {
	if !p.system {
		if err := requireMember(p); err != nil {
			return Listing{}, err
		}
		if in.Owner == uuid.Nil {
			in.Owner = p.MemberID
		}
		if in.Owner != p.MemberID {
			e := forbiddenBecause("you post listings only as yourself (or, as a coordinator, for a member you act for)")
			e.Field = "owner"
			return Listing{}, e
		}
	}
	return s.createListingBy(ctx, p, in)
}

// PostListing is CreateListing for a member's request: System may not.
func (s *Store) PostListing(ctx context.Context, p Principal, in NewListing) (Listing, error) {
	if err := requireMember(p); err != nil {
		return Listing{}, err
	}
	return s.CreateListing(ctx, p, in)
}

// createListingBy is CreateListing for anyone, recorded as done by p.
func (s *Store) createListingBy(ctx context.Context, p Principal, in NewListing) (Listing, error) {
	l, err := checkNewListing(in)
	if err != nil {
		return Listing{}, err
	}
	now := s.clock()
	if l.ExpiresAt != nil && !l.ExpiresAt.After(now) {
		return Listing{}, invalid("expires_at", "expires_at must be in the future")
	}
	l.Status, l.CreatedAt, l.UpdatedAt = StatusOpen, now, now
	// Nothing the checks read is ever deleted or changed (orgs, members,
	// memberships, categories, unit scales), and the foreign keys back them,
	// so READ COMMITTED is enough.
	asked := l
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		l = asked
		// Lock the owner's membership: a member leaving at the same time
		// (Leave) either ends it first, and the listing is refused, or
		// waits, and then withdraws the listing with the others.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM memberships WHERE org_id = $1 AND member_id = $2 FOR UPDATE`, l.OrgID, l.Owner); err != nil {
			return err
		}
		if err := checkListingRefs(ctx, tx, l); err != nil {
			return err
		}
		if err := settleReach(ctx, tx, &l); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, insertListing,
			l.ID, l.OrgID, l.Owner, l.Kind, l.Title, l.Description, l.Category, l.Quantity, l.Unit,
			l.Place.Lat, l.Place.Lon, l.City, l.Neighborhood, nullTime(l.Start), nullTime(l.End),
			l.Urgency, l.Visibility, l.Status, "", l.ExpiresAt, l.CreatedAt,
			nullKm(l.MaxKm), l.Remote, l.Flexible, formatWeekly(l.Weekly), l.TimeZone)
		if pgCode(err) == uniqueViolation {
			return idTaken("listing", l.ID)
		}
		if err != nil {
			return err
		}
		record(tx, p, now, auditEvent{kind: "listing.created", subject: l.ID, org: l.OrgID, member: l.Owner,
			details: map[string]any{"kind": l.Kind, "category": l.Category, "quantity": l.Quantity.String(), "unit": l.Unit}})
		if len(l.Tags) > 0 {
			if _, err = tx.Exec(ctx, `INSERT INTO listing_tags (listing_id, tag) SELECT $1::UUID, unnest($2::TEXT[])`, l.ID, l.Tags); err != nil {
				return err
			}
		}
		return writeListingWords(ctx, tx, l)
	})
	if err != nil {
		return Listing{}, err
	}
	return l, nil
}

const insertListing = `
INSERT INTO listings (id, org_id, owner_member, kind, title, description, category, quantity, unit,
    lat, lon, city, neighborhood, window_start, window_end, urgency, visibility, status, search_text,
    expires_at, created_at, updated_at, max_km, remote, flexible, weekly, time_zone, region)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21,
    $22, $23, $24, $25, $26, COALESCE((SELECT region FROM orgs WHERE id = $2), ''))`

func checkNewListing(in NewListing) (Listing, error) {
	l := Listing{ID: in.ID, OrgID: in.OrgID, Owner: in.Owner, Kind: in.Kind, Category: in.Category,
		Quantity: in.Quantity, Unit: in.Unit, Place: in.Place, Urgency: in.Urgency, Visibility: in.Visibility}
	var err error
	if in.OrgID == uuid.Nil {
		return Listing{}, invalid("org_id", "org_id is required")
	}
	if in.Owner == uuid.Nil {
		return Listing{}, invalid("owner", "owner is required")
	}
	if in.Kind != Offer && in.Kind != Need {
		return Listing{}, invalid("kind", "kind must be offer or need, not %q", in.Kind)
	}
	if l.Title, err = checkText("title", in.Title, 1, 200); err != nil {
		return Listing{}, err
	}
	if l.Description, err = checkText("description", in.Description, 0, 5000); err != nil {
		return Listing{}, err
	}
	if in.Category == "" {
		return Listing{}, invalid("category", "category is required")
	}
	if !categoryCode.MatchString(in.Category) {
		e := unknownCategory(in.Category)
		e.Field = "category"
		return Listing{}, e
	}
	if l.Tags, err = normalizeTags(in.Tags); err != nil {
		return Listing{}, err
	}
	if in.Quantity.Sign() <= 0 {
		return Listing{}, invalid("quantity", "quantity must be positive, not %s", in.Quantity)
	}
	if l.Unit == "" {
		l.Unit = "HOUR"
	}
	if err := in.Place.check("place"); err != nil {
		return Listing{}, err
	}
	if l.City, err = checkText("city", in.City, 0, 200); err != nil {
		return Listing{}, err
	}
	if l.Neighborhood, err = checkText("neighborhood", in.Neighborhood, 0, 200); err != nil {
		return Listing{}, err
	}
	switch {
	case in.Start.IsZero() && in.End.IsZero():
	case in.Start.IsZero() || in.End.IsZero():
		return Listing{}, invalid("window", "a time window needs both a start and an end")
	case !in.End.After(in.Start):
		return Listing{}, invalid("window", "the time window must end after it starts")
	default:
		l.Start, l.End = in.Start.UTC().Truncate(time.Microsecond), in.End.UTC().Truncate(time.Microsecond)
		if !l.End.After(l.Start) { // apart by less than the database's precision
			return Listing{}, invalid("window", "the time window must end after it starts")
		}
	}
	if in.Urgency < 0 || in.Urgency > 3 {
		return Listing{}, invalid("urgency", "urgency must be between 0 and 3, not %d", in.Urgency)
	}
	if in.Kind == Offer && in.Urgency != 0 {
		return Listing{}, invalid("urgency", "only needs have an urgency")
	}
	if l.Visibility == "" {
		l.Visibility = VisibilityOrg
	}
	if l.Visibility != VisibilityPublic && l.Visibility != VisibilityOrg {
		return Listing{}, invalid("visibility", "visibility must be public or org, not %q", in.Visibility)
	}
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC().Truncate(time.Microsecond)
		l.ExpiresAt = &t
	}
	if err := checkReach(in, &l); err != nil {
		return Listing{}, err
	}
	if l.ID == uuid.Nil {
		l.ID = newID()
	}
	return l, nil
}

// normalizeTags lower-cases and trims tags, drops duplicates and sorts them.
func normalizeTags(in []string) ([]string, error) {
	tags := make([]string, 0, len(in))
	for i, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		field := "tags[" + strconv.Itoa(i) + "]"
		if !utf8.ValidString(t) || t == "" || utf8.RuneCountInString(t) > maxTagLength {
			return nil, invalid(field, "a tag must be 1 to %d characters", maxTagLength)
		}
		for _, r := range t {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' && r != '-' && r != '_' {
				return nil, invalid(field, "a tag may hold only letters, digits, spaces, '-' and '_', not %q", r)
			}
		}
		tags = append(tags, t)
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	if len(tags) > MaxTags {
		return nil, invalid("tags", "a listing has at most %d tags, not %d", MaxTags, len(tags))
	}
	return tags, nil
}

// checkListingRefs checks, in one query, everything a listing names: the
// organization, the owner and their membership, the category and the unit
// (and that the quantity fits the unit's scale).
func checkListingRefs(ctx context.Context, tx *pgtx.Tx, l Listing) error {
	var orgOK, memberOK, memberOfOrg, categoryOK bool
	var scale *int64
	err := tx.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1),
       EXISTS (SELECT 1 FROM members WHERE id = $2),
       EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND member_id = $2),
       EXISTS (SELECT 1 FROM categories WHERE code = $3),
       (SELECT scale FROM units WHERE code = $4)`,
		l.OrgID, l.Owner, l.Category, l.Unit).Scan(&orgOK, &memberOK, &memberOfOrg, &categoryOK, &scale)
	if err != nil {
		return err
	}
	switch {
	case !orgOK:
		e := newError(ErrUnknownOrg.Code, ReasonUnknownOrg, "unknown organization %s", l.OrgID)
		e.Field = "org_id"
		return e
	case !memberOK:
		e := newError(ErrUnknownMember.Code, ReasonUnknownMember, "unknown member %s", l.Owner)
		e.Field = "owner"
		return e
	case !memberOfOrg:
		e := newError(ErrNotAMember.Code, ReasonNotAMember, "member %s does not belong to organization %s", l.Owner, l.OrgID)
		e.Field = "owner"
		return e
	case !categoryOK:
		e := unknownCategory(l.Category)
		e.Field = "category"
		return e
	case scale == nil:
		e := newError(ledger.ErrUnknownUnit.Code, ledger.ReasonUnknownUnit, "unknown unit %q", l.Unit)
		e.Field, e.Unit = "unit", l.Unit
		return e
	}
	// Never rounded: a listing should not promise what the ledger cannot
	// record.
	return ledger.Unit{Code: l.Unit, Scale: int32(*scale)}.CheckFits(l.Quantity, "quantity")
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// listingColumns selects a listing with its status as of $1 (the clock):
// an open listing past its expiry reads as expired.
const listingColumns = `l.id, l.org_id, l.owner_member, l.kind, l.title, l.description, l.category,
    l.quantity, l.unit, l.lat, l.lon, l.city, l.neighborhood, l.window_start, l.window_end, l.urgency,
    l.visibility,
    CASE WHEN l.status = 'open' AND l.expires_at <= $1 THEN 'expired' ELSE l.status END,
    l.expires_at, l.created_at, l.updated_at, l.max_km, l.remote, l.flexible, l.weekly, l.time_zone`

// listingTags follows listingColumns in the reads that lock nothing: the
// listing's tags, in order, read in the same statement rather than in a
// round trip of their own (loadTags, which the reads that lock a listing
// still use). Before a LIMIT, PostgreSQL runs it only for the rows kept.
const listingTags = `ARRAY(SELECT t.tag FROM listing_tags t WHERE t.listing_id = l.id ORDER BY t.tag)`

// scanTagged scans a row of listingColumns, listingTags, then tail.
func scanTagged(r pgx.Row, tail ...any) (Listing, error) {
	var tags []string
	l, err := scanListing(rowWithTail{r, append([]any{&tags}, tail...)})
	if len(tags) > 0 {
		l.Tags = tags
	}
	return l, err
}

func scanListing(r pgx.Row) (Listing, error) {
	var l Listing
	var start, end *time.Time
	var urgency int64
	var maxKm *float64
	var weekly string
	err := r.Scan(&l.ID, &l.OrgID, &l.Owner, &l.Kind, &l.Title, &l.Description, &l.Category,
		&l.Quantity, &l.Unit, &l.Place.Lat, &l.Place.Lon, &l.City, &l.Neighborhood, &start, &end, &urgency,
		&l.Visibility, &l.Status, &l.ExpiresAt, &l.CreatedAt, &l.UpdatedAt,
		&maxKm, &l.Remote, &l.Flexible, &weekly, &l.TimeZone)
	if err != nil {
		return l, err
	}
	if start != nil && end != nil {
		l.Start, l.End = start.UTC(), end.UTC()
	}
	l.Urgency = int(urgency)
	l.Tags = []string{}
	if maxKm != nil {
		l.MaxKm = *maxKm
	}
	l.Weekly, err = parseWeekly(weekly)
	return l, err
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadTags fills in the tags of ls.
func loadTags(ctx context.Context, q querier, ls []Listing) error {
	if len(ls) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(ls))
	at := make(map[uuid.UUID]int, len(ls))
	for i, l := range ls {
		ids[i], at[l.ID] = l.ID, i
	}
	rows, err := q.Query(ctx, `SELECT listing_id, tag FROM listing_tags WHERE listing_id = ANY($1) ORDER BY listing_id, tag`, ids)
	if err != nil {
		return err
	}
	var id uuid.UUID
	var tag string
	_, err = pgx.ForEachRow(rows, []any{&id, &tag}, func() error {
		ls[at[id]].Tags = append(ls[at[id]].Tags, tag)
		return nil
	})
	return err
}

// Listing returns a listing to those who may see it (Viewer.MaySee: anyone
// for a public listing; the members of its organization, its owner and the
// admin for the others), with its status as of the store's clock (an open
// listing past its expiry is reported expired). It returns
// ErrUnknownListing when there is no such listing or p may not see it; a
// zero Principal sees public listings only.
func (s *Store) Listing(ctx context.Context, p Principal, id uuid.UUID) (Listing, error) {
	l, err := s.listing(ctx, id)
	if err != nil {
		return Listing{}, err
	}
	if !ViewerOf(p).MaySee(l) {
		return Listing{}, unknownListing(id)
	}
	return l, nil
}

// ListingsByID is Listing for many listings at once, in two round trips
// whatever their number: the listings among ids that p may see
// (Viewer.MaySee), by id. One that does not exist or that p may not see is
// left out, as Listing answers ErrUnknownListing for both.
func (s *Store) ListingsByID(ctx context.Context, p Principal, ids []uuid.UUID) (map[uuid.UUID]Listing, error) {
	out := make(map[uuid.UUID]Listing, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+listingColumns+`, `+listingTags+` FROM listings l WHERE l.id = ANY($2)`, s.clock(), ids)
	if err != nil {
		return nil, err
	}
	ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Listing, error) { return scanTagged(r) })
	if err != nil {
		return nil, err
	}
	v := ViewerOf(p)
	for _, l := range ls {
		if v.MaySee(l) {
			out[l.ID] = l
		}
	}
	return out, nil
}

// listing is Listing, for anyone.
func (s *Store) listing(ctx context.Context, id uuid.UUID) (Listing, error) {
	l, err := scanTagged(s.db.Pool.QueryRow(ctx, `SELECT `+listingColumns+`, `+listingTags+` FROM listings l WHERE l.id = $2`, s.clock(), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Listing{}, unknownListing(id)
	}
	if err != nil {
		return Listing{}, err
	}
	return l, nil
}

// WithdrawListing withdraws a listing on behalf of p: its owner, or whoever
// acts for its organization (its coordinators, those above, the admin). It
// returns ErrUnknownListing when there is no such listing or p may not see
// it (Viewer.MaySee), ErrForbidden when p may see it but is neither,
// ErrUnauthenticated for a zero Principal, and what UpdateListingStatus
// returns (ErrStatusTransition for a listing no longer open or matched).
func (s *Store) WithdrawListing(ctx context.Context, p Principal, id uuid.UUID) (Listing, error) {
	if err := requireMember(p); err != nil {
		return Listing{}, err
	}
	l, err := s.Listing(ctx, p, id)
	if err != nil {
		return Listing{}, err
	}
	if l.Owner != p.MemberID {
		switch err := s.CanManageOrg(ctx, p, l.OrgID); {
		case hidden(err) || isForbidden(err):
			return Listing{}, forbiddenBecause("only the listing's owner or a coordinator of its organization may withdraw it")
		case err != nil:
			return Listing{}, err
		}
	}
	return s.updateListingStatusBy(ctx, p, l.ID, StatusWithdrawn)
}

// updateListingStatus moves a listing to status to, along the transitions
// documented at ListingStatus, and returns it. It locks the listing's row
// first, so two concurrent changes are decided one after the other. An open
// listing whose expiry has passed is expired: the change records that (and
// commits it) and is then judged from expired. It returns
// ledger.ErrInvalidRequest for an unknown status, ErrUnknownListing, and
// ErrStatusTransition (with the listing's current status in the message) for
// a transition the table does not allow, including to the same status. It
// decides nobody's permission: it is the step agreements and trades take,
// and WithdrawListing takes for a principal.
func (s *Store) updateListingStatus(ctx context.Context, id uuid.UUID, to ListingStatus) (Listing, error) {
	return s.updateListingStatusBy(ctx, systemPrincipal, id, to)
}

// updateListingStatusBy is updateListingStatus, recorded as done by p.
func (s *Store) updateListingStatusBy(ctx context.Context, p Principal, id uuid.UUID, to ListingStatus) (Listing, error) {
	if !to.valid() {
		return Listing{}, invalid("status", "status must be open, matched, fulfilled, withdrawn or expired, not %q", to)
	}
	now := s.clock()
	var l Listing
	var refused error
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		refused = nil
		var err error
		l, err = scanListing(tx.QueryRow(ctx, `SELECT `+listingColumns+` FROM listings l WHERE l.id = $2 FOR UPDATE`, now, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownListing(id)
		}
		if err != nil {
			return err
		}
		next := to
		if !slices.Contains(transitions[l.Status], to) {
			if l.Status != StatusExpired || l.ExpiresAt == nil {
				return newError(ErrStatusTransition.Code, ReasonStatusTransition,
					"listing %s is %s and cannot become %s", id, l.Status, to)
			}
			// Expired by the clock but still recorded open: record the
			// expiry, and refuse the change once that is committed.
			refused = newError(ErrStatusTransition.Code, ReasonStatusTransition,
				"listing %s is expired and cannot become %s", id, to)
			next = StatusExpired
		}
		if _, err := tx.Exec(ctx, `UPDATE listings SET status = $2, updated_at = $3 WHERE id = $1 AND status <> $2`, id, next, now); err != nil {
			return err
		}
		if refused == nil {
			record(tx, p, now, auditEvent{kind: "listing." + string(next), subject: id, org: l.OrgID, member: l.Owner,
				details: map[string]any{"from": l.Status}})
		}
		l.Status, l.UpdatedAt = next, now
		ls := []Listing{l}
		if err := loadTags(ctx, tx, ls); err != nil {
			return err
		}
		l = ls[0]
		return nil
	})
	if err != nil {
		return Listing{}, err
	}
	if refused != nil {
		return Listing{}, refused
	}
	return l, nil
}

// expireListings records as expired every open listing whose expiry is at
// or before now, and returns how many it changed. Reads already report those
// listings expired; this makes the status stored match, and is meant to run
// periodically.
func (s *Store) expireListings(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var n int64
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `
UPDATE listings SET status = 'expired', updated_at = $1
WHERE status = 'open' AND expires_at <= $1`, now)
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// Viewer is who looks at listings: VisibilityOrg listings are shown only to
// members of their organization, to their owner, and to the network admin.
// The zero Viewer is anonymous and sees public listings only.
type Viewer struct {
	MemberID uuid.UUID   // sees their own listings
	Orgs     []uuid.UUID // the organizations they belong to
	All      bool        // sees every listing (the network admin)
}

// ViewerOf returns the Viewer for an authenticated principal.
func ViewerOf(p Principal) Viewer {
	v := Viewer{MemberID: p.MemberID, All: p.Admin}
	for o := range p.Roles {
		v.Orgs = append(v.Orgs, o)
	}
	slices.SortFunc(v.Orgs, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return v
}

// MaySee reports whether v may see l.
func (v Viewer) MaySee(l Listing) bool {
	return v.All || l.Visibility == VisibilityPublic ||
		(v.MemberID != uuid.Nil && l.Owner == v.MemberID) || slices.Contains(v.Orgs, l.OrgID)
}

// ListingQuery filters SearchListings. Its zero value asks for every open
// listing an anonymous viewer may see.
type ListingQuery struct {
	Viewer   Viewer
	Kind     ListingKind // "" for both
	Category string      // "" for any
	// Categories, when not empty, narrows to listings in any of them.
	Categories []string
	// Tags: listings carrying every one of them (compared lower-cased).
	Tags []string
	// Text: listings with, for every word, a word of their title,
	// description, tags or category's name that it begins, compared
	// folded (case and accents ignored: "ninos" finds "Niños"); at most 10
	// words, 200 characters.
	Text string
	// Near and RadiusKm: listings within RadiusKm (great-circle distance) of
	// Near. RadiusKm must be positive when Near is set, except in
	// FindListings, where 0 means any distance.
	Near     *Point
	RadiusKm float64
	// OrRemote, with Near, also takes remote offers at any distance.
	OrRemote bool
	// Reach: needs whose own reach (MaxKm, matching.DefaultMaxKm when
	// unset) takes in this point.
	Reach *Point
	// From and To: listings available at some time in [From, To). Either may
	// be zero (unbounded); a listing without a window is always available.
	From, To time.Time
	OrgID    uuid.UUID // uuid.Nil for any organization; otherwise that one only
	// Orgs, when not empty, narrows to listings posted in any of them.
	Orgs []uuid.UUID
	// City: listings in the city, spelled as they were posted.
	City  string
	Owner uuid.UUID // uuid.Nil for anyone's
	// Statuses are the statuses wanted, as of the store's clock; none means
	// open only. An open listing past its expiry is expired, never open.
	Statuses []ListingStatus
}

const (
	maxSearchWords  = 10
	maxSearchText   = 200
	maxSearchRadius = 20038 // half the Earth's circumference
	earthKm         = 6371.0
)

// SearchListings returns, in id order, one page of the listings that match
// q and that q.Viewer may see. next is the After of the following page, or
// uuid.Nil after the last one. It returns ledger.ErrInvalidRequest (with
// Field set) for an unknown kind or status, a bad tag, text too long or of
// too many words, a bad point or radius, a To not after From, or a limit
// outside 0..MaxLimit. An unknown category or organization simply matches
// nothing.
//
// What p may see decides: q.Viewer is set to ViewerOf(p) (a zero Principal
// sees public listings only); only System's own searches keep the Viewer
// they give.
func (s *Store) SearchListings(ctx context.Context, pr Principal, q ListingQuery, p Page) (ls []Listing, next uuid.UUID, err error) {
	if !pr.system {
		q.Viewer = ViewerOf(pr)
	}
	limit, err := p.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	args := []any{s.clock(), p.After}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where, err := listingFilter(q, arg)
	if err != nil {
		return nil, uuid.Nil, err
	}
	where = append(where, "l.id > $2")

	sql := `SELECT ` + listingColumns + `, ` + listingTags + ` FROM listings l WHERE ` + strings.Join(where, "\n  AND ") +
		"\nORDER BY l.id LIMIT " + arg(limit+1)
	rows, err := s.db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, uuid.Nil, err
	}
	ls, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Listing, error) { return scanTagged(r) })
	if err != nil {
		return nil, uuid.Nil, err
	}
	if ls == nil {
		ls = []Listing{}
	}
	if len(ls) > limit {
		ls = ls[:limit]
		next = ls[limit-1].ID
	}
	return ls, next, nil
}

// listingFilter is the WHERE clause of a listing query, as conditions to
// AND together, with the clock as $1 and arg adding the other parameters.
// It returns the errors SearchListings documents for a bad query.
func listingFilter(q ListingQuery, arg func(any) string) ([]string, error) {
	var where []string

	statuses := q.Statuses
	if len(statuses) == 0 {
		statuses = []ListingStatus{StatusOpen}
	}
	var ors []string
	for _, st := range statuses {
		switch {
		case !st.valid():
			return nil, invalid("statuses", "status must be open, matched, fulfilled, withdrawn or expired, not %q", st)
		case st == StatusOpen:
			ors = append(ors, "(l.status = 'open' AND (l.expires_at IS NULL OR l.expires_at > $1))")
		case st == StatusExpired:
			ors = append(ors, "(l.status = 'expired' OR (l.status = 'open' AND l.expires_at <= $1))")
		default:
			ors = append(ors, "l.status = "+arg(string(st)))
		}
	}
	where = append(where, "("+strings.Join(ors, " OR ")+")")

	if q.Kind != "" {
		if q.Kind != Offer && q.Kind != Need {
			return nil, invalid("kind", "kind must be offer or need, not %q", q.Kind)
		}
		where = append(where, "l.kind = "+arg(string(q.Kind)))
	}
	if q.Category != "" {
		where = append(where, "l.category = "+arg(q.Category))
	}
	if len(q.Categories) > 0 {
		where = append(where, "l.category = ANY("+arg(q.Categories)+")")
	}
	if q.OrgID != uuid.Nil {
		where = append(where, "l.org_id = "+arg(q.OrgID))
	}
	if q.Owner != uuid.Nil {
		where = append(where, "l.owner_member = "+arg(q.Owner))
	}
	if len(q.Orgs) > 0 {
		where = append(where, "l.org_id = ANY("+arg(q.Orgs)+")")
	}
	if q.City != "" {
		where = append(where, "l.city = "+arg(strings.TrimSpace(q.City)))
	}
	if len(q.Tags) > 0 {
		tags, err := normalizeTags(q.Tags)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			where = append(where, "EXISTS (SELECT 1 FROM listing_tags t WHERE t.listing_id = l.id AND t.tag = "+arg(t)+")")
		}
	}
	if q.Text != "" {
		terms, err := searchTerms(q.Text)
		if err != nil {
			return nil, err
		}
		where = append(where, termsClause(terms, arg)...)
	}
	if q.Near != nil {
		if err := q.Near.check("near"); err != nil {
			return nil, err
		}
		if !(q.RadiusKm > 0 && q.RadiusKm <= maxSearchRadius) {
			return nil, invalid("radius_km", "radius must be between 0 and %d km, not %v", maxSearchRadius, q.RadiusKm)
		}
		near := nearClause(*q.Near, q.RadiusKm, arg)
		if q.OrRemote {
			near = "(l.remote OR " + near + ")"
		}
		where = append(where, near)
	}
	if q.Reach != nil {
		if err := q.Reach.check("reach"); err != nil {
			return nil, err
		}
		where = append(where, reachClause(*q.Reach, arg))
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return nil, invalid("to", "the search window must end after it starts")
	}
	if !q.From.IsZero() {
		where = append(where, "(l.window_end IS NULL OR l.window_end > "+arg(q.From.UTC())+")")
	}
	if !q.To.IsZero() {
		where = append(where, "(l.window_start IS NULL OR l.window_start < "+arg(q.To.UTC())+")")
	}
	if v := q.Viewer; !v.All {
		vis := "l.visibility = 'public'"
		if len(v.Orgs) > 0 {
			vis += " OR l.org_id = ANY(" + arg(v.Orgs) + ")"
		}
		if v.MemberID != uuid.Nil {
			vis += " OR l.owner_member = " + arg(v.MemberID)
		}
		where = append(where, "("+vis+")")
	}
	return where, nil
}

// nearClause is the distance filter: a latitude/longitude box that the
// (lat, lon) index can serve, then the haversine distance (the formula and
// Earth radius of package matching, so search and matching agree).
func nearClause(c Point, km float64, arg func(any) string) string {
	return "(" + boxClause(c, km, arg) + " AND " + distanceSQL(c, arg) + " <= " + arg(km) + "::FLOAT8)"
}

// boxClause is the latitude/longitude box around the circle of km about c.
func boxClause(c Point, km float64, arg func(any) string) string {
	const slack = 1e-9 // degrees, against rounding at the box's edge
	r := km / earthKm  // the radius as an angle, in radians
	dLat := r*180/math.Pi + slack
	box := "l.lat BETWEEN " + arg(c.Lat-dLat) + " AND " + arg(c.Lat+dLat)
	// The circle's half-width in longitude is asin(sin r / cos lat); when
	// the circle reaches a pole every longitude is in it, and the box has
	// no longitude bounds.
	if s := math.Sin(r) / math.Cos(c.Lat*math.Pi/180); r < math.Pi/2 && s < 1 {
		dLon := math.Asin(s)*180/math.Pi + slack
		lonLo, lonHi := c.Lon-dLon, c.Lon+dLon
		switch {
		case lonLo < -180: // across the antimeridian
			box += " AND (l.lon >= " + arg(lonLo+360) + " OR l.lon <= " + arg(lonHi) + ")"
		case lonHi > 180:
			box += " AND (l.lon >= " + arg(lonLo) + " OR l.lon <= " + arg(lonHi-360) + ")"
		default:
			box += " AND l.lon BETWEEN " + arg(lonLo) + " AND " + arg(lonHi)
		}
	}
	return box
}

// distanceSQL is the haversine distance in km from c to a listing l.
func distanceSQL(c Point, arg func(any) string) string { return distanceOf("l", c, arg) }

// distanceOf is the haversine distance in km from c to the lat and lon of
// the row alias.
func distanceOf(alias string, c Point, arg func(any) string) string {
	lat, lon := arg(c.Lat), arg(c.Lon)
	return "(2 * " + strconv.FormatFloat(earthKm, 'f', 1, 64) + " * asin(sqrt(least(1.0," +
		" power(sin(radians(" + alias + ".lat - " + lat + "::FLOAT8) / 2), 2)" +
		" + cos(radians(" + lat + "::FLOAT8)) * cos(radians(" + alias + ".lat)) * power(sin(radians(" + alias + ".lon - " + lon + "::FLOAT8) / 2), 2)))))"
}

// ToMatching converts a listing for the matching engine, which counts in
// hundredths of a unit (centi-hours): an offer's quantity is rounded down and
// a need's up, so a proposal never promises more than an offer holds.
// Callers match listings of one unit at a time.
func ToMatching(l Listing) matching.Listing {
	kind := matching.Offer
	if l.Kind == Need {
		kind = matching.Need
	}
	return matching.Listing{
		ID:       l.ID.String(),
		Kind:     kind,
		Category: l.Category,
		Tags:     slices.Clone(l.Tags),
		Owner:    l.Owner.String(),
		Quantity: hundredths(l.Quantity, kind == matching.Need),
		Lat:      l.Place.Lat,
		Lon:      l.Place.Lon,
		Start:    l.Start,
		End:      l.End,
		Urgency:  l.Urgency,
		MaxKm:    l.MaxKm,
		Remote:   l.Remote,
		Flexible: l.Flexible,
		Weekly:   slices.Clone(l.Weekly),
		Zone:     zoneOf(l),
	}
}

// hundredths returns q in hundredths, rounded up or down.
func hundredths(q decimal.Decimal, up bool) int64 {
	c := q.Shift(2)
	if up {
		return c.Ceil().IntPart()
	}
	return c.Floor().IntPart()
}
