package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// listingService keeps the categories and the listings.
// *exchange.Store implements it; see its methods of the same names for
// the errors. CreateCategory, Listing and WithdrawListing decide themselves
// who may; searches still take the Viewer built here (ViewerOf).
type listingService interface {
	Categories(ctx context.Context, p exchange.Principal) ([]exchange.Category, error)
	CreateCategory(ctx context.Context, p exchange.Principal, in exchange.Category) (exchange.Category, error)
	PostListing(ctx context.Context, p exchange.Principal, in exchange.NewListing) (exchange.Listing, error)
	Listing(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Listing, error)
	SearchListings(ctx context.Context, pr exchange.Principal, q exchange.ListingQuery, p exchange.Page) ([]exchange.Listing, uuid.UUID, error)
	WithdrawListing(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Listing, error)
	Matches(ctx context.Context, p exchange.Principal, id uuid.UUID, cfg matching.Config, limit int) (exchange.Listing, []exchange.Match, error)
}

func (a *api) registerListingRoutes(rt *router) {
	rt.read(http.MethodGet, "/v1/categories", a.listCategories)
	rt.write("/v1/categories", a.createCategory)
	rt.write("/v1/listings", a.createListing)
	rt.read(http.MethodGet, "/v1/listings", a.searchListings)
	rt.read(http.MethodGet, "/v1/listings/{id}", a.getListing)
	rt.write("/v1/listings/{id}/withdraw", a.withdrawListing)
	rt.read(http.MethodGet, "/v1/listings/{id}/matches", a.listingMatches)
}

// Bounds of GET /v1/listings/{id}/matches.
const (
	defaultMatches = 20
	maxMatches     = 100
)

// notFoundListing is the error for a listing that does not exist or may not
// be seen.
func notFoundListing(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownListing,
		Message: "unknown listing " + id}
}

// categoryJSON is a category of the taxonomy. parent is null for a
// top-level category.
type categoryJSON struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Parent    *string   `json:"parent"`
	CreatedAt time.Time `json:"created_at"`
}

func toCategoryJSON(c exchange.Category) categoryJSON {
	return categoryJSON{Code: c.Code, Name: c.Name, Parent: c.Parent, CreatedAt: c.CreatedAt.UTC()}
}

type createCategoryRequest struct {
	Code   string  `json:"code" validate:"required,max=32,line"`
	Name   string  `json:"name" validate:"required,max=200,line"`
	Parent *string `json:"parent" validate:"omitempty,max=32,line"`
}

// listCategories lists the whole taxonomy by code, for any member. It is
// small, so it comes in one page.
func (a *api) listCategories(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.listings.Categories(r.Context(), principal(r))
	if err != nil {
		return err
	}
	items := make([]categoryJSON, len(cs))
	for i, c := range cs {
		items[i] = toCategoryJSON(c)
	}
	return writeJSON(w, http.StatusOK, newList(items, ""))
}

// createCategory extends the taxonomy: network admins only, since every
// organization shares it.
func (a *api) createCategory(w http.ResponseWriter, r *http.Request) error {
	var req createCategoryRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	c, err := a.listings.CreateCategory(r.Context(), principal(r), exchange.Category{Code: req.Code, Name: req.Name, Parent: req.Parent})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toCategoryJSON(c))
}

// pointJSON is a place, in degrees.
type pointJSON struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// windowJSON is when a listing is available.
type windowJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// listingJSON is a listing as the API shows it to those who may see it.
// window is null when the listing is available at any time, expires_at
// when it does not expire.
type listingJSON struct {
	ID           uuid.UUID   `json:"id"`
	OrgID        uuid.UUID   `json:"org_id"`
	Owner        uuid.UUID   `json:"owner"`
	Kind         string      `json:"kind"`
	Title        string      `json:"title"`
	Description  string      `json:"description"`
	Category     string      `json:"category"`
	Tags         []string    `json:"tags"`
	Quantity     string      `json:"quantity"`
	Unit         string      `json:"unit"`
	Place        pointJSON   `json:"place"`
	City         string      `json:"city"`
	Neighborhood string      `json:"neighborhood"`
	Window       *windowJSON `json:"window"`
	Urgency      int         `json:"urgency"`
	Visibility   string      `json:"visibility"`
	Status       string      `json:"status"`
	ExpiresAt    *time.Time  `json:"expires_at"`
	CreatedAt    time.Time   `json:"created_at"`
	UpdatedAt    time.Time   `json:"updated_at"`
	reachJSON
}

