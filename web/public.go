package web

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// The public pages, for anyone, signed in or not: the network's
// directory, each fund's report, and an organization's board of public
// offers and needs to print. What is public is the exchange's to say
// (Directory, FundReport, and listings whose owners made them public);
// these pages only lay it out.

// publicService is what the public pages read.
type publicService interface {
	// Directory lists the network's organizations, for anyone.
	Directory(ctx context.Context, p exchange.Page) ([]exchange.Org, uuid.UUID, error)
	// PublicOrg returns an organization, for anyone.
	PublicOrg(ctx context.Context, id uuid.UUID) (exchange.Org, error)
	// Funds lists the funds (they are public).
	Funds(ctx context.Context, pr exchange.Principal, p exchange.Page) ([]exchange.Fund, uuid.UUID, error)
	// FundReport returns a fund's public report.
	FundReport(ctx context.Context, p exchange.Principal, q exchange.ReportQuery) (exchange.FundReport, error)
	// SearchListings returns the listings a viewer may see; the zero
	// Viewer sees public ones only.
	SearchListings(ctx context.Context, pr exchange.Principal, q exchange.ListingQuery, p exchange.Page) ([]exchange.Listing, uuid.UUID, error)
	// PublicUnit returns a unit (its scale writes the fund's amounts).
	PublicUnit(ctx context.Context, code string) (ledger.Unit, error)
	// Categories lists the listing categories.
	Categories(ctx context.Context, p exchange.Principal) ([]exchange.Category, error)
}

func (s *Server) registerPublicPages() {
	s.public("GET /network", s.directory)
	s.public("GET /funds/{id}", s.fundReport)
	s.public("GET /orgs/{id}/board", s.board)
}

// directoryPage bounds the organizations one directory page shows; a
// larger network pages through them.
const directoryPage = 200

// dirOrg is an organization as the directory shows it.
type dirOrg struct {
	exchange.Org
	// Parent is the name of the organization it belongs to, "" when that
	// is the network itself or not on this page.
	Parent string
}

// dirCity is one city's organizations; City is "" for those without one.
type dirCity struct {
	City string
	Orgs []dirOrg
}

// dirFund is a fund with the name of the organization that holds it.
type dirFund struct {
	exchange.Fund
	Owner string
}

type directoryData struct {
	// Funds are every fund of the network, whose reports are public.
	Funds  []dirFund
	Cities []dirCity
	Count  int
	// Next is the link to the following page, "" on the last.
	Next string
}

