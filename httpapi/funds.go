package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// fundService keeps the funds, their rules, grants and report, deciding itself who may.
// *exchange.Store implements it; see its methods of the same names for
// the errors.
type fundService interface {
	Contribute(ctx context.Context, p exchange.Principal, c exchange.Contribution) (exchange.FundMovement, error)
	CreateFund(ctx context.Context, p exchange.Principal, in exchange.NewFund) (exchange.Fund, error)
	DecideGrant(ctx context.Context, p exchange.Principal, d exchange.GrantDecision) (exchange.Grant, error)
	Disburse(ctx context.Context, p exchange.Principal, grantID uuid.UUID) (exchange.Grant, exchange.FundMovement, error)
	Fund(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Fund, error)
	FundReport(ctx context.Context, p exchange.Principal, q exchange.ReportQuery) (exchange.FundReport, error)
	FundRuleChanges(ctx context.Context, p exchange.Principal, fundID uuid.UUID, pg exchange.Page) ([]exchange.FundRuleChange, uuid.UUID, error)
	Funds(ctx context.Context, pr exchange.Principal, p exchange.Page) ([]exchange.Fund, uuid.UUID, error)
	Grant(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Grant, error)
	Grants(ctx context.Context, p exchange.Principal, fundID uuid.UUID, pg exchange.Page) ([]exchange.Grant, uuid.UUID, error)
	RequestGrant(ctx context.Context, p exchange.Principal, in exchange.NewGrant) (exchange.Grant, error)
	SetFundRules(ctx context.Context, p exchange.Principal, fundID uuid.UUID, rules exchange.FundRules, reason string) (exchange.Fund, exchange.FundRuleChange, error)
	WithdrawGrant(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Grant, error)
}

// The network's funds: contributions in, grant requests, decisions and
// disbursements out, the funds' rules, and the public report. A fund is
// governed by the coordinators of its organization (and those above) and
// the admin: they take outside donations, decide and disburse grants, never
// their own side's. Who may is decided by the exchange; these handlers
// translate. Only the admin changes a fund's rules. The list of funds and
// each fund's report need no token.
func (a *api) registerFundRoutes(rt *router) {
	rt.write("/v1/funds", a.createFund)
	rt.public(http.MethodGet, "/v1/funds", a.listFunds)
	rt.read(http.MethodGet, "/v1/funds/{id}", a.getFund)
	rt.put("/v1/funds/{id}/rules", a.putFundRules)
	rt.read(http.MethodGet, "/v1/funds/{id}/rules/changes", a.listFundRuleChanges)
	rt.write("/v1/funds/{id}/contributions", a.contribute)
	rt.write("/v1/funds/{id}/grants", a.requestGrant)
	rt.read(http.MethodGet, "/v1/funds/{id}/grants", a.listGrants)
	rt.public(http.MethodGet, "/v1/funds/{id}/report", a.fundReport)
	rt.read(http.MethodGet, "/v1/grants/{id}", a.getGrant)
	rt.write("/v1/grants/{id}/decision", a.decideGrant)
	rt.write("/v1/grants/{id}/disburse", a.disburseGrant)
	rt.write("/v1/grants/{id}/withdraw", a.withdrawGrant)
}

func notFoundFund(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownFund, Message: "unknown fund " + id}
}

func notFoundGrant(id string) error {
	return &ledger.Error{Code: ledger.ENOTFOUND, Reason: exchange.ReasonUnknownGrant, Message: "unknown grant request " + id}
}

// fundJSON is a fund with its rules. Funds are public.
type fundJSON struct {
	ID                uuid.UUID     `json:"id"`
	OrgID             uuid.UUID     `json:"org_id"`
	Name              string        `json:"name"`
	Unit              string        `json:"unit"`
	AccountID         uuid.UUID     `json:"account_id"`
	ExternalAccountID uuid.UUID     `json:"external_account_id"`
	Rules             fundRulesJSON `json:"rules"`
	CreatedAt         time.Time     `json:"created_at"`
}

