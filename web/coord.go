package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// Coordinators' pages: the members of an organization (invitations,
// sign-in codes, credit limits, acting for a member), its time bank and
// community pool, its disputes, its statement and its audit log. Every
// decision is the exchange's: a page lists what the exchange shows the
// coordinator and posts what they ask, and a refusal comes back as the
// page's error.

// coordService is what the coordinators' pages ask of the exchange.
type coordService interface {
	Subtree(ctx context.Context, p exchange.Principal, orgID uuid.UUID) ([]uuid.UUID, error)
	OrgMembers(ctx context.Context, p exchange.Principal, orgID uuid.UUID, pg exchange.Page) ([]exchange.OrgMember, uuid.UUID, error)
	Invite(ctx context.Context, p exchange.Principal, in exchange.NewInvitation) (exchange.Invitation, string, string, error)
	IssueSigninCode(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (exchange.SigninCode, string, error)
	SetCreditLimit(ctx context.Context, p exchange.Principal, orgID, memberID uuid.UUID, limit decimal.Decimal) (ledger.Account, error)
	TimebankRules(ctx context.Context, p exchange.Principal, orgID uuid.UUID) (exchange.TimebankRules, error)
	SetTimebankRules(ctx context.Context, p exchange.Principal, orgID uuid.UUID, in exchange.TimebankSettings) (exchange.TimebankRules, bool, error)
	GrantHours(ctx context.Context, p exchange.Principal, m exchange.TimebankMove) (ledger.Transfer, error)
	DonateHours(ctx context.Context, p exchange.Principal, m exchange.TimebankMove) (ledger.Transfer, error)
	Account(ctx context.Context, p exchange.Principal, id uuid.UUID) (ledger.Account, error)
	Agreements(ctx context.Context, p exchange.Principal, f exchange.AgreementFilter, pg exchange.Page) ([]exchange.Agreement, uuid.UUID, error)
	Agreement(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error)
	ResolveAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, quantity decimal.Decimal, note string) (exchange.Agreement, error)
	ActFor(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (exchange.Principal, error)
	Statement(ctx context.Context, p exchange.Principal, orgID uuid.UUID, from, to time.Time) (exchange.Statement, error)
	OrgAudit(ctx context.Context, p exchange.Principal, orgID uuid.UUID, f exchange.AuditFilter, pg exchange.Page) ([]exchange.AuditEvent, uuid.UUID, error)
}

func (s *Server) registerCoordPages() {
	s.member("GET /coord", s.coordIndex)
	s.member("GET /coord/{org}", s.coordMembers)
	s.member("POST /coord/{org}/invitations", s.coordInvite)
	s.member("GET /coord/{org}/members/{member}", s.coordMember)
	s.member("POST /coord/{org}/members/{member}/code", s.coordCode)
	s.member("POST /coord/{org}/members/{member}/limit", s.coordLimit)
	s.member("GET /coord/{org}/timebank", s.coordTimebank)
	s.member("POST /coord/{org}/timebank", s.coordSetRules)
	s.member("POST /coord/{org}/grants", s.coordGrant)
	s.member("GET /coord/{org}/disputes", s.coordDisputes)
	s.member("GET /coord/{org}/disputes/{id}", s.coordDispute)
	s.member("POST /coord/{org}/disputes/{id}", s.coordResolve)
	s.member("GET /coord/{org}/statement", s.coordStatement)
	s.member("GET /coord/{org}/audit", s.coordAudit)
	s.member("POST /coord/act", s.coordActFor)
	s.member("POST /coord/act/stop", s.coordActStop)
	s.member("GET /coord/acting", s.coordActing)
	s.member("POST /coord/acting/give", s.coordActingGive)
}

// orgRef is an organization named on a page.
type orgRef struct {
	ID   uuid.UUID
	Name string
}

// coordOrg reads the organization of the path; the exchange says whether
// the principal may see it.
func (s *Server) coordOrg(r *Request) (exchange.Org, error) {
	id, err := uuid.Parse(r.PathValue("org"))
	if err != nil {
		return exchange.Org{}, errNotFound
	}
	return s.ex.Org(r.Context(), *r.Principal, id)
}

// coordIndex lists the organizations the member acts for: those they
// coordinate and every one under them, as the exchange's Subtree answers.
func (s *Server) coordIndex(w http.ResponseWriter, r *Request) error {
	seen := map[uuid.UUID]bool{}
	var orgs []orgRef
	for id, role := range r.Principal.Roles {
		if role != exchange.RoleCoordinator && role != exchange.RoleAdmin {
			continue
		}
		ids, err := s.ex.Subtree(r.Context(), *r.Principal, id)
		if err != nil {
			if errors.Is(err, exchange.ErrForbidden) {
				continue
			}
			return err
		}
		for _, o := range ids {
			if seen[o] {
				continue
			}
			seen[o] = true
			org, err := s.ex.Org(r.Context(), *r.Principal, o)
			if err != nil {
				return err
			}
			orgs = append(orgs, orgRef{org.ID, org.Name})
		}
	}
	sort.Slice(orgs, func(i, j int) bool { return orgs[i].Name < orgs[j].Name })
	return s.render(w, r, http.StatusOK, "coord", "coord.title", nil, orgs)
}

// memberRow is a member of the members page.
type memberRow struct {
	ID         uuid.UUID
	Name, Role string
	JoinedAt   time.Time
}

type membersData struct {
	Org     orgRef
	Members []memberRow
	Next    string
}

// members reads one page of an organization's members.
func (s *Server) members(r *Request, org uuid.UUID, after string) ([]memberRow, string, error) {
	a, _ := uuid.Parse(after)
	ms, next, err := s.ex.OrgMembers(r.Context(), *r.Principal, org, exchange.Page{After: a, Limit: 100})
	if err != nil {
		return nil, "", err
	}
	out := make([]memberRow, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberRow{ID: m.MemberID, Name: m.Name, Role: r.Lang.T("role." + string(m.Role)), JoinedAt: m.JoinedAt})
	}
	n := ""
	if next != uuid.Nil {
		n = next.String()
	}
	return out, n, nil
}

