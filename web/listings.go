package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/ledger"
)

// listingService is what the offers and needs pages ask: the taxonomy,
// search, posting, a listing with its matches, the neighborhoods to pick
// from and the names of the people shown.
type listingService interface {
	Categories(ctx context.Context, p exchange.Principal) ([]exchange.Category, error)
	// PostListing posts a listing for the member signed in (or the member
	// a coordinator acts for), who must be its owner and belong to the
	// organization: the exchange decides.
	PostListing(ctx context.Context, p exchange.Principal, in exchange.NewListing) (exchange.Listing, error)
	SearchListings(ctx context.Context, pr exchange.Principal, q exchange.ListingQuery, p exchange.Page) ([]exchange.Listing, uuid.UUID, error)
	Neighborhoods(ctx context.Context, p exchange.Principal, orgID uuid.UUID) ([]exchange.Neighborhood, error)
	Matches(ctx context.Context, p exchange.Principal, id uuid.UUID, cfg matching.Config, limit int) (exchange.Listing, []exchange.Match, error)
	MemberNames(ctx context.Context, p exchange.Principal, ids []uuid.UUID) (map[uuid.UUID]string, error)
	ProposeAgreement(ctx context.Context, p exchange.Principal, in exchange.NewAgreement) (exchange.Agreement, error)
}

func (s *Server) registerListingPages() {
	s.member("GET /listings", s.listings)
	s.member("GET /listings/new", s.newListing)
	s.member("POST /listings", s.postListing)
	s.member("GET /listings/{id}", s.listing)
	s.member("POST /listings/{id}/propose", s.propose)
}

// Bounds of the pages of listings.
const (
	// searchRead is how many listings a search reads to sort by distance
	// or by date; the exchange's search returns them in id order.
	searchRead   = exchange.MaxLimit
	searchPage   = 20
	matchesShown = 10
	// dateForm and datetimeForm are how date and datetime-local inputs
	// send their values, whatever the browser's language.
	dateForm     = "2006-01-02"
	datetimeForm = "2006-01-02T15:04"
)

// place is a neighborhood the pages offer to choose from: its key in
// forms, what a person reads, and its point.
type place struct {
	Key, Label string
	exchange.Neighborhood
}

// places returns the neighborhoods of the organizations p belongs to, by
// name, each once.
func (s *Server) places(ctx context.Context, p exchange.Principal) ([]place, error) {
	seen := map[string]bool{}
	var out []place
	for _, org := range sortedOrgs(p) {
		ns, err := s.ex.Neighborhoods(ctx, p, org)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			key := n.Name + "|" + n.City
			if seen[key] {
				continue
			}
			seen[key] = true
			label := n.Name
			if n.City != "" {
				label += ", " + n.City
			}
			out = append(out, place{Key: key, Label: label, Neighborhood: n})
		}
	}
	slices.SortFunc(out, func(a, b place) int { return strings.Compare(a.Label, b.Label) })
	return out, nil
}

func findPlace(ps []place, key string) (place, bool) {
	for _, p := range ps {
		if p.Key == key {
			return p, true
		}
	}
	return place{}, false
}

