package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
)

// searchService is what search and the matching settings need.
// *exchange.Store implements it; see its methods of the same names for
// the errors. Every method but FindListings decides
// itself who may; FindListings takes the Viewer built here (ViewerOf).
type searchService interface {
	FindListings(ctx context.Context, pr exchange.Principal, q exchange.ListingQuery, after *exchange.SearchCursor, p exchange.Page) ([]exchange.Found, *exchange.SearchCursor, error)
	CategoryRelations(ctx context.Context, p exchange.Principal) ([]exchange.CategoryRelation, error)
	SetCategoryRelation(ctx context.Context, p exchange.Principal, needCategory, offerCategory string, fit float64) (exchange.CategoryRelation, error)
	DeleteCategoryRelation(ctx context.Context, p exchange.Principal, needCategory, offerCategory string) error
	OrgMatching(ctx context.Context, p exchange.Principal, orgID uuid.UUID) (exchange.OrgMatching, error)
	SetOrgMatching(ctx context.Context, p exchange.Principal, orgID uuid.UUID, maxKm float64, timeZone string) (exchange.OrgMatching, error)
}

func (a *api) registerSearchRoutes(rt *router) {
	rt.read(http.MethodGet, "/v1/category-relations", a.listCategoryRelations)
	rt.put("/v1/category-relations/{need}/{offer}", a.setCategoryRelation)
	rt.remove("/v1/category-relations/{need}/{offer}", a.deleteCategoryRelation)
	rt.read(http.MethodGet, "/v1/orgs/{id}/matching", a.getOrgMatching)
	rt.put("/v1/orgs/{id}/matching", a.setOrgMatching)
}

// The days of the week as the API names them, Sunday first as time.Weekday
// counts them.
var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// weeklyJSON is a stretch of a weekday when an offer is given, in the
// listing's time zone: "09:00" to "12:00"; "24:00" ends at midnight.
type weeklyJSON struct {
	Day   string `json:"day"`
	Start string `json:"start"`
	End   string `json:"end"`
}

// reachJSON is what a listing says about distance and time, beside its
// window: max_km is null on offers (and on needs posted before needs said).
type reachJSON struct {
	MaxKm    *float64     `json:"max_km"`
	Remote   bool         `json:"remote"`
	Flexible bool         `json:"flexible"`
	Weekly   []weeklyJSON `json:"weekly"`
	TimeZone string       `json:"time_zone"`
}

func clock(minutes int) string { return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60) }

func toReachJSON(l exchange.Listing) reachJSON {
	j := reachJSON{Remote: l.Remote, Flexible: l.Flexible, Weekly: []weeklyJSON{}, TimeZone: l.TimeZone}
	if l.MaxKm > 0 {
		km := l.MaxKm
		j.MaxKm = &km
	}
	for _, s := range l.Weekly {
		j.Weekly = append(j.Weekly, weeklyJSON{Day: weekdays[s.Day], Start: clock(s.Start), End: clock(s.End)})
	}
	return j
}

// weeklyRequest is one stretch of an offer's weekly hours.
type weeklyRequest struct {
	Day   string `json:"day" validate:"required,oneof=sunday monday tuesday wednesday thursday friday saturday"`
	Start string `json:"start" validate:"required,line,hhmm"`
	End   string `json:"end" validate:"required,line,hhmm"`
}

// reachRequest is what a new listing may say about distance and time. The
// exchange checks what the tags cannot (which kind may say what, start
// before end, the zone exists).
type reachRequest struct {
	MaxKm    *float64        `json:"max_km" validate:"omitempty,gt=0,lte=1000"`
	Remote   bool            `json:"remote"`
	Flexible bool            `json:"flexible"`
	Weekly   []weeklyRequest `json:"weekly" validate:"max=28,dive"`
	TimeZone string          `json:"time_zone" validate:"max=64,line"`
}

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)

// minutes reads a validated "HH:MM".
func minutes(s string) int {
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	return h*60 + m
}

func (r reachRequest) into(in *exchange.NewListing) {
	if r.MaxKm != nil {
		in.MaxKm = *r.MaxKm
	}
	in.Remote, in.Flexible, in.TimeZone = r.Remote, r.Flexible, r.TimeZone
	for _, w := range r.Weekly {
		in.Weekly = append(in.Weekly, exchange.WeeklySlot{
			Day: time.Weekday(slices.Index(weekdays, w.Day)), Start: minutes(w.Start), End: minutes(w.End)})
	}
}

// foundJSON is a listing a search found: relevance is 0 without words,
// distance_km null without a point.
type foundJSON struct {
	listingJSON
	Relevance  int64    `json:"relevance"`
	DistanceKm *float64 `json:"distance_km"`
}

// parseSearchCursor reads the position of a search's cursor: a listing id
// (the first pages of the id order), or "relevance,km,id".
func parseSearchCursor(pos string) (*exchange.SearchCursor, error) {
	if pos == "" {
		return nil, nil
	}
	bad := malformed("after", "after is not a cursor of this list; pass the next value of the previous page")
	parts := strings.Split(pos, ",")
	var c exchange.SearchCursor
	var err error
	switch len(parts) {
	case 1:
	case 3:
		if c.Relevance, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
			return nil, bad
		}
		if c.Km, err = strconv.ParseFloat(parts[1], 64); err != nil {
			return nil, bad
		}
	default:
		return nil, bad
	}
	if c.ID, err = uuid.Parse(parts[len(parts)-1]); err != nil {
		return nil, bad
	}
	return &c, nil
}

