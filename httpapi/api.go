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

	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/internal/cookie"
	"github.com/mutual-ledger/mutual/internal/idempotency"
	"github.com/mutual-ledger/mutual/internal/journal"
	"github.com/mutual-ledger/mutual/ledger"
)

// Authority is everything the API asks of the exchange: the small
// interfaces each handler file declares for what it uses, in one, so that
// Config takes one value (*exchange.Store implements it) while each
// handler depends only on its own resource's methods. The methods of
// transfers, holds, accounts, units, agreements, trades, statements,
// funds, organizations, members, tokens, invitations, time banks,
// categories, listing withdrawals and matching proposals take the
// principal and decide themselves who may.
type Authority interface {
	authenticator
	orgService
	memberService
	tokenService
	unitService
	accountService
	transferService
	listingService
	proposalService
	agreementService
	timebankService
	tradeService
	statementService
	exportService
	fundService
	searchService
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
	WriteHledger(ctx context.Context, w io.Writer, scope journal.Scope) error
	WriteCSV(ctx context.Context, w io.Writer, scope journal.Scope) error
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
	// BehindTLSProxy says that a proxy in front terminates TLS: session
	// cookies are then Secure with the __Host- prefix (as for a request
	// that came over TLS itself), and the client address that wrong
	// sign-in codes count against is the last X-Forwarded-For entry.
	BehindTLSProxy bool
	// Mailer, when set, sends sign-in codes by email
	// (POST /v1/signin/email); nil means the server sends no email.
	Mailer Mailer
	// Collectors are more metrics for GET /metrics, from the program's other
	// parts (the local PostgreSQL's restarts, say). New panics if one
	// clashes with the API's own.
	Collectors []prometheus.Collector
}

// DefaultMaxBodyBytes is the default Config.MaxBodyBytes.
const DefaultMaxBodyBytes = 1 << 20

// api is the HTTP API's state: its dependencies and its mux.
type api struct {
	ledger     *ledger.Store
	auth       authenticator
	orgs       orgService
	members    memberService
	tokens     tokenService
	listings   listingService
	proposals  proposalService
	agreements agreementService
	timebanks  timebankService
	trades     tradeService
	statements statementService
	exports    exportService
	funds      fundService
	transfers  transferService
	accounts   accountService
	units      unitService
	search     searchService
	idem       IdempotencyStore
	journal    JournalExporter
	ready      func(context.Context) error
	log        *slog.Logger
	now        func() time.Time
	maxBody    int64
	matching   matching.Config
	metrics    *metrics
	validate   *validator.Validate
	shapes     shapes // of request bodies, for checkJSON
	mux        *http.ServeMux
	routes     []route
	// jar reads and writes the session cookie (Config.BehindTLSProxy
	// decides its flags). cop refuses cross-site requests that carry it
	// (sessions.go).
	jar    cookie.Jar
	cop    *http.CrossOriginProtection
	mailer Mailer // nil: no sign-in by email
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
		ledger:     cfg.Ledger,
		auth:       cfg.Authority,
		orgs:       cfg.Authority,
		members:    cfg.Authority,
		tokens:     cfg.Authority,
		listings:   cfg.Authority,
		proposals:  cfg.Authority,
		agreements: cfg.Authority,
		timebanks:  cfg.Authority,
		trades:     cfg.Authority,
		statements: cfg.Authority,
		exports:    cfg.Authority,
		funds:      cfg.Authority,
		transfers:  cfg.Authority,
		accounts:   cfg.Authority,
		units:      cfg.Authority,
		search:     cfg.Authority,
		idem:       cfg.Idempotency,
		journal:    cfg.Journal,
		ready:      cfg.Ready,
		log:        cfg.Logger,
		now:        cfg.Now,
		maxBody:    cfg.MaxBodyBytes,
		matching:   cfg.Matching,
		validate:   newValidator(),
		mux:        http.NewServeMux(),

		jar:    cookie.Jar{BehindTLSProxy: cfg.BehindTLSProxy},
		cop:    http.NewCrossOriginProtection(),
		mailer: cfg.Mailer,
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
	a.registerSearchRoutes(rt)
	a.registerAgreementRoutes(rt)
	a.registerTimebankRoutes(rt)
	a.registerTradeRoutes(rt)
	a.registerFundRoutes(rt)
	a.registerClearingRoutes(rt)
	a.registerSessionRoutes(rt)
	a.registerSigninRoutes(rt)
	a.registerInvitationRoutes(rt)
	a.registerAuditRoutes(rt)
	a.registerMyRoutes(rt)
	a.registerEmailSigninRoutes(rt)
	a.registerPasskeyRoutes(rt)
}

// routeHandler wraps a route's endpoint: authentication unless public, the
// query string's check (checkQuery), the body size limit, idempotency when
// asked for, and errors as problems.
func (a *api) routeHandler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		if !rt.public {
			p, err := a.authenticate(r)
			if err == nil {
				p, err = a.actFor(r, p)
			}
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
