package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/internal/testclock"
	"github.com/mutual-ledger/mutual/ledger"
)

// FuzzListQuery sends arbitrary query strings to every list and search
// endpoint of the real server, on a real database holding a little of
// everything, as the admin and as a member: no answer is a 5xx, every
// refusal is a problem, and every answer matches the OpenAPI document.
func FuzzListQuery(f *testing.F) {
	fx := newFuzzServer(f)
	srv, adminToken, anaToken, tb, listing, accID := fx.srv, fx.adminToken, fx.anaToken, fx.tb, fx.listing, fx.accID

	paths := []string{
		"/v1/listings", "/v1/listings/" + listing.ID.String() + "/matches", "/v1/transfers", "/v1/agreements",
		"/v1/trades", "/v1/me/notifications", "/v1/funds", "/v1/orgs", "/v1/orgs/" + tb.ID.String() + "/members",
		"/v1/accounts/" + accID + "/entries", "/v1/accounts/" + accID + "/balance", "/v1/orgs/" + tb.ID.String() + "/statement",
		"/v1/units", "/v1/categories", "/v1/funds/" + tb.ID.String() + "/grants",
	}
	seeds := []struct {
		path              uint8
		key, value, extra string
	}{
		{0, "q", "bike", "kind=offer&category=repairs&lat=40&lon=-3&radius_km=10"},
		{0, "category", "\x00", ""}, {0, "q", "\xff\xfe", ""}, {0, "lat", "NaN", "lon=Inf&radius_km=-1"},
		{0, "from", "2026-03-01T09:00:00Z", "to=1999-01-01T00:00:00Z"}, {0, "org", tb.ID.String(), "limit=1000"},
		{1, "limit", "0", ""}, {2, "account", accID, "limit=1"}, {3, "status", "accepted", "listing=x"},
		{4, "org", tb.ID.String(), ""}, {5, "unread", "true", ""}, {6, "after", "ZnVuZHM6eA", ""},
		{7, "limit", "1", "after=b3Jnczp4"}, {9, "after", "ZW50cmllczox", ""}, {10, "at", "2026-03-01T09:00:00Z", ""},
		{11, "from", "2026-01-01T00:00:00Z", "to=2026-12-31T00:00:00Z"}, {12, "x", "\u202e", ""}, {13, "a%zz", "b", "%zz;x"},
		{0, "q", strings.Repeat("a", 5000), ""}, {0, "q", "%_\\", "category=%"},
	}
	for _, s := range seeds {
		f.Add(s.path, false, s.key, s.value, s.extra)
		f.Add(s.path, true, s.key, s.value, s.extra)
	}
	f.Fuzz(func(t *testing.T, which uint8, asAdmin bool, key, value, extra string) {
		path := paths[int(which)%len(paths)]
		query := url.Values{key: {value}}.Encode()
		if extra != "" {
			query += "&" + requestLineSafe(extra)
		}
		token := anaToken
		if asAdmin {
			token = adminToken
		}
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+token)
		client := &http.Client{Transport: &checkingTransport{t: t, spec: theSpec(t), next: http.DefaultTransport}}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("GET %s?%s: %d %s", path, query, res.StatusCode, body)
		}
		if res.StatusCode >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("GET %s?%s: %d with %q: %s", path, query, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	})
}

// fuzzServer is the real server on a real database holding a little of
// everything: a time bank with a member, Ana, an offer of hers, her hours
// account, the time bank's pool, and a transfer between them.
type fuzzServer struct {
	srv                  *httptest.Server
	adminToken, anaToken string
	tb                   exchange.Org
	listing              exchange.Listing
	accID, poolID        string
}

