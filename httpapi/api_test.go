package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if got := e.must(e.call("GET", "/healthz", "", nil), 200)["status"]; got != "ok" {
		t.Errorf("healthz status %v", got)
	}
	if got := e.must(e.call("GET", "/readyz", "", nil), 200)["status"]; got != "ready" {
		t.Errorf("readyz status %v", got)
	}
}

func TestReadinessFailsWhenTheDatabaseDoesNot(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(c *httpapi.Config) {
		c.Ready = func(context.Context) error { return errors.New("connection refused") }
	})
	r := e.call("GET", "/readyz", "", nil)
	if got := e.must(r, 503)["status"]; got != "unavailable" {
		t.Errorf("readyz status %v", got)
	}
	if strings.Contains(string(r.body), "refused") {
		t.Errorf("readyz leaks the error: %s", r.body)
	}
}

func TestUnknownRouteAndMethodAreProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.problem(e.call("GET", "/v1/nothing-here", e.admin.token, nil), 404, "not-found")
	if p.Instance != "/v1/nothing-here" {
		t.Errorf("instance %q", p.Instance)
	}
	r := e.call("DELETE", "/v1/units", e.admin.token, nil)
	e.problem(r, 405, "method-not-allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q, want GET and POST", allow)
	}
	// No route leaks whether it exists to a caller without a token: an
	// unknown route is 404 for them too, and a known one is 401.
	e.problem(e.call("GET", "/v1/nothing-here", "", nil), 404, "not-found")
	e.problem(e.call("GET", "/v1/units", "", nil), 401, "unauthenticated")
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, header string
		wantError    bool // WWW-Authenticate names error="invalid_token"
	}{
		{"no header", "", false},
		{"not bearer", "Basic YWRtaW46YWRtaW4=", true},
		{"empty bearer", "Bearer ", true},
		{"unknown token", "Bearer mut_" + strings.Repeat("A", 43), true},
		{"garbage", "Bearer not-a-token", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if tc.header == "" {
				r = e.call("GET", "/v1/units", "", nil)
			} else {
				r = e.call("GET", "/v1/units", "", nil, "Authorization", tc.header)
			}
			e.problem(r, 401, "unauthenticated")
			wa := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, "Bearer") || strings.Contains(wa, "invalid_token") != tc.wantError {
				t.Errorf("WWW-Authenticate %q", wa)
			}
		})
	}
	// A revoked token is refused at once; the member's other tokens work.
	m := e.member(e.network, exchange.RoleMember, "Rita")
	tok, secret, err := e.ex.CreateToken(context.Background(), exchange.Principal{MemberID: m.id}, m.id, "second", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.must(e.call("GET", "/v1/units", secret, nil), 200)
	if _, err := e.ex.RevokeToken(context.Background(), exchange.Principal{MemberID: tok.MemberID}, tok.ID); err != nil {
		t.Fatal(err)
	}
	e.problem(e.call("GET", "/v1/units", secret, nil), 401, "unauthenticated")
	e.must(e.call("GET", "/v1/units", m.token, nil), 200)
	// The public routes need no token.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		if r := e.call("GET", path, "", nil); r.status != 200 {
			t.Errorf("GET %s without a token: %d", path, r.status)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.call("GET", "/v1/units", e.admin.token, nil, "X-Request-Id", "client-chosen.42")
	if got := r.header.Get("X-Request-Id"); got != "client-chosen.42" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	r = e.call("GET", "/v1/units", e.admin.token, nil, "X-Request-Id", "bad id with spaces")
	if got := r.header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Errorf("X-Request-Id %q, want a fresh one", got)
	}
	p := e.problem(e.call("GET", "/v1/units", "", nil, "X-Request-Id", "trace-1"), 401, "unauthenticated")
	if p.RequestID != "trace-1" {
		t.Errorf("problem request_id %q", p.RequestID)
	}
	// The request log has one JSON line per request, with the route pattern
	// and the request id, and never the token.
	logs := e.logs.String()
	if !strings.Contains(logs, `"request_id":"client-chosen.42"`) || !strings.Contains(logs, `"route":"/v1/units"`) {
		t.Errorf("request log lacks the request id or route:\n%s", logs)
	}
	if strings.Contains(logs, e.admin.token) || strings.Contains(logs, e.admin.token[4:20]) {
		t.Errorf("the log holds the token")
	}
}

func TestDecodingErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := `{"code":"BIG","scale":2,"name":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name, body string
		status     int
		typ, field string
	}{
		{"malformed JSON", `{"code": "HOUR",`, 400, "malformed-request", ""},
		{"syntax error", `{"code" "HOUR"}`, 400, "malformed-request", ""},
		{"not an object", `["HOUR"]`, 400, "malformed-request", ""},
		{"empty", ``, 400, "malformed-request", ""},
		{"trailing data", `{"code":"HOUR","scale":2} {}`, 400, "malformed-request", ""},
		{"unknown field", `{"code":"HOUR","scale":2,"colour":"red"}`, 400, "malformed-request", "colour"},
		{"too large", big, 413, "body-too-large", ""},
		{"wrong type", `{"code":"HOUR","scale":"two"}`, 422, "validation-failed", "scale"},
		{"missing fields", `{"name":"x"}`, 422, "validation-failed", "code"},
		{"scale out of range", `{"code":"HOUR","scale":19}`, 422, "validation-failed", "scale"},
		{"ledger's own rule", `{"code":"hour","scale":2}`, 422, "invalid-request", "code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.problem(e.call("POST", "/v1/units", e.admin.token, tc.body), tc.status, tc.typ)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("problem does not name field %q: %+v", tc.field, p.Errors)
			}
		})
	}
	p := e.problem(e.call("POST", "/v1/units", e.admin.token, `{"name":"x"}`), 422, "validation-failed")
	if !hasField(p, "code") || !hasField(p, "scale") {
		t.Errorf("both missing fields should be listed: %+v", p.Errors)
	}
	r := e.call("POST", "/v1/units", e.admin.token, `{"code":"HOUR","scale":2}`, "Content-Type", "text/plain")
	e.problem(r, 415, "unsupported-media-type")
	// Nothing was created by any of them.
	units := e.must(e.call("GET", "/v1/units", e.admin.token, nil), 200)["items"].([]any)
	if len(units) != 0 {
		t.Errorf("refused requests created units: %v", units)
	}
}

func TestInternalErrorsSayNothing(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(c *httpapi.Config) {
		c.Authority = failingAuthority{c.Authority}
	})
	r := e.call("GET", "/v1/units", e.admin.token, nil, "X-Request-Id", "boom-1")
	p := e.problem(r, 500, "internal")
	if p.Detail != "internal error (request id boom-1)" {
		t.Errorf("detail %q", p.Detail)
	}
	if strings.Contains(string(r.body), "relation") {
		t.Errorf("the problem leaks the error: %s", r.body)
	}
	if !strings.Contains(e.logs.String(), `relation \"tokens\" does not exist`) {
		t.Errorf("the real error is not in the log:\n%s", e.logs.String())
	}
}

// failingAuthority fails like a database that lost a table.
type failingAuthority struct{ httpapi.Authority }

func (failingAuthority) Authenticate(context.Context, string) (exchange.Principal, error) {
	return exchange.Principal{}, errors.New(`ERROR: relation "tokens" does not exist (SQLSTATE 42P01)`)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.must(w.call("POST", "/v1/transfers", w.admin.token, map[string]any{
		"postings": []any{posting(w.bankUSD, w.coopUSD, "10.00", "USD")}}), 201)
	w.call("GET", "/v1/accounts/"+uuid.NewString(), w.admin.token, nil)
	r := w.call("GET", "/metrics", "", nil)
	if r.status != 200 {
		t.Fatalf("GET /metrics: %d", r.status)
	}
	body := string(r.body)
	for _, want := range []string{
		`mutual_http_requests_total{method="POST",route="/v1/transfers",status="201"} 1`,
		`mutual_http_requests_total{method="GET",route="/v1/accounts/{id}",status="404"} 1`,
		`mutual_http_request_duration_seconds_bucket{method="POST",route="/v1/transfers",le="+Inf"} 1`,
		"mutual_transfers_posted_total 1",
		"mutual_tx_retries_total ",
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