// coordMembers lists an organization's members, with the invitation form.
func (s *Server) coordMembers(w http.ResponseWriter, r *Request) error {
	return s.membersPage(w, r, http.StatusOK, nil)
}

func (s *Server) membersPage(w http.ResponseWriter, r *Request, status int, f *Form) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	ms, next, err := s.members(r, org.ID, r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	return s.render(w, r, status, "coord_members", "coord.members_title", f, membersData{Org: orgRef{org.ID, org.Name}, Members: ms, Next: next})
}

// invitationData is a new invitation, shown once: its link, its code and
// the link as a QR code, on a page made to be printed.
type invitationData struct {
	Org        orgRef
	Name       string
	Link, Code string
	QR         template.HTML
	Expires    time.Time
}

// coordInvite invites a person; the answer shows the link and the code
// once (they are not kept readable), ready to print or read over the
// phone.
func (s *Server) coordInvite(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	in := exchange.NewInvitation{OrgID: org.ID, Role: exchange.RoleMember, Name: f.Get("name"), Phone: f.Get("phone")}
	inv, secret, code, err := s.ex.Invite(r.Context(), *r.Principal, in)
	if err != nil {
		if r.refuse(f, err) {
			return s.membersPage(w, r, http.StatusUnprocessableEntity, f)
		}
		return err
	}
	link := s.siteURL(r) + exchange.InvitationLinkPath + url.PathEscape(secret)
	qr, err := qrSVG(link, r.Lang.T("coord.qr_label"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusCreated, "coord_invitation", "coord.invitation_title", nil,
		invitationData{Org: orgRef{org.ID, org.Name}, Name: in.Name, Link: link, Code: code, QR: qr, Expires: inv.ExpiresAt})
}

// qrSVG draws text as a QR code in SVG (medium error correction), one
// path of dark modules, with a quiet zone of four modules; label names it
// for screen readers.
func qrSVG(text, label string) (template.HTML, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	q.DisableBorder = true
	bits := q.Bitmap()
	n := len(bits)
	var b strings.Builder
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+4, y+4)
			}
		}
	}
	size := n + 8
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		size, size, size*6, size*6, template.HTMLEscapeString(label), size, size, b.String())
	return template.HTML(svg), nil
}

type memberData struct {
	Org    orgRef
	Member memberRow
	Code   string
	Link   string
}

// coordMemberOf reads the member of the path as the coordinator sees them.
func (s *Server) coordMemberOf(r *Request) (exchange.Org, exchange.Member, error) {
	org, err := s.coordOrg(r)
	if err != nil {
		return exchange.Org{}, exchange.Member{}, err
	}
	id, err := uuid.Parse(r.PathValue("member"))
	if err != nil {
		return exchange.Org{}, exchange.Member{}, errNotFound
	}
	m, err := s.ex.Member(r.Context(), *r.Principal, id)
	return org, m, err
}