// searchCursor is the cursor of the page after next, "" when there is none.
// The km are written with the fewest digits that read back as the same
// float64, so the next page starts exactly after this one.
func searchCursor(next *exchange.SearchCursor) string {
	if next == nil {
		return ""
	}
	return cursor("listings", strconv.FormatInt(next.Relevance, 10)+","+
		strconv.FormatFloat(next.Km, 'g', -1, 64)+","+next.ID.String())
}

// reasonJSON is one reason of a match, for the pages to put into words:
// a code (see matching.Reason) and the figures it speaks of; the figures
// a code does not use are left out.
type reasonJSON struct {
	Code          string   `json:"code"`
	Km            *float64 `json:"km,omitempty"`
	ReachKm       *float64 `json:"reach_km,omitempty"`
	Fraction      *float64 `json:"fraction,omitempty"`
	Category      string   `json:"category,omitempty"`
	Fit           *float64 `json:"fit,omitempty"`
	Level         int      `json:"level,omitempty"`
	ReceivedHours string   `json:"received_hours,omitempty"`
	AskedHours    string   `json:"asked_hours,omitempty"`
}

func toReasonsJSON(rs []matching.Reason) []reasonJSON {
	out := make([]reasonJSON, len(rs))
	for i, r := range rs {
		j := reasonJSON{Code: r.Code, Category: r.Category, Level: r.Level}
		f := func(x float64) *float64 { return &x }
		hundredths := func(x int64) string { return strconv.FormatFloat(float64(x)/100, 'f', 2, 64) }
		switch r.Code {
		case matching.ReasonDistance:
			j.Km, j.ReachKm = f(r.Km), f(r.ReachKm)
		case matching.ReasonRemote:
			j.Km = f(r.Km)
		case matching.ReasonTimeOverlap:
			j.Fraction = f(r.Fraction)
		case matching.ReasonCategoryRelated:
			j.Fit = f(r.Fit)
		case matching.ReasonFairnessRecent:
			j.ReceivedHours, j.AskedHours = hundredths(r.ReceivedHundredths), hundredths(r.AskedHundredths)
		}
		out[i] = j
	}
	return out
}

// categoryRelationJSON is one relation of the taxonomy.
type categoryRelationJSON struct {
	NeedCategory  string    `json:"need_category"`
	OfferCategory string    `json:"offer_category"`
	Fit           float64   `json:"fit"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toCategoryRelationJSON(c exchange.CategoryRelation) categoryRelationJSON {
	return categoryRelationJSON{NeedCategory: c.NeedCategory, OfferCategory: c.OfferCategory, Fit: c.Fit, UpdatedAt: c.UpdatedAt.UTC()}
}

// listCategoryRelations lists how categories relate, for any member, in
// one page (tens of rows).
func (a *api) listCategoryRelations(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.search.CategoryRelations(r.Context(), principal(r))
	if err != nil {
		return err
	}
	items := make([]categoryRelationJSON, len(rs))
	for i, c := range rs {
		items[i] = toCategoryRelationJSON(c)
	}
	return writeJSON(w, http.StatusOK, newList(items, ""))
}

type categoryRelationRequest struct {
	Fit *float64 `json:"fit" validate:"required,gt=0,lt=1"`
}

// setCategoryRelation relates offers of {offer} to needs of {need} at a
// fit, or changes it: the network admin only.
func (a *api) setCategoryRelation(w http.ResponseWriter, r *http.Request) error {
	var req categoryRelationRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	rel, err := a.search.SetCategoryRelation(r.Context(), principal(r), r.PathValue("need"), r.PathValue("offer"), *req.Fit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toCategoryRelationJSON(rel))
}

// deleteCategoryRelation removes a relation: the network admin only.
func (a *api) deleteCategoryRelation(w http.ResponseWriter, r *http.Request) error {
	if err := a.search.DeleteCategoryRelation(r.Context(), principal(r), r.PathValue("need"), r.PathValue("offer")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// orgMatchingJSON is an organization's matching defaults; from is the
// organization they are set in (itself or an ancestor), null for the
// program's defaults.
type orgMatchingJSON struct {
	OrgID     uuid.UUID  `json:"org_id"`
	MaxKm     float64    `json:"max_km"`
	TimeZone  string     `json:"time_zone"`
	From      *uuid.UUID `json:"from"`
	UpdatedAt *time.Time `json:"updated_at"`
}

func toOrgMatchingJSON(m exchange.OrgMatching) orgMatchingJSON {
	j := orgMatchingJSON{OrgID: m.OrgID, MaxKm: m.MaxKm, TimeZone: m.TimeZone, UpdatedAt: m.UpdatedAt}
	if m.From != uuid.Nil {
		from := m.From
		j.From = &from
	}
	return j
}

// getOrgMatching shows an organization's matching defaults to any member.
func (a *api) getOrgMatching(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	m, err := a.search.OrgMatching(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toOrgMatchingJSON(m))
}

type orgMatchingRequest struct {
	MaxKm    *float64 `json:"max_km" validate:"required,gt=0,lte=1000"`
	TimeZone string   `json:"time_zone" validate:"required,max=64,line"`
}

// setOrgMatching sets an organization's own matching defaults, for whoever
// acts for it.
func (a *api) setOrgMatching(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req orgMatchingRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	m, err := a.search.SetOrgMatching(r.Context(), principal(r), id, *req.MaxKm, req.TimeZone)
	if err != nil {
		return renameField(err, "org_id", "")
	}
	return writeJSON(w, http.StatusOK, toOrgMatchingJSON(m))
}
