package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/internal/idempotency"
	"github.com/mutual-ledger/mutual/internal/journal"
	"github.com/mutual-ledger/mutual/ledger"
)

// Authority says who a request acts as and what it may do, and keeps the
// organizations, members and tokens those decisions rest on;
// *exchange.Store implements it. Each Can* method returns nil when the
// action is allowed.
type Authority interface {
	transferService
	accountService
	unitService

	// Authenticate returns the principal a bearer token stands for, or an
	// error matching exchange.ErrUnauthenticated (401).
	Authenticate(ctx context.Context, secret string) (exchange.Principal, error)
	// CanMoveFrom reports whether p may move value out of a: nil, or an
	// error matching exchange.ErrForbidden (403) or exchange.ErrNotVisible
	// (404).
	CanMoveFrom(ctx context.Context, p exchange.Principal, a ledger.Account) error
	// CanReadAccount reports whether p may see a, its balances and its
	// history: nil, or an error matching exchange.ErrNotVisible (answered
	// exactly as for an account that does not exist).
	CanReadAccount(ctx context.Context, p exchange.Principal, a ledger.Account) error
	// CanManageOrg reports whether p acts for the organization: nil, or an
	// error matching exchange.ErrForbidden or exchange.ErrNotVisible, or
	// exchange.ErrUnknownOrg.
	CanManageOrg(ctx context.Context, p exchange.Principal, orgID uuid.UUID) error
	// CanReadMember reports whether p may see a member's private data (email,
	// memberships): nil, or an error matching exchange.ErrNotVisible, also
	// for a member that does not exist.
	CanReadMember(ctx context.Context, p exchange.Principal, memberID uuid.UUID) error
	// CanManageTokens reports whether p may create or revoke a member's
	// tokens: nil, or an error matching exchange.ErrForbidden or
	// exchange.ErrNotVisible (also for a member that does not exist).
	CanManageTokens(ctx context.Context, p exchange.Principal, memberID uuid.UUID) error
	// Memberships returns a member's organizations and roles, or an error
	// matching exchange.ErrUnknownMember. Opening a member's account checks
	// with it that the member belongs to the organization named.
	Memberships(ctx context.Context, memberID uuid.UUID) ([]exchange.Membership, error)

	// The identities, read and changed by the endpoints after the Can*
	// check each documents. Their errors are the exchange's: see its
	// methods of the same names.
	CreateOrg(ctx context.Context, in exchange.NewOrg) (exchange.Org, error)
	Org(ctx context.Context, id uuid.UUID) (exchange.Org, error)
	Orgs(ctx context.Context, p exchange.Page) ([]exchange.Org, uuid.UUID, error)
	OrgMembers(ctx context.Context, orgID uuid.UUID, p exchange.Page) ([]exchange.OrgMember, uuid.UUID, error)
	AdmitNewMember(ctx context.Context, orgID uuid.UUID, in exchange.NewMember, role exchange.Role) (exchange.Member, error)
	AddMembership(ctx context.Context, orgID, memberID uuid.UUID, role exchange.Role) (exchange.Membership, error)
	Member(ctx context.Context, id uuid.UUID) (exchange.Member, error)
	CreateToken(ctx context.Context, memberID uuid.UUID, name string, expiresAt *time.Time) (exchange.Token, string, error)
	Token(ctx context.Context, id uuid.UUID) (exchange.Token, error)
	RevokeToken(ctx context.Context, id uuid.UUID) (exchange.Token, error)

	// The categories and listings. Who may see a listing is decided by
	// exchange.Viewer; who may change one by the endpoints.
	Categories(ctx context.Context) ([]exchange.Category, error)
	CreateCategory(ctx context.Context, in exchange.Category) (exchange.Category, error)
	CreateListing(ctx context.Context, in exchange.NewListing) (exchange.Listing, error)
	Listing(ctx context.Context, id uuid.UUID) (exchange.Listing, error)
	UpdateListingStatus(ctx context.Context, id uuid.UUID, to exchange.ListingStatus) (exchange.Listing, error)
	SearchListings(ctx context.Context, q exchange.ListingQuery, p exchange.Page) ([]exchange.Listing, uuid.UUID, error)
	// Fairness is the members' recent history that matching weighs;
	// Subtree an organization and those under it.
	Fairness(ctx context.Context, members []uuid.UUID) (matching.Fairness, error)
	Subtree(ctx context.Context, orgID uuid.UUID) ([]uuid.UUID, error)

	// The agreements between an offer and a need, and the notifications
	// they send. Each takes the principal and decides who may itself (see
	// the exchange's methods of the same names): an agreement p may not see
	// is exchange.ErrUnknownAgreement, a step p may not take
	// exchange.ErrForbidden.
	ProposeAgreement(ctx context.Context, p exchange.Principal, in exchange.NewAgreement) (exchange.Agreement, error)
	Agreement(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Agreement, error)
	Agreements(ctx context.Context, p exchange.Principal, f exchange.AgreementFilter, pg exchange.Page) ([]exchange.Agreement, uuid.UUID, error)
	AcceptAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, account *uuid.UUID) (exchange.Agreement, error)
	ConfirmAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, quantity decimal.Decimal) (exchange.Agreement, error)
	CancelAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, reason string) (exchange.Agreement, error)
	DisputeAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, reason string) (exchange.Agreement, error)
	ResolveAgreement(ctx context.Context, p exchange.Principal, id uuid.UUID, quantity decimal.Decimal, note string) (exchange.Agreement, error)
	Notifications(ctx context.Context, p exchange.Principal, unread bool, pg exchange.Page) ([]exchange.Notification, uuid.UUID, error)
	MarkNotificationsRead(ctx context.Context, p exchange.Principal, upTo uuid.UUID) (int, error)

	// The time banks: an organization's rules, its pool, donations to it
	// and grants from it. CanTimebank decides who may do what (nil, or an
	// error matching exchange.ErrForbidden, exchange.ErrNotVisible or
	// exchange.ErrUnknownOrg); the others' errors are the exchange's.
	CanTimebank(ctx context.Context, p exchange.Principal, orgID uuid.UUID, action exchange.TimebankAction) error
	TimebankRules(ctx context.Context, orgID uuid.UUID) (exchange.TimebankRules, error)
	SetTimebankRules(ctx context.Context, orgID uuid.UUID, in exchange.TimebankSettings, by uuid.UUID) (exchange.TimebankRules, bool, error)
	DonateHours(ctx context.Context, m exchange.TimebankMove) (ledger.Transfer, error)
	GrantHours(ctx context.Context, m exchange.TimebankMove) (ledger.Transfer, error)

	// The trades between organizations and the organizations' statements.
	// Each takes the principal and decides who may itself (see the
	// exchange's methods of the same names): a trade p may not see is
	// exchange.ErrUnknownTrade, a statement p may not read
	// exchange.ErrNotVisible, an action p may see but not take
	// exchange.ErrForbidden.
	ProposeTrade(ctx context.Context, p exchange.Principal, in exchange.NewTrade) (exchange.Trade, error)
	Trade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	Trades(ctx context.Context, p exchange.Principal, orgID uuid.UUID, page exchange.Page) ([]exchange.Trade, uuid.UUID, error)
	AcceptTrade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	DeclineTrade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	CancelTrade(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Trade, error)
	Statement(ctx context.Context, p exchange.Principal, orgID uuid.UUID, from, to time.Time) (exchange.Statement, error)

	// The funds, their rules, grant requests and the public report (see
	// the exchange's methods of the same names). The methods that take the
	// principal decide who may themselves (a grant p may not see is
	// exchange.ErrUnknownGrant, a step p may not take exchange.ErrForbidden);
	// for the others the endpoints ask: CanGovernFund for money from
	// outside, CanManageOrg on the fund's organization to create it and on
	// the requesting organization for a grant request, and CanMoveFrom on
	// the account a contribution comes from.
	Network(ctx context.Context) (exchange.Org, error)
	CreateFund(ctx context.Context, p exchange.Principal, in exchange.NewFund) (exchange.Fund, error)
	Fund(ctx context.Context, id uuid.UUID) (exchange.Fund, error)
	Funds(ctx context.Context, p exchange.Page) ([]exchange.Fund, uuid.UUID, error)
	Contribute(ctx context.Context, p exchange.Principal, c exchange.Contribution) (exchange.FundMovement, error)
	CanGovernFund(ctx context.Context, p exchange.Principal, fundID uuid.UUID, what string) error
	SetFundRules(ctx context.Context, p exchange.Principal, fundID uuid.UUID, rules exchange.FundRules, reason string) (exchange.Fund, exchange.FundRuleChange, error)
	FundRuleChanges(ctx context.Context, p exchange.Principal, fundID uuid.UUID, pg exchange.Page) ([]exchange.FundRuleChange, uuid.UUID, error)
	RequestGrant(ctx context.Context, p exchange.Principal, in exchange.NewGrant) (exchange.Grant, error)
	Grant(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Grant, error)
	Grants(ctx context.Context, p exchange.Principal, fundID uuid.UUID, pg exchange.Page) ([]exchange.Grant, uuid.UUID, error)
	DecideGrant(ctx context.Context, p exchange.Principal, d exchange.GrantDecision) (exchange.Grant, error)
	WithdrawGrant(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Grant, error)
	Disburse(ctx context.Context, p exchange.Principal, grantID uuid.UUID) (exchange.Grant, exchange.FundMovement, error)
	FundReport(ctx context.Context, q exchange.ReportQuery) (exchange.FundReport, error)
}