// coordMember is one member: their credit limit, a sign-in code, acting
// for them.
func (s *Server) coordMember(w http.ResponseWriter, r *Request) error {
	return s.memberPage(w, r, http.StatusOK, nil, "")
}

func (s *Server) memberPage(w http.ResponseWriter, r *Request, status int, f *Form, code string) error {
	org, m, err := s.coordMemberOf(r)
	if err != nil {
		return err
	}
	d := memberData{Org: orgRef{org.ID, org.Name}, Member: memberRow{ID: m.ID, Name: m.Name}, Code: code}
	if code != "" {
		d.Link = s.siteURL(r) + "/signin?member=" + m.ID.String()
	}
	return s.render(w, r, status, "coord_member", "coord.member_title", f, d)
}

// coordCode issues a one-time sign-in code for a member, shown once.
func (s *Server) coordCode(w http.ResponseWriter, r *Request) error {
	id, err := uuid.Parse(r.PathValue("member"))
	if err != nil {
		return errNotFound
	}
	_, code, err := s.ex.IssueSigninCode(r.Context(), *r.Principal, id)
	if err != nil {
		return err
	}
	return s.memberPage(w, r, http.StatusOK, nil, code)
}

// refuseMove shows a refusal of a move of hours: a reason the person can
// act on (not enough hours in the pool, a cap, a balance below the new
// limit, not a member) beside its field (field when the exchange names
// none), before the field's own "write a number" message; anything else
// as Request.refuse does.
func (r *Request) refuseMove(f *Form, err error, field string) bool {
	var le *ledger.Error
	if errors.As(err, &le) && isActionable(le.Reason) && r.Lang.Has("error.reason."+string(le.Reason)) {
		name := le.Field
		if name == "" {
			name = field
		}
		f.Refuse(name, r.Lang.T("error.reason."+string(le.Reason)))
		return true
	}
	return r.refuse(f, err)
}

// isActionable: refusals whose reason says more than the field's message.
func isActionable(reason ledger.Reason) bool {
	switch reason {
	case ledger.ReasonInsufficientFunds, ledger.ReasonLimitExceeded, ledger.ReasonBoundsViolated, exchange.ReasonNotAMember, exchange.ReasonNoAccount, exchange.ReasonAgreementState:
		return true
	}
	return false
}

// parseHours reads a number of hours typed in a field, refusing what is
// not a number beside it.
func parseHours(r *Request, f *Form, field string) decimal.Decimal {
	v := strings.ReplaceAll(f.Get(field), ",", ".")
	d, err := decimal.NewFromString(v)
	if v == "" || err != nil {
		f.Refuse(field, r.Lang.T("error.field."+field))
	}
	return d
}

// coordLimit sets a member's credit limit.
func (s *Server) coordLimit(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(r.PathValue("member"))
	if err != nil {
		return errNotFound
	}
	limit := parseHours(r, f, "credit_limit")
	if f.OK() {
		_, err := s.ex.SetCreditLimit(r.Context(), *r.Principal, org.ID, id, limit)
		if err == nil {
			return s.redirect(w, r, "/coord/"+org.ID.String()+"/members/"+id.String(), "flash.coord_limit_set")
		}
		if !r.refuseMove(f, err, "credit_limit") {
			return err
		}
	}
	return s.memberPage(w, r, http.StatusUnprocessableEntity, f, "")
}

type timebankData struct {
	Org     orgRef
	Rules   *exchange.TimebankRules
	Pool    *ledger.Account
	Members []memberRow
	Choices []Choice
}

// coordTimebank shows the rules and the pool, with their forms.
func (s *Server) coordTimebank(w http.ResponseWriter, r *Request) error {
	return s.timebankPage(w, r, http.StatusOK, nil)
}

func (s *Server) timebankPage(w http.ResponseWriter, r *Request, status int, f *Form) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	d := timebankData{Org: orgRef{org.ID, org.Name}}
	rules, err := s.ex.TimebankRules(r.Context(), *r.Principal, org.ID)
	switch {
	case err == nil:
		d.Rules = &rules
		pool, err := s.ex.Account(r.Context(), *r.Principal, rules.PoolAccount)
		if err != nil {
			return err
		}
		d.Pool = &pool
		if d.Members, _, err = s.members(r, org.ID, ""); err != nil {
			return err
		}
		d.Choices = []Choice{{"", r.Lang.T("coord.choose_member")}}
		for _, m := range d.Members {
			d.Choices = append(d.Choices, Choice{m.ID.String(), m.Name})
		}
	case errors.Is(err, exchange.ErrNoTimebank):
	default:
		return err
	}
	if f == nil {
		f = NewForm(nil)
		if d.Rules != nil {
			f.Values.Set("credit_limit", d.Rules.CreditLimit.String())
			if d.Rules.Cap != nil {
				f.Values.Set("cap", d.Rules.Cap.String())
			}
		}
	}
	return s.render(w, r, status, "coord_timebank", "coord.timebank_title", f, d)
}