func newFuzzServer(f *testing.F) *fuzzServer {
	ctx := context.Background()
	pool := dbtest.New(f)
	db, err := pgtx.New(ctx, pool)
	if err != nil {
		f.Fatal(err)
	}
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	led := ledger.NewStore(db, ledger.Config{Now: c.Now})
	ex := exchange.NewStore(db, led, exchange.Config{Now: c.Now})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ledger: led, Authority: ex, Now: c.Now}))
	f.Cleanup(srv.Close)
	network, _, _, adminToken, _, err := ex.Bootstrap(ctx, "Network")
	if err != nil {
		f.Fatal(err)
	}
	tb, err := ex.CreateOrg(ctx, exchange.System(), exchange.NewOrg{Name: "Time bank", Kind: exchange.KindTimebank, ParentID: &network.ID})
	if err != nil {
		f.Fatal(err)
	}
	ana, err := ex.CreateMember(ctx, exchange.System(), exchange.NewMember{Name: "Ana"})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := ex.AddMembership(ctx, exchange.System(), tb.ID, ana.ID, exchange.RoleMember); err != nil {
		f.Fatal(err)
	}
	_, anaToken, err := ex.CreateToken(ctx, exchange.Principal{MemberID: ana.ID}, ana.ID, "fuzz", nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := led.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2, Name: "Hours"}); err != nil {
		f.Fatal(err)
	}
	listing, err := ex.CreateListing(ctx, exchange.System(), exchange.NewListing{OrgID: tb.ID, Owner: ana.ID, Kind: exchange.Offer, Title: "Bike repair",
		Category: "repairs", Quantity: decimal.NewFromInt(2), Place: exchange.Point{Lat: 40, Lon: -3}, Visibility: exchange.VisibilityPublic})
	if err != nil {
		f.Fatal(err)
	}
	// An account with an entry, through the API as the admin.
	acc := httpCall(f, srv.URL, "POST", "/v1/accounts", adminToken, `{"owner":{"member":"`+ana.ID.String()+`"},"unit":"HOUR","kind":"member","lower_bound":"-20"}`)
	pool2 := httpCall(f, srv.URL, "POST", "/v1/accounts", adminToken, `{"owner":{"org":"`+tb.ID.String()+`"},"unit":"HOUR","kind":"pool"}`)
	accID, poolID := jsonField(acc, "id"), jsonField(pool2, "id")
	httpCall(f, srv.URL, "POST", "/v1/transfers", adminToken, `{"postings":[{"from":"`+accID+`","to":"`+poolID+`","amount":"1.5","unit":"HOUR"}],"memo":"fuzz"}`)

	return &fuzzServer{srv: srv, adminToken: adminToken, anaToken: anaToken, tb: tb, listing: listing, accID: accID, poolID: poolID}
}

// FuzzTransferBody posts arbitrary memos and metadata in a transfer that
// is otherwise valid, and arbitrary bodies, to the real server: no answer
// is a 5xx (text and JSON the database cannot store included), every
// refusal is a problem, and every answer matches the OpenAPI document.
func FuzzTransferBody(f *testing.F) {
	fx := newFuzzServer(f)
	for _, s := range []struct{ memo, metadata, raw string }{
		{`"fuzz"`, `{"a":"b"}`, ""}, {`"a\u0000"`, `{}`, ""}, {`"ok"`, `{"n":1e1000000}`, ""},
		{`"ok"`, `{"n":-1e-16384,"m":[0.5,{"x":null}]}`, ""}, {`"\u202e"`, `{"k":"\ud83d\ude00"}`, ""},
		{`"ok"`, `[1]`, ""}, {`"ok"`, `"str"`, ""}, {`"ok"`, `{"a":1,"a":2}`, ""}, {"\"\xff\"", `{"\u0000":1}`, ""},
		{"", "", `{"postings":[{"from":"x","to":"y","amount":"1e2","unit":"HOUR"}]}`},
		{"", "", `{"postings":[{"from":"` + fx.accID + `","to":"` + fx.poolID + `","amount":"0.001","unit":"HOUR"}]}`},
	} {
		f.Add(s.memo, s.metadata, s.raw)
	}
	f.Fuzz(func(t *testing.T, memo, metadata, raw string) {
		body := raw
		if body == "" {
			body = `{"postings":[{"from":"` + fx.accID + `","to":"` + fx.poolID + `","amount":"0.01","unit":"HOUR"}],"memo":` + memo + `,"metadata":` + metadata + `}`
		}
		req, err := http.NewRequest("POST", fx.srv.URL+"/v1/transfers", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+fx.adminToken)
		req.Header.Set("Content-Type", "application/json")
		client := &http.Client{Transport: &checkingTransport{t: t, spec: theSpec(t), next: http.DefaultTransport}}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("POST /v1/transfers %q: %d %s", body, res.StatusCode, got)
		}
		if res.StatusCode >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("POST /v1/transfers %q: %d with %q: %s", body, res.StatusCode, res.Header.Get("Content-Type"), got)
		}
	})
}

// requestLineSafe percent-encodes what cannot stand in a request line
// (spaces, controls, #, bytes beyond ASCII), keeping the rest as the
// fuzzer wrote it, malformed escapes included.
func requestLineSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '#' {
			b.WriteString(url.QueryEscape(string([]byte{c})))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// httpCall sends a request that must succeed and returns its body.
func httpCall(tb testing.TB, base, method, path, token, body string) []byte {
	tb.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		tb.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return b
}

// jsonField returns a top-level string field of a JSON object.
func jsonField(body []byte, name string) string {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return ""
	}
	s, _ := m[name].(string)
	return s
}