// fundRulesJSON is a fund's rules; second_approval_above is null for none.
type fundRulesJSON struct {
	Quorum              int64   `json:"quorum"`
	Majority            string  `json:"majority"`
	SecondApprovalAbove *string `json:"second_approval_above"`
}

func (a *api) toFundRulesJSON(ctx context.Context, r exchange.FundRules, unit string) fundRulesJSON {
	out := fundRulesJSON{Quorum: r.Quorum, Majority: string(r.Majority)}
	if r.SecondApprovalAbove != nil {
		v := a.amount(ctx, *r.SecondApprovalAbove, unit)
		out.SecondApprovalAbove = &v
	}
	return out
}

func (a *api) toFundJSON(ctx context.Context, f exchange.Fund) fundJSON {
	return fundJSON{ID: f.ID, OrgID: f.OrgID, Name: f.Name, Unit: f.Unit, AccountID: f.AccountID,
		ExternalAccountID: f.ExternalAccountID, Rules: a.toFundRulesJSON(ctx, f.Rules, f.Unit), CreatedAt: f.CreatedAt.UTC()}
}

// movementJSON is a movement into or out of a fund. It names no member.
type movementJSON struct {
	ID         uuid.UUID  `json:"id"`
	FundID     uuid.UUID  `json:"fund_id"`
	TransferID uuid.UUID  `json:"transfer_id"`
	Direction  string     `json:"direction"`
	OrgID      *uuid.UUID `json:"org_id"`
	Source     *string    `json:"source"`
	Amount     string     `json:"amount"`
	Memo       string     `json:"memo"`
	At         time.Time  `json:"at"`
	GrantID    *uuid.UUID `json:"grant_id"`
}

func (a *api) toMovementJSON(ctx context.Context, unit string, m exchange.FundMovement) movementJSON {
	j := movementJSON{ID: m.ID, FundID: m.FundID, TransferID: m.TransferID, Direction: string(m.Direction), OrgID: m.OrgID,
		Amount: a.amount(ctx, m.Amount, unit), Memo: m.Memo, At: m.At.UTC(), GrantID: m.GrantID}
	if m.Source != "" {
		src := m.Source
		j.Source = &src
	}
	return j
}

type votesJSON struct {
	For     int64 `json:"for"`
	Against int64 `json:"against"`
	Abstain int64 `json:"abstain"`
}

func toVotesJSON(v *exchange.GrantVotes) *votesJSON {
	if v == nil {
		return nil
	}
	return &votesJSON{For: v.For, Against: v.Against, Abstain: v.Abstain}
}