// coordSetRules sets the time bank's credit limit and cap (opening the
// pool the first time).
func (s *Server) coordSetRules(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	in := exchange.TimebankSettings{CreditLimit: parseHours(r, f, "credit_limit")}
	if f.Get("cap") != "" {
		c := parseHours(r, f, "cap")
		in.Cap = &c
	}
	if f.OK() {
		_, _, err := s.ex.SetTimebankRules(r.Context(), *r.Principal, org.ID, in)
		if err == nil {
			return s.redirect(w, r, "/coord/"+org.ID.String()+"/timebank", "flash.coord_rules_set")
		}
		if !r.refuse(f, err) {
			return err
		}
	}
	return s.timebankPage(w, r, http.StatusUnprocessableEntity, f)
}

// coordGrant grants hours from the pool to a member.
func (s *Server) coordGrant(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	member, err := uuid.Parse(f.Get("member_id"))
	if err != nil {
		f.Refuse("member_id", r.Lang.T("error.field.member_id"))
	}
	amount := parseHours(r, f, "amount")
	if f.OK() {
		_, err := s.ex.GrantHours(r.Context(), *r.Principal, exchange.TimebankMove{OrgID: org.ID, MemberID: member, Amount: amount, Memo: f.Get("memo")})
		if err == nil {
			return s.redirect(w, r, "/coord/"+org.ID.String()+"/timebank", "flash.coord_granted")
		}
		if !r.refuseMove(f, err, "amount") {
			return err
		}
	}
	return s.timebankPage(w, r, http.StatusUnprocessableEntity, f)
}

// disputeRow is an agreement in dispute, with its parties' names.
type disputeRow struct {
	exchange.Agreement
	GiverName, ReceiverName, DisputedByName string
}

type disputesData struct {
	Org      orgRef
	Disputes []disputeRow
}

// names reads members' names as p may see them, once each.
type names struct {
	s     *Server
	r     *Request
	known map[uuid.UUID]string
}

func (n *names) of(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	if v, ok := n.known[id]; ok {
		return v
	}
	v := id.String()[:8]
	if m, err := n.s.ex.Member(n.r.Context(), *n.r.Principal, id); err == nil {
		v = m.Name
	}
	n.known[id] = v
	return v
}

func (s *Server) namer(r *Request) *names { return &names{s: s, r: r, known: map[uuid.UUID]string{}} }

func (s *Server) disputeRow(n *names, a exchange.Agreement) disputeRow {
	d := disputeRow{Agreement: a, GiverName: n.of(a.Giver), ReceiverName: n.of(a.Receiver)}
	if a.DisputedBy != nil {
		d.DisputedByName = n.of(*a.DisputedBy)
	}
	return d
}

// coordDisputes lists the organization's agreements in dispute.
func (s *Server) coordDisputes(w http.ResponseWriter, r *Request) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	as, _, err := s.ex.Agreements(r.Context(), *r.Principal, exchange.AgreementFilter{Org: org.ID, Status: exchange.AgreementDisputed}, exchange.Page{Limit: exchange.MaxLimit})
	if err != nil {
		return err
	}
	d := disputesData{Org: orgRef{org.ID, org.Name}}
	n := s.namer(r)
	for _, a := range as {
		d.Disputes = append(d.Disputes, s.disputeRow(n, a))
	}
	return s.render(w, r, http.StatusOK, "coord_disputes", "coord.disputes_title", nil, d)
}

type disputeData struct {
	Org     orgRef
	Dispute disputeRow
}

func (s *Server) coordDispute(w http.ResponseWriter, r *Request) error {
	return s.disputePage(w, r, http.StatusOK, nil)
}