// listingWriter turns listings into JSON, writing quantities with their
// unit's scale; it asks the ledger for each unit once.
type listingWriter struct {
	ctx    context.Context
	a      *api
	scales map[string]int32
}

func (a *api) listingWriter(ctx context.Context) *listingWriter {
	return &listingWriter{ctx: ctx, a: a, scales: make(map[string]int32)}
}

func (lw *listingWriter) json(l exchange.Listing) listingJSON {
	scale, ok := lw.scales[l.Unit]
	if !ok {
		scale = -1
		if u, err := lw.a.ledger.Unit(lw.ctx, l.Unit); err == nil {
			scale = u.Scale
		}
		lw.scales[l.Unit] = scale
	}
	qty := l.Quantity.String()
	if scale >= 0 {
		qty = l.Quantity.StringFixed(scale)
	}
	tags := l.Tags
	if tags == nil {
		tags = []string{}
	}
	j := listingJSON{
		ID: l.ID, OrgID: l.OrgID, Owner: l.Owner, Kind: string(l.Kind), Title: l.Title,
		Description: l.Description, Category: l.Category, Tags: tags, Quantity: qty, Unit: l.Unit,
		Place: pointJSON{Lat: l.Place.Lat, Lon: l.Place.Lon}, City: l.City, Neighborhood: l.Neighborhood,
		Urgency: l.Urgency, Visibility: string(l.Visibility), Status: string(l.Status),
		CreatedAt: l.CreatedAt.UTC(), UpdatedAt: l.UpdatedAt.UTC(),
	}
	if !l.Start.IsZero() || !l.End.IsZero() {
		j.Window = &windowJSON{Start: l.Start.UTC(), End: l.End.UTC()}
	}
	if l.ExpiresAt != nil {
		t := l.ExpiresAt.UTC()
		j.ExpiresAt = &t
	}
	j.reachJSON = toReachJSON(l)
	return j
}

type placeRequest struct {
	Lat *float64 `json:"lat" validate:"required,min=-90,max=90"`
	Lon *float64 `json:"lon" validate:"required,min=-180,max=180"`
}

type windowRequest struct {
	Start string `json:"start" validate:"required,rfc3339"`
	End   string `json:"end" validate:"required,rfc3339"`
}

// createListingRequest posts a listing as the caller. The exchange checks
// what the tags cannot say (the category and unit exist, the quantity fits
// the unit's scale, the window's order, urgency only on needs).
type createListingRequest struct {
	OrgID        string         `json:"org_id" validate:"required,uuid"`
	Kind         string         `json:"kind" validate:"required,oneof=offer need"`
	Title        string         `json:"title" validate:"required,max=200,line"`
	Description  string         `json:"description" validate:"max=5000,text"`
	Category     string         `json:"category" validate:"required,max=32,line"`
	Tags         []string       `json:"tags" validate:"max=20,dive,line"`
	Quantity     decimalString  `json:"quantity" validate:"required,decimal"`
	Unit         string         `json:"unit" validate:"max=32,line"`
	Place        *placeRequest  `json:"place" validate:"required"`
	City         string         `json:"city" validate:"max=200,line"`
	Neighborhood string         `json:"neighborhood" validate:"max=200,line"`
	Window       *windowRequest `json:"window"`
	Urgency      int            `json:"urgency" validate:"min=0,max=3"`
	Visibility   string         `json:"visibility" validate:"omitempty,oneof=public org"`
	ExpiresAt    string         `json:"expires_at" validate:"omitempty,rfc3339"`
	reachRequest
}