// IdempotencyStore keeps the records behind the Idempotency-Key header;
// *idempotency.Store implements it on the database.
type IdempotencyStore interface {
	// Begin reserves key for member for a request whose content hashes to
	// hash. reserved is true when the caller now holds the key (and must end
	// with Complete or Abandon); otherwise rec is the key's existing record.
	Begin(ctx context.Context, member uuid.UUID, key string, hash []byte) (rec idempotency.Record, reserved bool, err error)
	// Complete stores the response of the request holding rec.
	Complete(ctx context.Context, rec idempotency.Record, resp idempotency.Response) error
	// Abandon releases the reservation rec holds, storing nothing.
	Abandon(ctx context.Context, rec idempotency.Record) error
	// LeaseContext returns ctx, also cancelled when the server instance
	// holding rec's reservation loses its lease, so that the request stops
	// before a retry may take the key over.
	LeaseContext(ctx context.Context, rec idempotency.Record) (context.Context, context.CancelFunc)
}

// JournalExporter writes the ledger's journal for GET /v1/export/journal;
// *journal.Exporter implements it.
type JournalExporter interface {
	WriteHledger(ctx context.Context, w io.Writer) error
	WriteCSV(ctx context.Context, w io.Writer) error
}

// Config is what the API is built from. Ledger and Authority are required.
type Config struct {
	Ledger    *ledger.Store
	Authority Authority
	// Idempotency keeps idempotency records; nil means an
	// idempotency.Store on the ledger's database.
	Idempotency IdempotencyStore
	// Journal writes the journal export; nil means a journal.Exporter on the
	// ledger's database.
	Journal JournalExporter
	// Ready reports whether the server can serve (GET /readyz); nil means a
	// ping of the ledger's database.
	Ready func(context.Context) error
	// Logger receives one line per request and every internal error; nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock (balances "now", the export's stamp); nil means
	// time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a request body (413 above it); 0 means 1 MiB.
	MaxBodyBytes int64
	// Matching scores the matches of a listing; a zero MaxKm means
	// matching.DefaultConfig().
	Matching matching.Config
	// Collectors are more metrics for GET /metrics, from the program's other
	// parts (the local PostgreSQL's restarts, say). New panics if one
	// clashes with the API's own.
	Collectors []prometheus.Collector
}