// directory lists the organizations by city, each with what it does,
// whether it is a member or a partner of the network, its board and its
// funds' reports. How to join is said once for all: by an invitation
// from a coordinator, which the exchange offers no public way to ask for
// (coordinators' addresses are not public), so the page tells the
// visitor to ask one where the organization meets, and where to use the
// invitation once they have it.
func (s *Server) directory(w http.ResponseWriter, r *Request) error {
	var after uuid.UUID
	if a := r.URL.Query().Get("after"); a != "" {
		id, err := uuid.Parse(a)
		if err != nil {
			return errNotFound
		}
		after = id
	}
	orgs, next, err := s.ex.Directory(r.Context(), exchange.Page{Limit: directoryPage, After: after})
	if err != nil {
		return err
	}
	funds, err := s.allFunds(r.Context())
	if err != nil {
		return err
	}
	names := map[uuid.UUID]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	var d directoryData
	for _, f := range funds {
		owner, ok := names[f.OrgID]
		if !ok {
			o, err := s.ex.PublicOrg(r.Context(), f.OrgID)
			if err != nil {
				return err
			}
			owner = o.Name
		}
		d.Funds = append(d.Funds, dirFund{Fund: f, Owner: owner})
	}
	byCity := map[string]*dirCity{}
	for _, o := range orgs {
		do := dirOrg{Org: o}
		if o.ParentID != nil {
			do.Parent = names[*o.ParentID]
		}
		c := byCity[o.City]
		if c == nil {
			c = &dirCity{City: o.City}
			byCity[o.City] = c
		}
		c.Orgs = append(c.Orgs, do)
		d.Count++
	}
	for _, c := range byCity {
		slices.SortFunc(c.Orgs, func(a, b dirOrg) int { return cmp.Compare(a.Name, b.Name) })
		d.Cities = append(d.Cities, *c)
	}
	// Cities in alphabetical order, the organizations without one last.
	slices.SortFunc(d.Cities, func(a, b dirCity) int {
		if (a.City == "") != (b.City == "") {
			if a.City == "" {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.City, b.City)
	})
	if next != uuid.Nil {
		d.Next = "/network?after=" + next.String()
	}
	return s.render(w, r, http.StatusOK, "network", "public.network_title", nil, d)
}

// allFunds reads every fund (funds are few: one per organization that
// pools money at most), a page at a time.
func (s *Server) allFunds(ctx context.Context) ([]exchange.Fund, error) {
	var out []exchange.Fund
	after := uuid.Nil
	for {
		fs, next, err := s.ex.Funds(ctx, exchange.Principal{}, exchange.Page{Limit: exchange.MaxLimit, After: after})
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
		if next == uuid.Nil {
			return out, nil
		}
		after = next
	}
}

// reportMonths is how many months the fund report's default view shows.
const reportMonths = 12

// fundMonth is one month of a fund's report: its totals, who brought the
// money in, and the grants it paid.
type fundMonth struct {
	Start time.Time
	// Label names the month ("March 2026").
	Label    string
	In, Out  decimal.Decimal
	Inflows  []exchange.FundAttribution
	Outflows []exchange.FundAttribution
}

// fundGrant is a paid grant with the organization that received it.
type fundGrant struct {
	exchange.PaidGrant
	Org string
}

// fundSource is the money one organization or outside source brought in
// over the whole report.
type fundSource struct {
	Name   string
	Amount decimal.Decimal
	Count  int64
}

type fundData struct {
	Report exchange.FundReport
	Owner  string
	// Scale is the places of the fund's unit, which every amount is
	// written with.
	Scale int32
	// Year is the calendar year shown, 0 for the last twelve months.
	Year   int
	Months []fundMonth
	Chart  chart
	Grants []fundGrant
	// Sources are the inflows over the report, largest first.
	Sources []fundSource
	// Years are the calendar years a visitor may choose, newest first.
	Years []int
}

// fundReport shows a fund's public report: the last twelve months, or a
// calendar year (?year=2026), month by month, as a bar chart drawn here
// (SVG, no script) and the same figures in a table; where the money came
// from; and each grant paid, with its purpose and the decision recorded
// on it (the vote's tally, who decided, the note).
func (s *Server) fundReport(w http.ResponseWriter, r *Request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	now := s.now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := thisMonth.AddDate(0, -(reportMonths - 1), 0)
	var to *time.Time
	year := 0
	if y := r.URL.Query().Get("year"); y != "" {
		year, err = strconv.Atoi(y)
		if err != nil || year < 1970 || year > now.Year() {
			return errNotFound
		}
		from = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		end := from.AddDate(1, 0, 0)
		to = &end
	}
	// The report's months are UTC months, so its days are UTC's too, for
	// every reader: a grant is dated on a day of the month it is counted
	// in.
	r.Lang = r.Lang.InZone(nil)
	rep, err := s.ex.FundReport(r.Context(), exchange.Principal{}, exchange.ReportQuery{FundID: id, From: &from, To: to, Period: exchange.PeriodMonth})
	if err != nil {
		return err
	}
	owner, err := s.ex.PublicOrg(r.Context(), rep.Fund.OrgID)
	if err != nil {
		return err
	}
	unit, err := s.ex.PublicUnit(r.Context(), rep.Fund.Unit)
	if err != nil {
		return err
	}
	d := fundData{Report: rep, Owner: owner.Name, Year: year, Scale: unit.Scale}
	for y := now.Year(); y >= rep.Fund.CreatedAt.UTC().Year() && y > now.Year()-50; y-- {
		d.Years = append(d.Years, y)
	}
	// Every month of the range, those without a movement too (the
	// report lists only months that had some).
	byStart := map[time.Time]exchange.FundPeriod{}
	for _, p := range rep.Periods {
		byStart[p.Start] = p
	}
	sources := map[string]*fundSource{}
	for m := from; m.Before(thisMonth.AddDate(0, 1, 0)) && (to == nil || m.Before(*to)); m = m.AddDate(0, 1, 0) {
		p, ok := byStart[m]
		fm := fundMonth{Start: m, In: decimal.Zero, Out: decimal.Zero,
			Label: r.Lang.T("public.period", "Month", r.Lang.T(fmt.Sprintf("month.%d", int(m.Month()))), "Year", m.Year())}
		if ok {
			fm.In, fm.Out, fm.Inflows, fm.Outflows = p.In, p.Out, p.Inflows, p.Outflows
		}
		for _, a := range fm.Inflows {
			src := sources[a.Name]
			if src == nil {
				src = &fundSource{Name: a.Name, Amount: decimal.Zero}
				sources[a.Name] = src
			}
			src.Amount, src.Count = src.Amount.Add(a.Amount), src.Count+int64(a.Count)
		}
		for _, a := range fm.Outflows {
			for _, g := range a.Grants {
				d.Grants = append(d.Grants, fundGrant{PaidGrant: g, Org: a.Name})
			}
		}
		d.Months = append(d.Months, fm)
	}
	for _, src := range sources {
		d.Sources = append(d.Sources, *src)
	}
	slices.SortFunc(d.Sources, func(a, b fundSource) int {
		if c := b.Amount.Cmp(a.Amount); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	slices.SortFunc(d.Grants, func(a, b fundGrant) int { return a.PaidAt.Compare(b.PaidAt) })
	d.Chart = monthChart(r.Lang, d.Months, unit.Scale)
	return s.render(w, r, http.StatusOK, "fund", "public.fund_title", nil, d)
}

// chart is a bar chart of a fund's months, laid out here so that the
// browser draws plain SVG: no script, nothing to load.
type chart struct {
	Width, Height int
	// Top and Bottom are the y of the plot's top (the scale's maximum) and
	// of its baseline (zero).
	Top, Bottom, Left, Right float64
	Ticks                    []chartTick
	Months                   []chartMonth
}

// chartTick is a line of the scale with its label.
type chartTick struct {
	Y, LabelX, LabelY float64
	Label             string
}

// chartMonth is one month's pair of bars (inflow, outflow) and its label.
type chartMonth struct {
	Label           string
	LabelX, LabelY  float64
	In, Out         chartBar
	InText, OutText string
}

// chartBar is one bar's rectangle.
type chartBar struct{ X, Y, W, H float64 }

// monthChart lays out the months' inflows and outflows side by side, on a
// scale from zero to a round number above the largest. The amounts are
// exact in the table beside it; the bars only need to be drawn to scale,
// so floats are fine here.
func monthChart(l *Lang, months []fundMonth, places int32) chart {
	// Narrow, so that its text stays legible once shrunk to a phone's
	// width (the stylesheet caps how wide it grows on a large screen).
	c := chart{Width: 480, Height: 250, Top: 14, Bottom: 216, Left: 54, Right: 474}
	largest := decimal.Zero
	for _, m := range months {
		largest = decimal.Max(largest, m.In, m.Out)
	}
	top := niceCeiling(largest)
	for i := 0; i <= 4; i++ {
		// A quarter of a round number has at most two places; String
		// drops the zeros the division leaves.
		v := decimal.RequireFromString(top.Mul(decimal.NewFromInt(int64(i))).Div(decimal.NewFromInt(4)).Round(2).String())
		y := c.Bottom - (c.Bottom-c.Top)*float64(i)/4
		c.Ticks = append(c.Ticks, chartTick{Y: y, LabelX: c.Left - 6, LabelY: y + 5, Label: l.Decimal(v)})
	}
	if len(months) == 0 {
		return c
	}
	slot := (c.Right - c.Left) / float64(len(months))
	bar := slot * 0.36
	scale := func(v decimal.Decimal) float64 {
		f, _ := v.Div(top).Float64()
		return (c.Bottom - c.Top) * f
	}
	for i, m := range months {
		x := c.Left + slot*float64(i)
		hi, ho := scale(m.In), scale(m.Out)
		c.Months = append(c.Months, chartMonth{
			Label:  l.T(fmt.Sprintf("public.month_short.%d", int(m.Start.Month()))),
			LabelX: x + slot/2, LabelY: c.Bottom + 20,
			In:     chartBar{X: x + slot*0.12, Y: c.Bottom - hi, W: bar, H: hi},
			Out:    chartBar{X: x + slot*0.52, Y: c.Bottom - ho, W: bar, H: ho},
			InText: l.Fixed(m.In, places), OutText: l.Fixed(m.Out, places),
		})
	}
	return c
}

// niceCeiling returns the smallest of 1, 2, 2.5 or 5 times a power of ten
// that is at least v (and 1 for zero), so the scale's ticks are round.
func niceCeiling(v decimal.Decimal) decimal.Decimal {
	if !v.IsPositive() {
		return decimal.NewFromInt(1)
	}
	p := decimal.New(1, int32(len(v.Truncate(0).String())-1))
	if v.LessThan(decimal.NewFromInt(1)) {
		p = decimal.New(1, -2)
	}
	for {
		for _, m := range []string{"1", "2", "2.5", "5"} {
			c := p.Mul(decimal.RequireFromString(m))
			if c.GreaterThanOrEqual(v) {
				return c
			}
		}
		p = p.Mul(decimal.NewFromInt(10))
	}
}

// boardLimit bounds the offers and the needs a board shows: a sheet of
// paper holds no more.
const boardLimit = 40

type boardData struct {
	Org exchange.Org
	// Sections are the offers, then the needs.
	Sections []boardSection
	// Site is the site's address, for readers of the printed sheet.
	Site string
}

// boardSection is the offers or the needs, with the messages that head
// them (a plural, by their number) and that say there are none.
type boardSection struct {
	Kind           exchange.ListingKind
	Heading, Empty string
	Items          []boardListing
}

// boardListing is a listing as the board shows it.
type boardListing struct {
	exchange.Listing
	CategoryName string
	// Hours says the quantity is in hours (the time bank's unit), written
	// "2.5 h" rather than with the unit's code.
	Hours bool
	// Short is the description cut to what fits on a card.
	Short string
}

// boardDescription bounds the characters of a description a card shows.
const boardDescription = 280

// board is an organization's public offers and needs, open now, laid out
// to be printed and pinned up where its neighbors meet (the stylesheet
// prints it on A4 in large type, without the site's navigation). Only the
// listings their owners made public are on it, for anyone, signed in or
// not: the anonymous viewer's search.
func (s *Server) board(w http.ResponseWriter, r *Request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	org, err := s.ex.PublicOrg(r.Context(), id)
	if err != nil {
		return err
	}
	s.inOrgZone(r, org.ID)
	cats, err := s.ex.Categories(r.Context(), exchange.Principal{})
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, c := range cats {
		names[c.Code] = c.Name
	}
	d := boardData{Org: org, Site: s.siteURL(r)}
	for _, sec := range []boardSection{
		{Kind: exchange.Offer, Heading: "public.board_offers", Empty: "public.board_no_offers"},
		{Kind: exchange.Need, Heading: "public.board_needs", Empty: "public.board_no_needs"},
	} {
		ls, _, err := s.ex.SearchListings(r.Context(), exchange.Principal{}, exchange.ListingQuery{OrgID: org.ID, Kind: sec.Kind}, exchange.Page{Limit: boardLimit})
		if err != nil {
			return err
		}
		for _, l := range ls {
			sec.Items = append(sec.Items, boardListing{Listing: l, CategoryName: cmp.Or(names[l.Category], l.Category),
				Hours: l.Unit == "HOUR", Short: shorten(l.Description, boardDescription)})
		}
		d.Sections = append(d.Sections, sec)
	}
	return s.render(w, r, http.StatusOK, "board", "public.board_title", nil, d)
}

// siteURL is the address of the site as the request reached it, printed
// on the board so that a reader knows where to go.
func (s *Server) siteURL(r *Request) string {
	scheme := "http"
	if s.jar.Secure(r.Request) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// shorten cuts s to at most n characters, at a space when one is near,
// with an ellipsis when it cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := n - 1
	for i := cut; i > n*3/4; i-- {
		if r[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(r[:cut]), " ,.;:") + "…"
}