// sortedOrgs are the organizations p belongs to, in a stable order.
func sortedOrgs(p exchange.Principal) []uuid.UUID {
	orgs := make([]uuid.UUID, 0, len(p.Roles))
	for o := range p.Roles {
		orgs = append(orgs, o)
	}
	slices.SortFunc(orgs, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return orgs
}

// categoryOptions are the taxonomy's categories, named in the person's
// language where the catalogue has them, by name; first, when any is
// given, an option of that label with no value.
func (s *Server) categoryOptions(r *Request, any string) ([]Option, map[string]string, error) {
	cs, err := s.ex.Categories(r.Context(), *r.Principal)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	var opts []Option
	for _, c := range cs {
		name := c.Name
		if id := "category." + c.Code; r.Lang.Has(id) {
			name = r.Lang.T(id)
		}
		names[c.Code] = name
		opts = append(opts, Option{Value: c.Code, Label: name})
	}
	slices.SortFunc(opts, func(a, b Option) int { return strings.Compare(a.Label, b.Label) })
	if any != "" {
		opts = append([]Option{{Value: "", Label: r.Lang.T(any)}}, opts...)
	}
	return opts, names, nil
}

// listingView is a listing as the pages show it.
type listingView struct {
	exchange.Listing
	KindLabel, CategoryName, Amount, Place, When, Owner, StatusLabel string
	// Km is the distance from the place searched from, written for the
	// person ("1.2"), "" without one.
	Km   string
	km   float64
	Mine bool
}

func (s *Server) viewListing(r *Request, l exchange.Listing, categories map[string]string, names map[uuid.UUID]string) listingView {
	v := listingView{Listing: l, KindLabel: r.Lang.T("listings.kind." + string(l.Kind)), CategoryName: categories[l.Category],
		StatusLabel: r.Lang.T("listings.status." + string(l.Status)),
		Amount:      amount(r.Lang, l.Quantity, l.Unit), Mine: l.Owner == r.Principal.MemberID}
	if v.CategoryName == "" {
		v.CategoryName = l.Category
	}
	v.Place = l.Neighborhood
	if l.City != "" {
		if v.Place != "" {
			v.Place += ", "
		}
		v.Place += l.City
	}
	if !l.Start.IsZero() {
		v.When = r.Lang.T("listings.window", "Start", r.Lang.DateTime(l.Start), "End", r.Lang.DateTime(l.End))
	} else {
		v.When = r.Lang.T("listings.any_time")
	}
	switch name, ok := names[l.Owner]; {
	case v.Mine:
		v.Owner = r.Lang.T("listings.owner_you")
	case ok:
		v.Owner = name
	default:
		v.Owner = r.Lang.T("listings.owner_neighbor")
	}
	return v
}

// km writes a distance in km with one decimal, in the language's digits.
func km(l *Lang, d float64) string {
	return l.Fixed(decimal.NewFromFloat(d).Round(1), 1)
}

type listingsData struct {
	Kinds, Categories, Places, Sorts []Option
	Items                            []listingView
	Near                             string // the place searched from, "" for none
	Prev, Next                       string // links to the pages around, "" for none
	Total                            int
	Capped                           bool
}

// listings is the search of offers and needs: words, kind, category, a
// place and how far from it, a time window; sorted by distance from the
// place or newest first. Each listing says how far it is from the place.
//
// The exchange's search returns listings in id order; this page reads up
// to searchRead of them and sorts them itself, so a search that finds more
// says so.
func (s *Server) listings(w http.ResponseWriter, r *Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := queryForm(q)
	cats, catNames, err := s.categoryOptions(r, "listings.any_category")
	if err != nil {
		return err
	}
	places, err := s.places(ctx, *r.Principal)
	if err != nil {
		return err
	}
	d := listingsData{Categories: cats,
		Kinds: []Option{{"", r.Lang.T("listings.kind_any")}, {"need", r.Lang.T("listings.kind_needs")}, {"offer", r.Lang.T("listings.kind_offers")}},
		Sorts: []Option{{"distance", r.Lang.T("listings.sort_distance")}, {"newest", r.Lang.T("listings.sort_newest")}},
	}
	d.Places = []Option{{"", r.Lang.T("listings.near_none")}}
	for _, p := range places {
		d.Places = append(d.Places, Option{p.Key, p.Label})
	}
	if !q.Has("near") {
		// My neighborhood: where my latest listing is.
		if key, err := s.myPlace(ctx, *r.Principal); err != nil {
			return err
		} else if _, ok := findPlace(places, key); ok {
			f.Values.Set("near", key)
		}
	}
	query := exchange.ListingQuery{Viewer: exchange.ViewerOf(*r.Principal), Category: f.Get("category"), Text: f.Get("q")}
	switch k := f.Get("kind"); k {
	case "", "need", "offer":
		query.Kind = exchange.ListingKind(k)
	default:
		f.Refuse("kind", r.Lang.T("error.invalid"))
	}
	var from *place
	if key := f.Get("near"); key != "" {
		if p, ok := findPlace(places, key); ok {
			from = &p
			d.Near = p.Label
		} else {
			f.Refuse("near", r.Lang.T("error.field.neighborhood"))
		}
	}
	if s := f.Get("km"); s != "" {
		radius, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
		switch {
		case err != nil || radius <= 0 || radius > 1000 || math.IsNaN(radius):
			f.Refuse("km", r.Lang.T("error.field.km"))
		case from == nil:
			f.Refuse("near", r.Lang.T("error.field.near_for_km"))
		default:
			query.Near, query.RadiusKm = &from.Place, radius
		}
	}
	if query.From, err = dateParam(f.Get("from"), false, r.Lang.Location()); err != nil {
		f.Refuse("from", r.Lang.T("error.field.date"))
	}
	if query.To, err = dateParam(f.Get("to"), true, r.Lang.Location()); err != nil {
		f.Refuse("to", r.Lang.T("error.field.date"))
	}
	if !query.From.IsZero() && !query.To.IsZero() && !query.To.After(query.From) {
		f.Refuse("to", r.Lang.T("error.field.window"))
	}
	sortBy := f.Get("sort")
	if sortBy == "" {
		sortBy = "distance"
		f.Values.Set("sort", sortBy)
	}
	if sortBy != "distance" && sortBy != "newest" {
		f.Refuse("sort", r.Lang.T("error.invalid"))
	}
	status := http.StatusOK
	if f.OK() {
		ls, next, err := s.ex.SearchListings(ctx, *r.Principal, query, exchange.Page{Limit: searchRead})
		if err != nil {
			if !r.refuse(f, renameFields(err, "text", "q")) {
				return err
			}
			status = http.StatusUnprocessableEntity
		}
		d.Capped = next != uuid.Nil
		names, err := s.ownerNames(r, ls)
		if err != nil {
			return err
		}
		items := make([]listingView, len(ls))
		for i, l := range ls {
			items[i] = s.viewListing(r, l, catNames, names)
			if from != nil {
				items[i].km = matching.DistanceKm(from.Place.Lat, from.Place.Lon, l.Place.Lat, l.Place.Lon)
				items[i].Km = km(r.Lang, items[i].km)
			}
		}
		slices.SortStableFunc(items, func(a, b listingView) int {
			if sortBy == "distance" && from != nil {
				if c := cmp.Compare(a.km, b.km); c != 0 {
					return c
				}
			}
			return b.CreatedAt.Compare(a.CreatedAt)
		})
		d.Total = len(items)
		pageNo, _ := strconv.Atoi(q.Get("page"))
		pageNo = max(pageNo, 1)
		lo := min((pageNo-1)*searchPage, len(items))
		hi := min(lo+searchPage, len(items))
		d.Items = items[lo:hi]
		link := func(n int) string {
			v := url.Values{}
			for k, vs := range f.Values {
				if k != "page" {
					v[k] = vs
				}
			}
			v.Set("page", strconv.Itoa(n))
			return "/listings?" + v.Encode()
		}
		if lo > 0 {
			d.Prev = link(pageNo - 1)
		}
		if hi < len(items) {
			d.Next = link(pageNo + 1)
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "listings", "listings.title", f, d)
}

// myPlace returns the key of the neighborhood of p's latest listing, ""
// when they have none with a neighborhood.
func (s *Server) myPlace(ctx context.Context, p exchange.Principal) (string, error) {
	mine, _, err := s.ex.SearchListings(ctx, p, exchange.ListingQuery{Viewer: exchange.ViewerOf(p), Owner: p.MemberID,
		Statuses: []exchange.ListingStatus{exchange.StatusOpen, exchange.StatusMatched, exchange.StatusFulfilled, exchange.StatusExpired, exchange.StatusWithdrawn}},
		exchange.Page{Limit: exchange.MaxLimit})
	if err != nil {
		return "", err
	}
	var latest *exchange.Listing
	for i, l := range mine {
		if l.Neighborhood != "" && (latest == nil || l.CreatedAt.After(latest.CreatedAt)) {
			latest = &mine[i]
		}
	}
	if latest == nil {
		return "", nil
	}
	return latest.Neighborhood + "|" + latest.City, nil
}

func (s *Server) ownerNames(r *Request, ls []exchange.Listing) (map[uuid.UUID]string, error) {
	ids := make([]uuid.UUID, 0, len(ls))
	for _, l := range ls {
		ids = append(ids, l.Owner)
	}
	return s.ex.MemberNames(r.Context(), *r.Principal, ids)
}

// dateParam reads a date input ("2026-03-07") as the start of that day
// in zone (where the page shows times), or the start of the next one for
// the end of a window.
func dateParam(s string, end bool, zone *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(dateForm, s, zone)
	if err != nil {
		return time.Time{}, err
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// renameFields returns err with a domain error's field renamed, for the
// pages' fields that the exchange names otherwise: pairs of from, to.
func renameFields(err error, pairs ...string) error {
	var le *ledger.Error
	if !errors.As(err, &le) {
		return err
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if le.Field == pairs[i] {
			e := *le
			e.Field = pairs[i+1]
			return &e
		}
	}
	return err
}

type newListingData struct {
	Kinds, Categories, Places, Orgs []Option
}

// listingForm gathers what the posting form offers: the kinds, the
// categories, the neighborhoods and the member's organizations.
func (s *Server) listingForm(r *Request) (newListingData, []place, error) {
	cats, _, err := s.categoryOptions(r, "listings.choose_category")
	if err != nil {
		return newListingData{}, nil, err
	}
	places, err := s.places(r.Context(), *r.Principal)
	if err != nil {
		return newListingData{}, nil, err
	}
	d := newListingData{Categories: cats,
		Kinds: []Option{{"need", r.Lang.T("listings.kind_need_long")}, {"offer", r.Lang.T("listings.kind_offer_long")}}}
	d.Places = []Option{{"", r.Lang.T("listings.place_point")}}
	for _, p := range places {
		d.Places = append(d.Places, Option{p.Key, p.Label})
	}
	for _, o := range sortedOrgs(*r.Principal) {
		org, err := s.ex.Org(r.Context(), *r.Principal, o)
		if err != nil {
			return newListingData{}, nil, err
		}
		d.Orgs = append(d.Orgs, Option{o.String(), org.Name})
	}
	return d, places, nil
}

// newListing is the form to post an offer or a need.
func (s *Server) newListing(w http.ResponseWriter, r *Request) error {
	d, _, err := s.listingForm(r)
	if err != nil {
		return err
	}
	f := NewForm(nil)
	if k := r.URL.Query().Get("kind"); k == "offer" || k == "need" {
		f.Values.Set("kind", k)
	}
	if len(d.Places) > 1 {
		f.Values.Set("place", d.Places[1].Value)
	}
	return s.render(w, r, http.StatusOK, "listing_new", "listings.new_title", f, d)
}

// postListing posts an offer or a need as the member signed in. What the
// page can read wrong (hours that are not a number, a place or a time
// that is not one) is refused here; the exchange refuses the rest (too
// many decimals, a title too long, an organization they do not belong
// to). Either way the form comes back with the refusal beside its field,
// what was typed kept, and nothing written.
func (s *Server) postListing(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	d, places, err := s.listingForm(r)
	if err != nil {
		return err
	}
	in := exchange.NewListing{Owner: r.Principal.MemberID, Kind: exchange.ListingKind(f.Get("kind")),
		Title: f.Get("title"), Description: strings.TrimSpace(f.Values.Get("description")), Category: f.Get("category")}
	if in.Kind != exchange.Offer && in.Kind != exchange.Need {
		f.Refuse("kind", r.Lang.T("error.field.kind"))
	}
	if in.Category == "" {
		f.Refuse("category", r.Lang.T("error.field.category"))
	}
	if in.Title == "" {
		f.Refuse("title", r.Lang.T("error.field.title"))
	}
	if q, ok := hours(f.Get("quantity")); ok {
		in.Quantity = q
	} else {
		f.Refuse("quantity", r.Lang.T("error.field.quantity"))
	}
	switch org, err := uuid.Parse(f.Get("org")); {
	case len(d.Orgs) == 1 && f.Get("org") == "":
		in.OrgID = uuid.MustParse(d.Orgs[0].Value)
	case err != nil:
		f.Refuse("org", r.Lang.T("error.field.org"))
	default:
		in.OrgID = org
	}
	if key := f.Get("place"); key != "" {
		p, ok := findPlace(places, key)
		if !ok {
			f.Refuse("place", r.Lang.T("error.field.neighborhood"))
		}
		in.Place, in.Neighborhood, in.City = p.Place, p.Name, p.City
	} else {
		lat, latErr := strconv.ParseFloat(f.Get("lat"), 64)
		lon, lonErr := strconv.ParseFloat(f.Get("lon"), 64)
		if latErr != nil || lat < -90 || lat > 90 {
			f.Refuse("lat", r.Lang.T("error.field.lat"))
		}
		if lonErr != nil || lon < -180 || lon > 180 {
			f.Refuse("lon", r.Lang.T("error.field.lon"))
		}
		in.Place = exchange.Point{Lat: lat, Lon: lon}
		in.Neighborhood, in.City = f.Get("neighborhood"), f.Get("city")
	}
	// The window is typed in the organization's time zone, as it is shown.
	start, startErr := time.ParseInLocation(datetimeForm, f.Get("start"), r.Lang.Location())
	end, endErr := time.ParseInLocation(datetimeForm, f.Get("end"), r.Lang.Location())
	switch {
	case f.Get("start") == "" && f.Get("end") == "":
	case startErr != nil:
		f.Refuse("start", r.Lang.T("error.field.datetime"))
	case endErr != nil:
		f.Refuse("end", r.Lang.T("error.field.datetime"))
	case !end.After(start):
		f.Refuse("end", r.Lang.T("error.field.window"))
	default:
		in.Start, in.End = start, end
	}
	if f.OK() {
		l, err := s.ex.PostListing(r.Context(), *r.Principal, in)
		if err == nil {
			return s.redirect(w, r, "/listings/"+l.ID.String(), "flash.listing_posted")
		}
		err = renameFields(err, "owner", "org", "org_id", "org", "place.lat", "lat", "place.lon", "lon", "window", "end")
		if !r.refuse(f, err) {
			return err
		}
	}
	return s.render(w, r, http.StatusUnprocessableEntity, "listing_new", "listings.new_title", f, d)
}

// hours reads hours typed by a person: a plain decimal ("1.5", or "1,5"
// as Spanish and French write it), never rounded; the exchange decides
// whether it fits the unit.
func hours(s string) (decimal.Decimal, bool) {
	s = strings.TrimSpace(s)
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return decimal.Decimal{}, false
		}
	}
	d, err := decimal.NewFromString(s)
	if err != nil || d.Sign() <= 0 {
		return decimal.Decimal{}, false
	}
	return d, true
}

// matchView is a match as the listing's page shows it: the other
// listing, why it was matched, and what proposing would do.
type matchView struct {
	listingView
	Why             string
	Consequence     string
	OfferID, NeedID uuid.UUID
	Quantity        string
	// AgreementID is the id the proposal will have, chosen when the page
	// is shown: a form sent twice (a double click, a resend after a lost
	// answer) then names the same agreement, and asks the other person once.
	AgreementID uuid.UUID
	// CanPropose is set when one of the two listings is the member's.
	CanPropose bool
}

type listingData struct {
	L       listingView
	Matches []matchView
	Open    bool
}

// listing shows a listing and, when it is open, its matches ranked and
// explained, each with a button to propose an agreement when one side is
// the member's.
func (s *Server) listing(w http.ResponseWriter, r *Request) error {
	return s.renderListing(w, r, http.StatusOK, NewForm(nil))
}

func (s *Server) renderListing(w http.ResponseWriter, r *Request, status int, f *Form) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	l, ms, err := s.ex.Matches(r.Context(), *r.Principal, id, s.matching, matchesShown)
	if err != nil {
		return err
	}
	_, catNames, err := s.categoryOptions(r, "")
	if err != nil {
		return err
	}
	ls := []exchange.Listing{l}
	for _, m := range ms {
		ls = append(ls, m.Listing)
	}
	names, err := s.ownerNames(r, ls)
	if err != nil {
		return err
	}
	d := listingData{L: s.viewListing(r, l, catNames, names), Open: l.Status == exchange.StatusOpen}
	for _, m := range ms {
		v := matchView{listingView: s.viewListing(r, m.Listing, catNames, names)}
		v.Km = km(r.Lang, m.Score.Km)
		v.Why = s.why(r, l, m)
		offer, need := m.Listing, l
		if l.Kind == exchange.Offer {
			offer, need = l, m.Listing
		}
		v.OfferID, v.NeedID, v.AgreementID = offer.ID, need.ID, uuid.New()
		q := decimal.Min(offer.Quantity, need.Quantity)
		v.Quantity = q.String()
		held := amount(r.Lang, q, l.Unit)
		v.CanPropose = true
		switch r.Principal.MemberID {
		case need.Owner:
			v.Consequence = r.Lang.T("listings.propose_as_receiver", "Name", v.Owner, "Amount", held)
		case offer.Owner:
			v.Consequence = r.Lang.T("listings.propose_as_giver", "Name", v.Owner, "Amount", held)
		default:
			v.CanPropose = false // neither is mine: nothing to propose
		}
		d.Matches = append(d.Matches, v)
	}
	return s.render(w, r, status, "listing", "listings.listing_title", f, d)
}

// why says in words why a match was made, from its score's parts: how
// far, whether the category is the same, when the helper is free, how
// urgent the need is, and whether the other person was helped (or asked
// to help) lately.
func (s *Server) why(r *Request, l exchange.Listing, m exchange.Match) string {
	t := r.Lang.T
	offer, need := m.Listing, l
	if l.Kind == exchange.Offer {
		offer, need = l, m.Listing
	}
	parts := whyPair(r, need, offer, m.Score)
	if l.Kind == exchange.Offer {
		// The other person is the one helped.
		if m.Received == 0 {
			parts = append(parts, t("listings.why.not_helped"))
		} else {
			parts = append(parts, t("listings.why.helped", "Amount", amount(r.Lang, decimal.New(m.Received, -2), l.Unit)))
		}
	} else {
		if m.Asked == 0 {
			parts = append(parts, t("listings.why.not_asked"))
		} else {
			parts = append(parts, t("listings.why.asked", "Amount", amount(r.Lang, decimal.New(m.Asked, -2), l.Unit)))
		}
	}
	return strings.Join(parts, " · ")
}

// whyPair says in words what a pair's score weighed, but fairness (which
// each page words for whom it speaks of): how far, whether the category
// is the same, when the helper is free, how urgent the need is.
func whyPair(r *Request, need, offer exchange.Listing, b matching.Breakdown) []string {
	t := r.Lang.T
	parts := []string{t("listings.why.km", "Km", km(r.Lang, b.Km))}
	if b.Category >= 1 {
		parts = append(parts, t("listings.why.same_category"))
	} else {
		parts = append(parts, t("listings.why.related_category"))
	}
	switch {
	case b.Overlap <= 0:
		parts = append(parts, t("listings.why.other_time"))
	case offer.Start.IsZero():
		parts = append(parts, t("listings.why.any_time"))
	default:
		// When the helper is free within the need's window.
		at := offer.Start
		if !need.Start.IsZero() && need.Start.After(at) {
			at = need.Start
		}
		at = r.Lang.In(at)
		parts = append(parts, t("listings.why.free_when", "Day", t(fmt.Sprintf("weekday.%d", int(at.Weekday()))), "Part", t("daypart."+dayPart(at))))
	}
	if need.Urgency > 0 {
		parts = append(parts, t("listings.why.urgent"))
	}
	return parts
}

// idTaken reports whether err refuses a creation because its id is
// taken.
func idTaken(err error) bool {
	var le *ledger.Error
	return errors.As(err, &le) && le.Code == ledger.ECONFLICT && le.Field == "id"
}

// dayPart names the part of the day an instant falls in.
func dayPart(t time.Time) string {
	switch h := t.Hour(); {
	case h < 12:
		return "morning"
	case h < 18:
		return "afternoon"
	default:
		return "evening"
	}
}

// propose proposes an agreement between one of the member's listings and
// a match of it, for the quantity the page said; the other person is told
// and the browser goes to the agreement. A refusal (the listing closed,
// its hours taken meanwhile, no account) shows the listing's page again
// saying why; nothing is written. The form names the agreement's id, so
// sending it again leads to the agreement the first sending proposed and
// writes nothing more.
func (s *Server) propose(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	offer, err1 := uuid.Parse(f.Get("offer_id"))
	need, err2 := uuid.Parse(f.Get("need_id"))
	id, err3 := uuid.Parse(f.Get("agreement_id"))
	q, ok := hours(f.Get("quantity"))
	if err1 != nil || err2 != nil || err3 != nil || !ok {
		f.Refuse("", r.Lang.T("error.invalid"))
		return s.renderListing(w, r, http.StatusUnprocessableEntity, f)
	}
	a, err := s.ex.ProposeAgreement(r.Context(), *r.Principal, exchange.NewAgreement{ID: id, OfferID: offer, NeedID: need, Quantity: q})
	if err == nil {
		return s.redirect(w, r, "/agreements/"+a.ID.String(), "flash.agreement_proposed")
	}
	if idTaken(err) {
		// Sent before: the same proposal by the same person is the one
		// this form made; anything else keeps the refusal.
		if a, gerr := s.ex.Agreement(r.Context(), *r.Principal, id); gerr == nil &&
			a.OfferID == offer && a.NeedID == need && a.ProposedBy == r.Principal.MemberID {
			return s.redirect(w, r, "/agreements/"+a.ID.String(), "flash.agreement_proposed")
		}
	}
	if !r.refuseAbove(f, err) {
		return err
	}
	return s.renderListing(w, r, http.StatusUnprocessableEntity, f)
}