// DefaultMaxBodyBytes is the default Config.MaxBodyBytes.
const DefaultMaxBodyBytes = 1 << 20

// api is the HTTP API's state: its dependencies and its mux.
type api struct {
	ledger    *ledger.Store
	auth      Authority
	transfers transferService
	accounts  accountService
	units     unitService
	idem      IdempotencyStore
	journal   JournalExporter
	ready     func(context.Context) error
	log       *slog.Logger
	now       func() time.Time
	maxBody   int64
	matching  matching.Config
	metrics   *metrics
	validate  *validator.Validate
	shapes    shapes // of request bodies, for checkJSON
	mux       *http.ServeMux
	routes    []route
}

// New returns the HTTP API as a handler: every route of the route table,
// with request ids, logs, metrics, authentication and idempotency, and
// problem+json answers for unknown routes and methods. It panics if
// cfg.Ledger or cfg.Authority is nil.
func New(cfg Config) http.Handler {
	if cfg.Ledger == nil || cfg.Authority == nil {
		panic("httpapi.New: Config.Ledger and Config.Authority are required")
	}
	a := &api{
		ledger:    cfg.Ledger,
		auth:      cfg.Authority,
		transfers: cfg.Authority,
		accounts:  cfg.Authority,
		units:     cfg.Authority,
		idem:      cfg.Idempotency,
		journal:   cfg.Journal,
		ready:     cfg.Ready,
		log:       cfg.Logger,
		now:       cfg.Now,
		maxBody:   cfg.MaxBodyBytes,
		matching:  cfg.Matching,
		validate:  newValidator(),
		mux:       http.NewServeMux(),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	if a.matching.MaxKm <= 0 {
		a.matching = matching.DefaultConfig()
	}
	if a.idem == nil {
		a.idem = idempotency.New(cfg.Ledger.DB(), idempotency.Config{Now: a.now})
	}
	if a.journal == nil {
		a.journal = journal.New(cfg.Ledger.DB(), a.now)
	}
	if a.ready == nil {
		pool := cfg.Ledger.DB().Pool
		a.ready = func(ctx context.Context) error { return pool.Ping(ctx) }
	}
	a.metrics = newMetrics(cfg.Ledger.DB().Retries, cfg.Collectors...)
	rt := &router{}
	a.register(rt)
	a.routes = rt.routes
	for _, r := range a.routes {
		a.mux.Handle(r.method+" "+r.path, a.routeHandler(r))
	}
	return a
}

// handlerFunc is an endpoint: it writes its success response itself and
// returns an error for everything else, which becomes a problem response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the route table.
type route struct {
	method, path string
	handle       handlerFunc
	// public routes need no token.
	public bool
	// idempotent routes honour the Idempotency-Key header.
	idempotent bool
	// secret routes answer a success with a secret shown once: their
	// Idempotency-Key reserves the key and refuses a repeat, but the
	// success itself is never stored or replayed (see serveIdempotent).
	secret bool
}

// router collects the route table.
type router struct{ routes []route }

// public adds a route that needs no token.
func (rt *router) public(method, path string, h handlerFunc) {
	rt.routes = append(rt.routes, route{method: method, path: path, handle: h, public: true})
}

// read adds a route that needs a token and changes nothing.
func (rt *router) read(method, path string, h handlerFunc) {
	rt.routes = append(rt.routes, route{method: method, path: path, handle: h})
}

// write adds a POST route that needs a token and honours Idempotency-Key.
func (rt *router) write(path string, h handlerFunc) {
	rt.routes = append(rt.routes, route{method: http.MethodPost, path: path, handle: h, idempotent: true})
}

// writeSecret adds a creating POST whose success holds a secret (an API
// token's): it needs a token, and Idempotency-Key keeps a retry from
// creating a second one without storing the secret.
func (rt *router) writeSecret(path string, h handlerFunc) {
	rt.routes = append(rt.routes, route{method: http.MethodPost, path: path, handle: h, idempotent: true, secret: true})
}

// remove adds a DELETE route that needs a token. DELETE is idempotent by
// itself, so it takes no Idempotency-Key.
func (rt *router) remove(path string, h handlerFunc) {
	rt.routes = append(rt.routes, route{method: http.MethodDelete, path: path, handle: h})
}

// put adds a PUT route that needs a token. PUT is idempotent by itself (the
// same body sets the same state), so it takes no Idempotency-Key.
func (rt *router) put(path string, h handlerFunc) {
	rt.routes = append(rt.routes, route{method: http.MethodPut, path: path, handle: h})
}

// register builds the route table, one resource at a time.
func (a *api) register(rt *router) {
	a.registerServiceRoutes(rt)
	a.registerOrgRoutes(rt)
	a.registerMemberRoutes(rt)
	a.registerTokenRoutes(rt)
	a.registerUnitRoutes(rt)
	a.registerAccountRoutes(rt)
	a.registerTransferRoutes(rt)
	a.registerExportRoutes(rt)
	a.registerListingRoutes(rt)
	a.registerProposalRoutes(rt)
	a.registerAgreementRoutes(rt)
	a.registerTimebankRoutes(rt)
	a.registerTradeRoutes(rt)
	a.registerFundRoutes(rt)
}

// routeHandler wraps a route's endpoint: authentication unless public, the
// query string's check (checkQuery), the body size limit, idempotency when
// asked for, and errors as problems.
func (a *api) routeHandler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		if !rt.public {
			p, err := a.authenticate(r)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			info.principal = &p
		}
		if err := checkQuery(r); err != nil {
			a.writeError(w, r, err)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
		}
		if rt.idempotent {
			if keys := r.Header.Values(headerIdempotencyKey); len(keys) > 0 {
				a.serveIdempotent(w, r, rt, keys)
				return
			}
		}
		a.serve(w, r, rt.handle)
	})
}

// serve runs an endpoint and answers its error with a problem.
func (a *api) serve(w http.ResponseWriter, r *http.Request, h handlerFunc) {
	if err := h(w, r); err != nil {
		a.writeError(w, r, err)
	}
}
