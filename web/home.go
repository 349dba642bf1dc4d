package web

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// homeService is what the home page reads.
type homeService interface {
	// Org returns an organization p may see.
	Org(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Org, error)
	// OrgsByID returns the organizations among ids, by id.
	OrgsByID(ctx context.Context, p exchange.Principal, ids []uuid.UUID) (map[uuid.UUID]exchange.Org, error)
	// MemberAccounts returns a member's accounts with their balances.
	MemberAccounts(ctx context.Context, p exchange.Principal, memberID uuid.UUID) ([]ledger.Account, error)
	Notifications(ctx context.Context, p exchange.Principal, unread bool, pg exchange.Page) ([]exchange.Notification, uuid.UUID, error)
	MarkNotificationsRead(ctx context.Context, p exchange.Principal, upTo uuid.UUID) (int, error)
	// Unit returns a unit, whose scale says how many decimals an amount
	// is written with (from the ledger's cache: no round trip after the
	// first time).
	Unit(ctx context.Context, p exchange.Principal, code string) (ledger.Unit, error)
}

func (s *Server) registerHomePages() {
	s.member("GET /home", s.home)
	s.member("POST /notifications/read", s.markRead)
}

// homeOrg is one of my organizations, with my role in it.
type homeOrg struct {
	Name, Role string
}

// balanceView is one of my accounts: where, in what, and its balances
// written for a person.
type balanceView struct {
	ID                              uuid.UUID
	Name, Unit                      string
	Posted, Held, Available, Credit string
}

// noticeView is an unread notification, in the person's language when
// the catalogue knows its kind.
type noticeView struct {
	Text, When, Link string
}

type homeData struct {
	Orgs     []homeOrg
	Balances []balanceView
	// Waiting are the agreements whose next step is mine.
	Waiting []agreementView
	Notices []noticeView
	// LastNotice is the id of the newest notification shown, which
	// "mark as read" marks up to.
	LastNotice  uuid.UUID
	MoreNotices bool
}

// noticesShown is how many unread notifications home shows.
const noticesShown = 20

// home is a signed-in member's page: my balances per unit (posted, held
// until agreements are confirmed, available), what waits for me (proposals
// to answer, hours to confirm, disputes), my unread notifications and my
// organizations.
func (s *Server) home(w http.ResponseWriter, r *Request) error {
	ctx := r.Context()
	p := *r.Principal
	var d homeData
	// My memberships are the principal's roles, read with the session.
	ids := sortedOrgs(p)
	orgs, err := s.ex.OrgsByID(ctx, p, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if o, ok := orgs[id]; ok {
			d.Orgs = append(d.Orgs, homeOrg{Name: o.Name, Role: r.Lang.T("role." + string(p.Roles[id]))})
		}
	}
	slices.SortStableFunc(d.Orgs, func(a, b homeOrg) int { return strings.Compare(a.Name, b.Name) })
	accs, err := s.ex.MemberAccounts(ctx, p, p.MemberID)
	if err != nil {
		return err
	}
	units := make([]string, len(accs))
	for i, a := range accs {
		units[i] = a.Unit
	}
	scales, err := s.scales(r, units...)
	if err != nil {
		return err
	}
	for _, a := range accs {
		b := s.viewBalance(r, a, scales)
		if a.LowerBound != nil && a.LowerBound.Sign() < 0 {
			b.Credit = r.Lang.T("home.credit", "Amount", amount(r.Lang, a.LowerBound.Neg(), a.Unit))
		}
		d.Balances = append(d.Balances, b)
	}
	as, err := s.myAgreements(ctx, p)
	if err != nil {
		return err
	}
	vs, err := s.agreementViews(r, as)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.Waiting {
			d.Waiting = append(d.Waiting, v)
		}
	}
	ns, next, err := s.ex.Notifications(ctx, p, true, exchange.Page{Limit: noticesShown})
	if err != nil {
		return err
	}
	d.MoreNotices = next != uuid.Nil
	// A notice may name a unit the member holds no account in (a grant in
	// the fund's currency): its amounts are written with its places too.
	var noticeUnits []string
	for _, n := range ns {
		if u := n.Params["Unit"]; u != "" {
			if _, ok := scales[u]; !ok {
				noticeUnits = append(noticeUnits, u)
			}
		}
	}
	more, err := s.scales(r, noticeUnits...)
	if err != nil {
		return err
	}
	maps.Copy(scales, more)
	for i := len(ns) - 1; i >= 0; i-- { // newest first
		n := ns[i]
		v := noticeView{Text: noticeText(r.Lang, n, scales), When: r.Lang.DateTime(n.CreatedAt)}
		if n.Agreement != nil {
			v.Link = "/agreements/" + n.Agreement.String()
		}
		d.Notices = append(d.Notices, v)
	}
	if len(ns) > 0 {
		d.LastNotice = ns[len(ns)-1].ID
	}
	return s.render(w, r, http.StatusOK, "home", "home.title", nil, d)
}

// scales returns the decimal places of the units named, by code.
func (s *Server) scales(r *Request, codes ...string) (map[string]int32, error) {
	out := make(map[string]int32, len(codes))
	for _, c := range codes {
		if _, ok := out[c]; ok {
			continue
		}
		u, err := s.ex.Unit(r.Context(), *r.Principal, c)
		if err != nil {
			return nil, err
		}
		out[c] = u.Scale
	}
	return out, nil
}

// viewBalance writes an account's balances with its unit's decimals.
func (s *Server) viewBalance(r *Request, a ledger.Account, scales map[string]int32) balanceView {
	sc := scales[a.Unit]
	return balanceView{ID: a.ID, Name: a.Name, Unit: unitName(r.Lang, a.Unit),
		Posted: r.Lang.Fixed(a.Posted, sc), Held: r.Lang.Fixed(a.PendingDebits, sc), Available: r.Lang.Fixed(a.Available, sc)}
}

// unitName names a unit for a person: hours in their language, others by
// their code.
func unitName(l *Lang, unit string) string {
	if unit == "HOUR" {
		return l.T("home.unit_hours")
	}
	return unit
}

// markRead marks my notifications read, up to the newest one home showed
// (a notification that came after stays unread).
func (s *Server) markRead(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	upTo, err := uuid.Parse(f.Get("up_to"))
	if err != nil {
		return s.redirect(w, r, "/home", "")
	}
	if _, err := s.ex.MarkNotificationsRead(r.Context(), *r.Principal, upTo); err != nil {
		return err
	}
	return s.redirect(w, r, "/home", "flash.notifications_read")
}