func (s *Server) disputePage(w http.ResponseWriter, r *Request, status int, f *Form) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	a, err := s.ex.Agreement(r.Context(), *r.Principal, id)
	if err != nil {
		return err
	}
	return s.render(w, r, status, "coord_dispute", "coord.dispute_title", f, disputeData{Org: orgRef{org.ID, org.Name}, Dispute: s.disputeRow(s.namer(r), a)})
}

// coordResolve settles a dispute with the hours given (zero cancels it)
// and a note.
func (s *Server) coordResolve(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	q := parseHours(r, f, "quantity")
	if f.Get("note") == "" {
		f.Refuse("note", r.Lang.T("error.field.note"))
	}
	if f.OK() {
		_, err := s.ex.ResolveAgreement(r.Context(), *r.Principal, id, q, f.Get("note"))
		if err == nil {
			return s.redirect(w, r, "/coord/"+org.ID.String()+"/disputes", "flash.coord_resolved")
		}
		if !r.refuseMove(f, err, "quantity") {
			return err
		}
	}
	return s.disputePage(w, r, http.StatusUnprocessableEntity, f)
}

type statementData struct {
	Org       orgRef
	Statement *exchange.Statement
	Names     map[uuid.UUID]string
}

// parseDay reads a date typed as YYYY-MM-DD (what a date field sends) as
// the start of that day in the zone the page shows times in, refusing
// anything else beside its field; "" is the zero time.
func parseDay(r *Request, f *Form, field string) time.Time {
	v := f.Get(field)
	if v == "" {
		return time.Time{}
	}
	t, err := time.ParseInLocation(time.DateOnly, v, r.Lang.Location())
	if err != nil {
		f.Refuse(field, r.Lang.T("error.field.date"))
	}
	return t
}

// coordStatement shows the organization's statement for a period, from
// the beginning of the day "from" to the end of the day "to".
func (s *Server) coordStatement(w http.ResponseWriter, r *Request) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	f := &Form{Values: r.URL.Query(), Errors: map[string]string{}}
	from, to := parseDay(r, f, "from"), parseDay(r, f, "to")
	if !to.IsZero() {
		to = to.AddDate(0, 0, 1)
	}
	d := statementData{Org: orgRef{org.ID, org.Name}}
	if f.OK() {
		st, err := s.ex.Statement(r.Context(), *r.Principal, org.ID, from, to)
		switch {
		case err == nil:
			d.Statement = &st
		case !r.refuse(f, err):
			return err
		}
	}
	status := http.StatusOK
	if !f.OK() {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "coord_statement", "coord.statement_title", f, d)
}

// auditRow is one event of the audit log, with names.
type auditRow struct {
	exchange.AuditEvent
	ActorName, OnBehalfName, MemberName string
}

type auditData struct {
	Org     orgRef
	Members []memberRow
	Events  []auditRow
	Next    string
	Choices []Choice
}

// coordAudit lists the organization's audit log, oldest first, a page at a
// time, filtered by member and kind.
func (s *Server) coordAudit(w http.ResponseWriter, r *Request) error {
	org, err := s.coordOrg(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := &Form{Values: q, Errors: map[string]string{}}
	var filter exchange.AuditFilter
	if v := f.Get("member"); v != "" {
		if filter.Member, err = uuid.Parse(v); err != nil {
			f.Refuse("member", r.Lang.T("error.field.member_id"))
		}
	}
	filter.Kind = f.Get("kind")
	after, _ := uuid.Parse(q.Get("after"))
	d := auditData{Org: orgRef{org.ID, org.Name}}
	if d.Members, _, err = s.members(r, org.ID, ""); err != nil {
		return err
	}
	d.Choices = []Choice{{"", r.Lang.T("coord.audit_everyone")}}
	for _, m := range d.Members {
		d.Choices = append(d.Choices, Choice{m.ID.String(), m.Name})
	}
	if f.OK() {
		evs, next, err := s.ex.OrgAudit(r.Context(), *r.Principal, org.ID, filter, exchange.Page{After: after, Limit: 50})
		switch {
		case err == nil:
			n := s.namer(r)
			for _, e := range evs {
				d.Events = append(d.Events, auditRow{AuditEvent: e, ActorName: n.of(e.Actor), OnBehalfName: n.of(e.OnBehalfOf), MemberName: n.of(e.Member)})
			}
			if next != uuid.Nil {
				nq := url.Values{"member": {f.Get("member")}, "kind": {filter.Kind}, "after": {next.String()}}
				d.Next = "/coord/" + org.ID.String() + "/audit?" + nq.Encode()
			}
		case !r.refuse(f, err):
			return err
		}
	}
	status := http.StatusOK
	if !f.OK() {
		status = http.StatusUnprocessableEntity
	}
	return s.render(w, r, status, "coord_audit", "coord.audit_title", f, d)
}

// actCookie carries, for one session, the member its coordinator acts
// for: "<member id>.<session id>". It is read again on every request and
// the exchange decides each time (ActFor); a cookie left from another
// session names another session and is ignored.
const actCookie = "mutual_act_for"

func (s *Server) setActing(w http.ResponseWriter, r *Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: actCookie, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.jar.Secure(r.Request), SameSite: http.SameSiteLaxMode})
}