// createListing posts an offer or a need in org_id, owned by the caller,
// who must be a member of it (422 otherwise). With an Idempotency-Key the
// listing's id is derived from the key, so that a retry after a crash finds
// the listing made the first time.
func (a *api) createListing(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req createListingRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	in := exchange.NewListing{
		ID: keyedID(r, "listing"), OrgID: uuid.MustParse(req.OrgID), Owner: p.MemberID,
		Kind: exchange.ListingKind(req.Kind), Title: req.Title, Description: req.Description,
		Category: req.Category, Tags: req.Tags, Quantity: req.Quantity.value(), Unit: req.Unit,
		Place: exchange.Point{Lat: *req.Place.Lat, Lon: *req.Place.Lon}, City: req.City,
		Neighborhood: req.Neighborhood, Urgency: req.Urgency, Visibility: exchange.Visibility(req.Visibility),
	}
	if req.Window != nil {
		in.Start, _ = time.Parse(time.RFC3339Nano, req.Window.Start)
		in.End, _ = time.Parse(time.RFC3339Nano, req.Window.End)
	}
	if req.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, req.ExpiresAt)
		in.ExpiresAt = &t
	}
	req.reachRequest.into(&in)
	l, err := a.listings.PostListing(ctx, p, in)
	if err != nil {
		if l, err = a.sameListing(ctx, p, in, err); err != nil {
			// The owner is the caller: a membership they lack is
			// a fault of the organization they named.
			return renameField(err, "owner", "org_id")
		}
	}
	w.Header().Set("Location", "/v1/listings/"+l.ID.String())
	return writeJSON(w, http.StatusCreated, a.listingWriter(ctx).json(l))
}

// sameListing answers a creation that failed because the (keyed) id is
// taken: when the listing there is the caller's, in the same organization,
// of the same kind and title, an earlier attempt of this request made it.
// Otherwise the error stands.
func (a *api) sameListing(ctx context.Context, p exchange.Principal, in exchange.NewListing, err error) (exchange.Listing, error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.ECONFLICT {
		return exchange.Listing{}, err
	}
	l, gerr := a.listings.Listing(ctx, p, in.ID)
	if gerr != nil || l.Owner != in.Owner || l.OrgID != in.OrgID || l.Kind != in.Kind ||
		l.Title != strings.TrimSpace(in.Title) || !l.Quantity.Equal(in.Quantity) {
		return exchange.Listing{}, err
	}
	return l, nil
}

// renameField returns err with a domain error's field from renamed to to,
// for request fields the API names otherwise than the exchange.
func renameField(err error, from, to string) error {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Field != from {
		return err
	}
	e := *le
	e.Field = to
	return &e
}

// visibleListing returns a listing the principal may see, or the not-found
// error of a listing that does not exist.
func (a *api) visibleListing(r *http.Request) (exchange.Listing, error) {
	id, err := parseID(r, "id", notFoundListing)
	if err != nil {
		return exchange.Listing{}, err
	}
	return a.listings.Listing(r.Context(), principal(r), id)
}

// getListing shows a listing to those who may see it: anyone for a public
// listing; the members of its organization, its owner and the admin for
// the others. Anyone else gets 404, as for a listing that does not exist.
func (a *api) getListing(w http.ResponseWriter, r *http.Request) error {
	l, err := a.visibleListing(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.listingWriter(r.Context()).json(l))
}

// searchListings lists the open listings the caller may see that match
// the query: most relevant first when q has words, nearest first when lat
// and lon are given (radius_km then optional), else in id order; each with
// its relevance and its distance in km.
func (a *api) searchListings(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	limit, after, err := pageQuery(r, "listings")
	if err != nil {
		return err
	}
	cur, err := parseSearchCursor(after)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	q := exchange.ListingQuery{
		Viewer: exchange.ViewerOf(principal(r)), Kind: exchange.ListingKind(v.Get("kind")),
		Category: v.Get("category"), Text: v.Get("q"),
	}
	if q.Kind != "" && q.Kind != exchange.Offer && q.Kind != exchange.Need {
		return malformed("kind", "kind must be offer or need")
	}
	lat, latOK, err := floatParam(v.Get("lat"), "lat")
	if err != nil {
		return err
	}
	lon, lonOK, err := floatParam(v.Get("lon"), "lon")
	if err != nil {
		return err
	}
	radius, radiusOK, err := floatParam(v.Get("radius_km"), "radius_km")
	if err != nil {
		return err
	}
	switch {
	case latOK && lonOK:
		q.Near, q.RadiusKm = &exchange.Point{Lat: lat, Lon: lon}, radius
		if radiusOK && !(radius > 0) {
			return &ledger.Error{Code: ledger.EINVALID, Reason: ledger.ReasonInvalidRequest, Field: "radius_km",
				Message: "radius_km must be more than 0 (leave it out for any distance)"}
		}
	case latOK || lonOK || radiusOK:
		return malformed("lon", "lat and lon go together, and radius_km needs them: give both or none")
	}
	if q.From, err = timeParam(v.Get("from"), "from"); err != nil {
		return err
	}
	if q.To, err = timeParam(v.Get("to"), "to"); err != nil {
		return err
	}
	if s := v.Get("org"); s != "" {
		if q.OrgID, err = uuid.Parse(s); err != nil {
			return malformed("org", "org must be an organization's UUID")
		}
	}
	found, next, err := a.search.FindListings(ctx, principal(r), q, cur, exchange.Page{Limit: min(limit, exchange.MaxLimit)})
	if err != nil {
		for _, f := range [][2]string{{"near.lat", "lat"}, {"near.lon", "lon"}, {"text", "q"}} {
			err = renameField(err, f[0], f[1])
		}
		return err
	}
	lw := a.listingWriter(ctx)
	items := make([]foundJSON, len(found))
	for i, f := range found {
		items[i] = foundJSON{listingJSON: lw.json(f.Listing), Relevance: f.Relevance, DistanceKm: f.Km}
	}
	return writeJSON(w, http.StatusOK, newList(items, searchCursor(next)))
}