// grantJSON is a grant request with its decision and payment.
type grantJSON struct {
	ID           uuid.UUID  `json:"id"`
	FundID       uuid.UUID  `json:"fund_id"`
	OrgID        uuid.UUID  `json:"org_id"`
	RequestedBy  uuid.UUID  `json:"requested_by"`
	Amount       string     `json:"amount"`
	Purpose      string     `json:"purpose"`
	ToAccount    uuid.UUID  `json:"to_account"`
	Status       string     `json:"status"`
	DecidedBy    *uuid.UUID `json:"decided_by"`
	DecidedAt    *time.Time `json:"decided_at"`
	DecisionNote string     `json:"decision_note"`
	Votes        *votesJSON `json:"votes"`
	// FirstApprovedBy and FirstApprovedAt are the first of two governors'
	// approval of a disbursement, when the fund asks for two.
	FirstApprovedBy *uuid.UUID `json:"first_approved_by"`
	FirstApprovedAt *time.Time `json:"first_approved_at"`
	DisbursedBy     *uuid.UUID `json:"disbursed_by"`
	TransferID      *uuid.UUID `json:"transfer_id"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func (a *api) toGrantJSON(ctx context.Context, unit string, g exchange.Grant) grantJSON {
	return grantJSON{
		ID: g.ID, FundID: g.FundID, OrgID: g.OrgID, RequestedBy: g.RequestedBy, Amount: a.amount(ctx, g.Amount, unit),
		Purpose: g.Purpose, ToAccount: g.ToAccount, Status: string(g.Status), DecidedBy: g.DecidedBy,
		DecidedAt: utc(g.DecidedAt), DecisionNote: g.DecisionNote, Votes: toVotesJSON(g.Votes),
		FirstApprovedBy: g.FirstApprovedBy, FirstApprovedAt: utc(g.FirstApprovedAt), DisbursedBy: g.DisbursedBy,
		TransferID: g.TransferID, CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
	}
}

type createFundRequest struct {
	OrgID string            `json:"org_id" validate:"omitempty,uuid"`
	Name  string            `json:"name" validate:"required,max=200,line"`
	Unit  string            `json:"unit" validate:"required,max=32,line"`
	Rules *fundRulesRequest `json:"rules"`
}

// fundRulesRequest is a fund's rules as a request gives them: a rule left
// out takes its default (quorum 0, a simple majority, no second approval).
type fundRulesRequest struct {
	Quorum              *int64        `json:"quorum" validate:"omitempty,min=0,max=1000000"`
	Majority            string        `json:"majority" validate:"omitempty,oneof=simple two_thirds"`
	SecondApprovalAbove decimalString `json:"second_approval_above" validate:"omitempty,decimal"`
}

func (r *fundRulesRequest) rules() exchange.FundRules {
	out := exchange.DefaultFundRules()
	if r == nil {
		return out
	}
	if r.Quorum != nil {
		out.Quorum = *r.Quorum
	}
	if r.Majority != "" {
		out.Majority = exchange.Majority(r.Majority)
	}
	out.SecondApprovalAbove = r.SecondApprovalAbove.ptr()
	return out
}

// createFund creates a fund of an organization (the network when org_id is
// absent) with its two ledger accounts, for a coordinator of that
// organization or the admin. With an Idempotency-Key the fund's id is
// derived from the key, so that a retry after a crash finds the fund the
// first attempt made.
func (a *api) createFund(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req createFundRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	var org uuid.UUID // uuid.Nil: the network's
	if req.OrgID != "" {
		org = uuid.MustParse(req.OrgID)
	}
	rules := req.Rules.rules()
	in := exchange.NewFund{ID: keyedID(r, "fund"), OrgID: org, Name: req.Name, Unit: req.Unit, Rules: &rules}
	f, err := a.funds.CreateFund(ctx, p, in)
	if err != nil {
		// A retry of a creation that succeeded finds its fund.
		prev, gerr := a.funds.Fund(ctx, p, in.ID)
		if !idConflict(err) || gerr != nil || prev.CreatedBy != p.MemberID || (org != uuid.Nil && prev.OrgID != org) || prev.Unit != req.Unit {
			return err
		}
		f = prev
	}
	w.Header().Set("Location", "/v1/funds/"+f.ID.String())
	return writeJSON(w, http.StatusCreated, a.toFundJSON(ctx, f))
}

// idConflict reports whether err is a creation refused because its id is
// taken.
func idConflict(err error) bool {
	var le *ledger.Error
	return errors.As(err, &le) && le.Code == ledger.ECONFLICT && le.Field == "id"
}

// listFunds lists every fund, in id order, to anyone.
func (a *api) listFunds(w http.ResponseWriter, r *http.Request) error {
	page, err := idPage(r, "funds")
	if err != nil {
		return err
	}
	fs, next, err := a.funds.Funds(r.Context(), principal(r), page)
	if err != nil {
		return err
	}
	items := make([]fundJSON, len(fs))
	for i, f := range fs {
		items[i] = a.toFundJSON(r.Context(), f)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("funds", next)))
}

// pathFund returns the fund the path names.
func (a *api) pathFund(r *http.Request) (exchange.Fund, error) {
	id, err := parseID(r, "id", notFoundFund)
	if err != nil {
		return exchange.Fund{}, err
	}
	return a.funds.Fund(r.Context(), principal(r), id)
}

func (a *api) getFund(w http.ResponseWriter, r *http.Request) error {
	f, err := a.pathFund(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toFundJSON(r.Context(), f))
}

type fundRulesChangeRequest struct {
	Quorum              *int64        `json:"quorum" validate:"required,min=0,max=1000000"`
	Majority            string        `json:"majority" validate:"required,oneof=simple two_thirds"`
	SecondApprovalAbove decimalString `json:"second_approval_above" validate:"omitempty,decimal"`
	Reason              string        `json:"reason" validate:"required,max=1000,text"`
}

// putFundRules replaces a fund's rules, for the network admin only, with a
// reason; the change is recorded. Rules equal to the fund's record
// nothing. Answered with the fund.
func (a *api) putFundRules(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req fundRulesChangeRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	id, err := parseID(r, "id", notFoundFund)
	if err != nil {
		return err
	}
	rules := exchange.FundRules{Quorum: *req.Quorum, Majority: exchange.Majority(req.Majority), SecondApprovalAbove: req.SecondApprovalAbove.ptr()}
	f, _, err := a.funds.SetFundRules(ctx, principal(r), id, rules, req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toFundJSON(ctx, f))
}

// fundRuleChangeJSON is the record of a change of a fund's rules.
type fundRuleChangeJSON struct {
	ID        uuid.UUID     `json:"id"`
	FundID    uuid.UUID     `json:"fund_id"`
	ChangedBy uuid.UUID     `json:"changed_by"`
	ChangedAt time.Time     `json:"changed_at"`
	Reason    string        `json:"reason"`
	Old       fundRulesJSON `json:"old"`
	New       fundRulesJSON `json:"new"`
}

// listFundRuleChanges lists the changes of a fund's rules, oldest first,
// for the fund's governors (403 for others).
func (a *api) listFundRuleChanges(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	page, err := idPage(r, "changes")
	if err != nil {
		return err
	}
	f, err := a.pathFund(r)
	if err != nil {
		return err
	}
	cs, next, err := a.funds.FundRuleChanges(ctx, principal(r), f.ID, page)
	if err != nil {
		return err
	}
	items := make([]fundRuleChangeJSON, len(cs))
	for i, c := range cs {
		items[i] = fundRuleChangeJSON{ID: c.ID, FundID: c.FundID, ChangedBy: c.ChangedBy, ChangedAt: c.ChangedAt.UTC(), Reason: c.Reason,
			Old: a.toFundRulesJSON(ctx, c.Old, f.Unit), New: a.toFundRulesJSON(ctx, c.New, f.Unit)}
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("changes", next)))
}

type contributionRequest struct {
	FromAccount string        `json:"from_account" validate:"omitempty,uuid"`
	OrgID       string        `json:"org_id" validate:"omitempty,uuid"`
	Source      string        `json:"source" validate:"max=200,line"`
	Amount      decimalString `json:"amount" validate:"required,decimal"`
	Memo        string        `json:"memo" validate:"max=1000,text"`
}

// contribute puts money into a fund: from an account in the network
// (from_account, for whoever may move value out of it), credited to the
// organization that owns it or, for a member's account, to the organization
// org_id the member belongs to; or from outside the network (source, the
// donor's name, for the fund's governors). With an Idempotency-Key the
// ledger transfer carries a key derived from it, so a retry moves the money
// once.
func (a *api) contribute(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req contributionRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	if (req.FromAccount == "") == (req.Source == "") {
		msg := "give from_account for money from an account in the network, or source for money from outside it"
		return &apiError{kind: kindValidation, detail: msg, fields: []FieldError{{Field: "from_account", Message: msg}}}
	}
	f, err := a.pathFund(r)
	if err != nil {
		return err
	}
	c := exchange.Contribution{FundID: f.ID, Source: req.Source, Amount: req.Amount.value(), Memo: req.Memo, IdempotencyKey: ledgerKey(r, -1)}
	if req.OrgID != "" {
		c.OrgID = uuid.MustParse(req.OrgID)
	}
	if req.FromAccount != "" {
		c.From = uuid.MustParse(req.FromAccount)
	}
	m, err := a.funds.Contribute(ctx, p, c)
	if err != nil {
		return fundField(err)
	}
	w.Header().Set("Location", "/v1/transfers/"+m.TransferID.String())
	return writeJSON(w, http.StatusCreated, a.toMovementJSON(ctx, f.Unit, m))
}

// fundField names the request field of a ledger refusal that names a
// posting's field.
func fundField(err error) error {
	for _, f := range [][2]string{{"postings[0].amount", "amount"}, {"postings[0].from", "from_account"}, {"memo", "memo"}} {
		err = renameField(err, f[0], f[1])
	}
	return err
}

type grantRequest struct {
	OrgID     string        `json:"org_id" validate:"required,uuid"`
	Amount    decimalString `json:"amount" validate:"required,decimal"`
	Purpose   string        `json:"purpose" validate:"required,max=1000,text"`
	ToAccount string        `json:"to_account" validate:"required,uuid"`
}

// requestGrant asks a fund for a grant, for a coordinator of the requesting
// organization or the admin. With an Idempotency-Key the request's id is
// derived from the key.
func (a *api) requestGrant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	var req grantRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	f, err := a.pathFund(r)
	if err != nil {
		return err
	}
	org := uuid.MustParse(req.OrgID)
	in := exchange.NewGrant{ID: keyedID(r, "grant"), FundID: f.ID, OrgID: org,
		Amount: req.Amount.value(), Purpose: req.Purpose, ToAccount: uuid.MustParse(req.ToAccount)}
	g, err := a.funds.RequestGrant(ctx, p, in)
	if err != nil {
		prev, gerr := a.funds.Grant(ctx, p, in.ID)
		if !idConflict(err) || gerr != nil || prev.RequestedBy != p.MemberID || prev.FundID != f.ID || prev.OrgID != org ||
			!prev.Amount.Equal(in.Amount) {
			return err
		}
		g = prev
	}
	w.Header().Set("Location", "/v1/grants/"+g.ID.String())
	return writeJSON(w, http.StatusCreated, a.toGrantJSON(ctx, f.Unit, g))
}

// listGrants lists a fund's grant requests: all of them for its governors;
// for others, those of the organizations they coordinate (and those under
// them) and those they made.
func (a *api) listGrants(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(r)
	page, err := idPage(r, "grants")
	if err != nil {
		return err
	}
	f, err := a.pathFund(r)
	if err != nil {
		return err
	}
	gs, next, err := a.funds.Grants(ctx, p, f.ID, page)
	if err != nil {
		return err
	}
	items := make([]grantJSON, len(gs))
	for i, g := range gs {
		items[i] = a.toGrantJSON(ctx, f.Unit, g)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("grants", next)))
}

// pathGrant returns the grant the path names with its fund, if the
// principal may see it (the exchange decides: the fund's governors,
// whoever acts for the requesting organization, and the member who asked);
// anyone else gets 404, as for a grant that does not exist.
func (a *api) pathGrant(r *http.Request) (exchange.Grant, exchange.Fund, error) {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundGrant)
	if err != nil {
		return exchange.Grant{}, exchange.Fund{}, err
	}
	g, err := a.funds.Grant(ctx, principal(r), id)
	if err != nil {
		return exchange.Grant{}, exchange.Fund{}, err
	}
	f, err := a.funds.Fund(ctx, principal(r), g.FundID)
	return g, f, err
}

func (a *api) getGrant(w http.ResponseWriter, r *http.Request) error {
	g, f, err := a.pathGrant(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toGrantJSON(r.Context(), f.Unit, g))
}

type decisionRequest struct {
	Decision string        `json:"decision" validate:"required,oneof=approve reject"`
	Note     string        `json:"note" validate:"max=2000,text"`
	Votes    *votesRequest `json:"votes"`
}

type votesRequest struct {
	For     *int64 `json:"for" validate:"required,min=0"`
	Against *int64 `json:"against" validate:"required,min=0"`
	Abstain *int64 `json:"abstain" validate:"required,min=0"`
}

// decideGrant records the fund's decision on a requested grant, by the
// caller, now, with the tally when there was a vote. The exchange decides
// who may (the fund's governors, never on their own side's request) and
// whether the tally allows it (the fund's quorum and majority: 422).
func (a *api) decideGrant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req decisionRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	id, err := parseID(r, "id", notFoundGrant)
	if err != nil {
		return err
	}
	d := exchange.GrantDecision{GrantID: id, Approve: req.Decision == "approve", Note: req.Note}
	if v := req.Votes; v != nil {
		d.Votes = &exchange.GrantVotes{For: *v.For, Against: *v.Against, Abstain: *v.Abstain}
	}
	g, err := a.funds.DecideGrant(ctx, principal(r), d)
	if err != nil {
		return err
	}
	f, err := a.funds.Fund(ctx, principal(r), g.FundID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toGrantJSON(ctx, f.Unit, g))
}

// disburseGrant is a governor's disbursement of an approved grant. When it
// pays (one ledger transfer) it answers 200 with the grant (its
// transfer_id set) and the transfer in Location. When the fund needs a
// second governor for the amount and this is the first, it answers 202
// with the grant awaiting_second_approval and moves nothing; the same
// governor again is 403. A grant is paid once: 409 after; a fund that
// holds too little is 422 insufficient-funds, and nothing changes.
func (a *api) disburseGrant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req struct{}
	if err := a.decode(r, &req, true); err != nil {
		return err
	}
	id, err := parseID(r, "id", notFoundGrant)
	if err != nil {
		return err
	}
	g, m, err := a.funds.Disburse(ctx, principal(r), id)
	if err != nil {
		// The postings are the fund's, not the request's: no field.
		return renameField(renameField(err, "postings[0].from", ""), "postings[0].to", "")
	}
	f, err := a.funds.Fund(ctx, principal(r), g.FundID)
	if err != nil {
		return err
	}
	if g.Status == exchange.GrantAwaitingSecondApproval {
		return writeJSON(w, http.StatusAccepted, a.toGrantJSON(ctx, f.Unit, g))
	}
	a.countPosted(ledger.Transfer{ID: m.TransferID, State: ledger.StatePosted})
	w.Header().Set("Location", "/v1/transfers/"+m.TransferID.String())
	return writeJSON(w, http.StatusOK, a.toGrantJSON(ctx, f.Unit, g))
}

// withdrawGrant withdraws a requested grant, for whoever acts for the
// requesting organization (the admin among them); 409 once decided.
func (a *api) withdrawGrant(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req struct{}
	if err := a.decode(r, &req, true); err != nil {
		return err
	}
	g, f, err := a.pathGrant(r)
	if err != nil {
		return err
	}
	if g, err = a.funds.WithdrawGrant(ctx, principal(r), g.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toGrantJSON(ctx, f.Unit, g))
}

// The public report's parts. Amounts carry the fund's unit's scale.
type (
	reportJSON struct {
		Fund       fundJSON             `json:"fund"`
		Period     string               `json:"period"`
		From       *time.Time           `json:"from"`
		To         *time.Time           `json:"to"`
		Balance    string               `json:"balance"`
		Recorded   string               `json:"recorded"`
		Reconciled bool                 `json:"reconciled"`
		Totals     flowTotalsJSON       `json:"totals"`
		Periods    []reportPeriodJSON   `json:"periods"`
		Movements  []reportMovementJSON `json:"movements"`
	}
	flowTotalsJSON struct {
		In  string `json:"in"`
		Out string `json:"out"`
	}
	reportPeriodJSON struct {
		Period   string            `json:"period"`
		Start    time.Time         `json:"start"`
		End      time.Time         `json:"end"`
		In       string            `json:"in"`
		Out      string            `json:"out"`
		Inflows  []attributionJSON `json:"inflows"`
		Outflows []attributionJSON `json:"outflows"`
	}
	attributionJSON struct {
		OrgID  *uuid.UUID      `json:"org_id"`
		Name   string          `json:"name"`
		Amount string          `json:"amount"`
		Count  int             `json:"count"`
		Grants []paidGrantJSON `json:"grants,omitempty"`
	}
	paidGrantJSON struct {
		GrantID      uuid.UUID  `json:"grant_id"`
		Purpose      string     `json:"purpose"`
		Amount       string     `json:"amount"`
		DecidedBy    string     `json:"decided_by"`
		DecidedAt    time.Time  `json:"decided_at"`
		DecisionNote string     `json:"decision_note"`
		Votes        *votesJSON `json:"votes"`
		// FirstApprovedBy and DisbursedBy are names ("" when none).
		FirstApprovedBy string    `json:"first_approved_by"`
		DisbursedBy     string    `json:"disbursed_by"`
		TransferID      uuid.UUID `json:"transfer_id"`
		PaidAt          time.Time `json:"paid_at"`
	}
	reportMovementJSON struct {
		ID         uuid.UUID  `json:"id"`
		Direction  string     `json:"direction"`
		OrgID      *uuid.UUID `json:"org_id"`
		Name       string     `json:"name"`
		Amount     string     `json:"amount"`
		Memo       string     `json:"memo"`
		At         time.Time  `json:"at"`
		TransferID uuid.UUID  `json:"transfer_id"`
		GrantID    *uuid.UUID `json:"grant_id"`
	}
)

// fundReport answers the public report of a fund, to anyone:
// ?period=month|quarter|year (month by default), ?from= and ?to= (RFC 3339)
// to bound it.
func (a *api) fundReport(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := parseID(r, "id", notFoundFund)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	q := exchange.ReportQuery{FundID: id, Period: exchange.ReportPeriod(v.Get("period"))}
	switch q.Period {
	case "", exchange.PeriodMonth, exchange.PeriodQuarter, exchange.PeriodYear:
	default:
		return malformed("period", "period must be month, quarter or year")
	}
	for _, b := range []struct {
		name string
		to   **time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		t, err := timeParam(v.Get(b.name), b.name)
		if err != nil {
			return err
		}
		if !t.IsZero() {
			*b.to = &t
		}
	}
	rep, err := a.funds.FundReport(ctx, exchange.Principal{}, q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.toReportJSON(ctx, rep))
}

func (a *api) toReportJSON(ctx context.Context, rep exchange.FundReport) reportJSON {
	amt := func(d decimal.Decimal) string { return a.amount(ctx, d, rep.Fund.Unit) }
	out := reportJSON{
		Fund: a.toFundJSON(ctx, rep.Fund), Period: string(rep.Period), From: utc(rep.From), To: utc(rep.To),
		Balance: amt(rep.Balance), Recorded: amt(rep.Recorded), Reconciled: rep.Reconciled,
		Totals:  flowTotalsJSON{In: amt(rep.In), Out: amt(rep.Out)},
		Periods: make([]reportPeriodJSON, len(rep.Periods)), Movements: make([]reportMovementJSON, len(rep.Movements)),
	}
	attributions := func(as []exchange.FundAttribution) []attributionJSON {
		js := make([]attributionJSON, len(as))
		for i, x := range as {
			js[i] = attributionJSON{OrgID: x.OrgID, Name: x.Name, Amount: amt(x.Amount), Count: x.Count}
			for _, g := range x.Grants {
				js[i].Grants = append(js[i].Grants, paidGrantJSON{
					GrantID: g.GrantID, Purpose: g.Purpose, Amount: amt(g.Amount), DecidedBy: g.DecidedBy,
					DecidedAt: g.DecidedAt.UTC(), DecisionNote: g.DecisionNote, Votes: toVotesJSON(g.Votes),
					FirstApprovedBy: g.FirstApprovedBy, DisbursedBy: g.DisbursedBy,
					TransferID: g.TransferID, PaidAt: g.PaidAt.UTC()})
			}
		}
		return js
	}
	for i, p := range rep.Periods {
		out.Periods[i] = reportPeriodJSON{Period: p.Label, Start: p.Start.UTC(), End: p.End.UTC(), In: amt(p.In), Out: amt(p.Out),
			Inflows: attributions(p.Inflows), Outflows: attributions(p.Outflows)}
	}
	for i, m := range rep.Movements {
		out.Movements[i] = reportMovementJSON{ID: m.ID, Direction: string(m.Direction), OrgID: m.OrgID, Name: m.Name,
			Amount: amt(m.Amount), Memo: m.Memo, At: m.At.UTC(), TransferID: m.TransferID, GrantID: m.GrantID}
	}
	return out
}