// acting turns the request's principal into the member its session acts
// for, when it does and the exchange allows it. Signing out and stopping
// are always the coordinator's own.
func (s *Server) acting(w http.ResponseWriter, r *Request) error {
	c, err := r.Cookie(actCookie)
	if err != nil || r.Principal == nil {
		return nil
	}
	if strings.HasPrefix(r.URL.Path, "/signout") || strings.HasPrefix(r.URL.Path, "/coord/act") && r.URL.Path != "/coord/acting" && r.URL.Path != "/coord/acting/give" {
		return nil
	}
	memberS, sess, _ := strings.Cut(c.Value, ".")
	member, err := uuid.Parse(memberS)
	if err != nil || sess != r.Principal.CredentialID.String() {
		s.setActing(w, r, "", -1)
		return nil
	}
	q, err := s.ex.ActFor(r.Context(), *r.Principal, member)
	if err != nil {
		// No longer allowed (a role changed, the member left): the
		// coordinator is themself again.
		s.setActing(w, r, "", -1)
		return nil
	}
	name, err := s.memberName(r.Context(), q, member)
	if err != nil {
		return err
	}
	r.Agent = r.Name
	r.Principal, r.Name, r.ActingFor = &q, name, name
	return nil
}

// coordActFor starts acting for a member: the exchange decides whether
// the coordinator may.
func (s *Server) coordActFor(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	member, err := uuid.Parse(f.Get("member"))
	if err != nil {
		return errNotFound
	}
	if _, err := s.ex.ActFor(r.Context(), *r.Principal, member); err != nil {
		return err
	}
	s.setActing(w, r, member.String()+"."+r.Principal.CredentialID.String(), 12*3600)
	return s.redirect(w, r, "/coord/acting", "flash.coord_acting")
}

// coordActStop ends acting for a member.
func (s *Server) coordActStop(w http.ResponseWriter, r *Request) error {
	s.setActing(w, r, "", -1)
	return s.redirect(w, r, "/coord", "flash.coord_acting_stopped")
}

type actingData struct {
	Choices []Choice
}

// coordActing is what a coordinator does for the member they act for:
// give hours to a time bank's pool (the member's other pages work as
// theirs too, the exchange deciding as for the member).
func (s *Server) coordActing(w http.ResponseWriter, r *Request) error {
	return s.actingPage(w, r, http.StatusOK, nil)
}

func (s *Server) actingPage(w http.ResponseWriter, r *Request, status int, f *Form) error {
	if r.ActingFor == "" {
		return s.redirect(w, r, "/coord", "")
	}
	var d actingData
	for id := range r.Principal.Roles {
		o, err := s.ex.Org(r.Context(), *r.Principal, id)
		if err != nil {
			return err
		}
		d.Choices = append(d.Choices, Choice{o.ID.String(), o.Name})
	}
	sort.Slice(d.Choices, func(i, j int) bool { return d.Choices[i].Label < d.Choices[j].Label })
	return s.render(w, r, status, "coord_acting", "coord.acting_title", f, d)
}

// coordActingGive gives hours of the member acted for to a pool.
func (s *Server) coordActingGive(w http.ResponseWriter, r *Request) error {
	f := NewForm(r.Request)
	org, err := uuid.Parse(f.Get("org_id"))
	if err != nil {
		f.Refuse("org_id", r.Lang.T("error.field.org_id"))
	}
	amount := parseHours(r, f, "amount")
	if f.OK() {
		_, err := s.ex.DonateHours(r.Context(), *r.Principal, exchange.TimebankMove{OrgID: org, Amount: amount, Memo: f.Get("memo")})
		if err == nil {
			return s.redirect(w, r, "/coord/acting", "flash.coord_given")
		}
		if !r.refuseMove(f, err, "amount") {
			return err
		}
	}
	return s.actingPage(w, r, http.StatusUnprocessableEntity, f)
}