func floatParam(s, name string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, malformed(name, "%s must be a number", name)
	}
	return f, true, nil
}

func timeParam(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, malformed(name, `%s must be an RFC 3339 time, such as "2026-03-01T09:00:00Z"`, name)
	}
	return t, nil
}

// withdrawListing withdraws a listing, for its owner or whoever acts for its
// organization (its coordinators, those above, the admin); 403 for others
// who may see it, 404 for those who may not. A listing that is no longer
// open or matched is 409.
func (a *api) withdrawListing(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundListing)
	if err != nil {
		return err
	}
	l, err := a.listings.WithdrawListing(ctx, principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.listingWriter(ctx).json(l))
}

// scoreJSON is a match's score and its parts, each in [0, 1], and the
// distance between the two listings.
type scoreJSON struct {
	Total    float64 `json:"total"`
	Category float64 `json:"category"`
	Distance float64 `json:"distance"`
	Overlap  float64 `json:"overlap"`
	Urgency  float64 `json:"urgency"`
	Fairness float64 `json:"fairness"`
	Km       float64 `json:"km"`
}

// matchJSON is one candidate for a listing, with the reasons of its score:
// remaining is what is left of it after its agreements, and cover the part
// of the need this pair can serve (the smaller of what is left of the need
// and of the offer).
type matchJSON struct {
	Listing   listingJSON  `json:"listing"`
	Score     scoreJSON    `json:"score"`
	Remaining string       `json:"remaining"`
	Cover     string       `json:"cover"`
	Reasons   []reasonJSON `json:"reasons"`
}

// listingMatches ranks, for a listing the caller may see, the open listings
// of the other kind they may also see that could match it, with what is
// left of each, the score's parts and its reasons: exchange.Store.Matches,
// the one ranking the pages show too. A listing that is not open has no
// matches.
func (a *api) listingMatches(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	limit := defaultMatches
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxMatches {
			return malformed("limit", "limit must be an integer from 1 to %d", maxMatches)
		}
		limit = n
	}
	id, err := parseID(r, "id", notFoundListing)
	if err != nil {
		return err
	}
	l, matches, err := a.listings.Matches(ctx, principal(r), id, a.matching, limit)
	if err != nil {
		return err
	}
	lw := a.listingWriter(ctx)
	items := make([]matchJSON, len(matches))
	for i, m := range matches {
		b := m.Score
		items[i] = matchJSON{Listing: lw.json(m.Listing), Score: scoreJSON{
			Total: b.Total, Category: b.Category, Distance: b.Distance, Overlap: b.Overlap,
			Urgency: b.Urgency, Fairness: b.Fairness, Km: b.Km},
			Remaining: a.amount(ctx, m.Remaining, l.Unit),
			Cover:     a.amount(ctx, m.Cover, l.Unit),
			Reasons:   toReasonsJSON(m.Reasons)}
	}
	return writeJSON(w, http.StatusOK, newList(items, ""))
}
