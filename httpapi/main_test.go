package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/internal/testclock"
	"github.com/mutual-ledger/mutual/ledger"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// syncBuffer collects the server's logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is the API served over real HTTP on a fresh database, with the real
// exchange deciding who may do what, and a network whose admin holds a
// token.
type env struct {
	t       *testing.T
	srv     *httptest.Server
	client  *http.Client
	ex      *exchange.Store
	led     *ledger.Store
	db      *pgtx.DB
	clock   *testclock.Clock
	logs    *syncBuffer
	network exchange.Org
	admin   actor
}

// actor is a member with an API token.
type actor struct {
	id    uuid.UUID
	token string
}

func newEnv(t *testing.T) *env {
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with a hook to change the API's Config.
func newEnvWith(t *testing.T, change func(*httpapi.Config)) *env {
	t.Helper()
	return newEnvOn(t, dbtest.New(t), change)
}

// newEnvOn is newEnvWith on a pool of the caller's.
func newEnvOn(t *testing.T, pool *pgxpool.Pool, change func(*httpapi.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := pgtx.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	led := ledger.NewStore(db, ledger.Config{Now: c.Now})
	ex := exchange.NewStore(db, led, exchange.Config{Now: c.Now})
	logs := &syncBuffer{}
	cfg := httpapi.Config{
		Ledger: led, Authority: ex, Now: c.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if change != nil {
		change(&cfg)
	}
	srv := httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(srv.Close)
	// Whatever a test did over HTTP, the books must be sound after it, and
	// agreements, trades, funds and time banks must agree with them.
	t.Cleanup(func() {
		ctx := context.Background()
		for what, verify := range map[string]func(context.Context) ([]string, error){"ledger": led.Verify, "exchange": ex.Verify} {
			v, err := verify(ctx)
			if err != nil {
				t.Errorf("verifying the %s: %v", what, err)
			}
			for _, line := range v {
				t.Errorf("%s invariant broken after the test: %s", what, line)
			}
		}
	})
	e := &env{t: t, srv: srv, ex: ex, led: led, db: db, clock: c, logs: logs}
	e.client = &http.Client{Transport: &checkingTransport{t: t, spec: theSpec(t), next: http.DefaultTransport}}
	network, admin, _, secret, created, err := ex.Bootstrap(ctx, "Network")
	if err != nil || !created {
		t.Fatalf("bootstrap: created %v, %v", created, err)
	}
	e.network, e.admin = network, actor{id: admin.ID, token: secret}
	return e
}

// org creates an organization under parent.
func (e *env) org(parent exchange.Org, kind exchange.Kind, name string) exchange.Org {
	e.t.Helper()
	o, err := e.ex.CreateOrg(context.Background(), exchange.System(), exchange.NewOrg{Name: name, Kind: kind, ParentID: &parent.ID})
	if err != nil {
		e.t.Fatalf("creating org %q: %v", name, err)
	}
	return o
}

// member creates a member with a role in org, and a token.
func (e *env) member(org exchange.Org, role exchange.Role, name string) actor {
	e.t.Helper()
	ctx := context.Background()
	m, err := e.ex.CreateMember(ctx, exchange.System(), exchange.NewMember{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ex.AddMembership(ctx, exchange.System(), org.ID, m.ID, role); err != nil {
		e.t.Fatal(err)
	}
	_, secret, err := e.ex.CreateToken(ctx, exchange.Principal{MemberID: m.ID}, m.ID, "test", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return actor{id: m.ID, token: secret}
}

// resp is a response, read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return http.StatusText(r.status) + ": " + string(r.body) }

// object decodes the body as a JSON object.
func (r resp) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %T: %v\n%s", v, err, r.body)
	}
}

// call sends a request. body is nil (none), a string (sent as is) or a value
// (sent as JSON); headers are name, value pairs.
func (e *env) call(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	r, err := e.do(method, path, token, body, headers...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// do is call for goroutines other than the test's: it returns its error.
func (e *env) do(method, path, token string, body any, headers ...string) (resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return resp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	given := map[string]bool{}
	for i := 0; i+1 < len(headers); i += 2 {
		if given[headers[i]] { // a header given twice is sent twice
			req.Header.Add(headers[i], headers[i+1])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
		given[headers[i]] = true
	}
	res, err := e.client.Do(req)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

// must checks a response's status and returns its body as an object.
func (e *env) must(r resp, status int) map[string]any {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r.object(e.t)
}

// problem checks that a response is a problem with the status and type
// (the last segment of its URI) and returns it.
func (e *env) problem(r resp, status int, typ string) httpapi.Problem {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d (%s): %s", r.status, status, typ, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		e.t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p httpapi.Problem
	r.decode(e.t, &p)
	if want := httpapi.ProblemTypeBase + typ; p.Type != want {
		e.t.Fatalf("problem type %q, want %q: %s", p.Type, want, r.body)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" || p.RequestID == "" {
		e.t.Fatalf("problem lacks status, title, detail or request_id: %s", r.body)
	}
	return p
}

// hasField reports whether a problem names the field.
func hasField(p httpapi.Problem, field string) bool {
	for _, f := range p.Errors {
		if f.Field == field {
			return true
		}
	}
	return false
}

// unit creates a unit as the admin.
func (e *env) unit(code string, scale int) {
	e.t.Helper()
	e.must(e.call("POST", "/v1/units", e.admin.token, map[string]any{"code": code, "scale": scale, "name": code}), 201)
}

// account opens an account as the admin and returns its id. owner is
// {"member": id} or {"org": id}.
func (e *env) account(owner map[string]any, unit, kind string, lower string) string {
	e.t.Helper()
	body := map[string]any{"owner": owner, "unit": unit, "kind": kind, "name": unit + " " + kind}
	if lower != "" {
		body["lower_bound"] = lower
	}
	return e.must(e.call("POST", "/v1/accounts", e.admin.token, body), 201)["id"].(string)
}

func memberOwner(a actor) map[string]any     { return map[string]any{"member": a.id.String()} }
func orgOwner(o exchange.Org) map[string]any { return map[string]any{"org": o.ID.String()} }

// posting is one posting of a transfer request.
func posting(from, to, amount, unit string) map[string]any {
	return map[string]any{"from": from, "to": to, "amount": amount, "unit": unit}
}

// transfer posts one transfer and returns the response.
func (e *env) transfer(token string, memo string, ps ...map[string]any) resp {
	e.t.Helper()
	return e.call("POST", "/v1/transfers", token, map[string]any{"postings": ps, "memo": memo})
}

// balance returns an account's posted and available balances, as the admin
// sees them.
func (e *env) balance(id string) (posted, available string) {
	e.t.Helper()
	b := e.must(e.call("GET", "/v1/accounts/"+id, e.admin.token, nil), 200)["balances"].(map[string]any)
	return b["posted"].(string), b["available"].(string)
}

// world is a small network: a local organization with a time bank and a
// co-op under it, their coordinators, members, units and accounts.
type world struct {
	*env
	local, timebank, coop exchange.Org
	coordTB, coordCoop    actor // coordinators of the time bank and the co-op
	ana, ben, cam         actor // ana and ben are in the time bank, cam in the co-op
	anaHours, benHours    string
	camHours              string
	poolHours             string // the time bank's community pool
	coopUSD, bankUSD      string // the co-op's USD account, and the external account money comes from
}

func newWorld(t *testing.T) *world { return newWorldWith(t, nil) }

// newWorldWith is newWorld with a hook to change the API's Config.
func newWorldWith(t *testing.T, change func(*httpapi.Config)) *world {
	e := newEnvWith(t, change)
	w := &world{env: e}
	w.local = e.org(e.network, exchange.KindLocal, "Riverside assembly")
	w.timebank = e.org(w.local, exchange.KindTimebank, "Riverside time bank")
	w.coop = e.org(w.local, exchange.KindCoop, "Bread co-op")
	w.coordTB = e.member(w.timebank, exchange.RoleCoordinator, "Tess")
	w.coordCoop = e.member(w.coop, exchange.RoleCoordinator, "Carl")
	w.ana = e.member(w.timebank, exchange.RoleMember, "Ana")
	w.ben = e.member(w.timebank, exchange.RoleMember, "Ben")
	w.cam = e.member(w.coop, exchange.RoleMember, "Cam")
	e.unit("HOUR", 2)
	e.unit("USD", 2)
	w.anaHours = e.account(memberOwner(w.ana), "HOUR", "member", "-20")
	w.benHours = e.account(memberOwner(w.ben), "HOUR", "member", "-20")
	w.camHours = e.account(memberOwner(w.cam), "HOUR", "member", "-20")
	w.poolHours = e.account(orgOwner(w.timebank), "HOUR", "pool", "")
	w.coopUSD = e.account(orgOwner(w.coop), "USD", "organization", "")
	w.bankUSD = e.must(e.call("POST", "/v1/accounts", e.admin.token, map[string]any{
		"owner": orgOwner(w.coop), "unit": "USD", "kind": "external", "name": "bank"}), 201)["id"].(string)
	return w
}
