package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/browsertest"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
	"github.com/mutual-ledger/mutual/web"
)

// browser is the one Chromium the package's tests share.
var browser = browsertest.New()

func TestMain(m *testing.M) {
	code := dbtest.Run(m)
	browser.Close()
	os.Exit(code)
}

// env is the pages served over real HTTP on a fresh database, with the
// real exchange deciding, and a network whose admin may invite.
type env struct {
	t   *testing.T
	srv *httptest.Server
	// site is the server's URL by name (http://localhost:PORT), the
	// public URL passkeys belong to: a browser refuses them on an IP
	// address.
	site    string
	ex      *exchange.Store
	db      *pgtx.DB
	network exchange.Org
	admin   exchange.Principal
	logs    *strings.Builder
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with a hook to change the pages' Config.
func newEnvWith(t *testing.T, change func(*web.Config)) *env {
	t.Helper()
	return newEnvOn(t, dbtest.New(t), change)
}

// newEnvOn is newEnvWith on a pool of the caller's (a fresh database's).
func newEnvOn(t *testing.T, pool *pgxpool.Pool, change func(*web.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := pgtx.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.NewStore(db, ledger.Config{})
	ex := exchange.NewStore(db, led, exchange.Config{})
	logs := &strings.Builder{}
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(nil)
	site := "http://localhost:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	cfg := web.Config{Exchange: ex, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil)), PublicURL: site}
	if change != nil {
		change(&cfg)
	}
	pages, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = pages
	srv.Start()
	t.Cleanup(srv.Close)
	network, _, _, secret, _, err := ex.Bootstrap(ctx, "Network")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ex.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("the pages logged an error:\n%s", logs.String())
		}
	})
	return &env{t: t, srv: srv, site: site, ex: ex, db: db, network: network, admin: admin, logs: logs}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// timebank creates a time bank under the network.
func (e *env) timebank(name string) exchange.Org {
	e.t.Helper()
	o, err := e.ex.CreateOrg(context.Background(), exchange.System(), exchange.NewOrg{Name: name, Kind: exchange.KindTimebank, ParentID: &e.network.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// invite invites a member into org and returns the link's secret and code.
func (e *env) invite(org exchange.Org) (secret, code string) {
	e.t.Helper()
	_, secret, code, err := e.ex.Invite(context.Background(), e.admin, exchange.NewInvitation{OrgID: org.ID, Role: exchange.RoleMember})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret, code
}

// count counts the rows of a table.
func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	// table is one of the tests' constants, never input.
	if err := e.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// memberNamed returns the id of the member with a name.
func (e *env) memberNamed(name string) uuid.UUID {
	e.t.Helper()
	var id uuid.UUID
	if err := e.db.Pool.QueryRow(context.Background(), "SELECT id FROM members WHERE name = $1", name).Scan(&id); err != nil {
		e.t.Fatalf("member %q: %v", name, err)
	}
	return id
}

// catalogues are the messages as the files hold them, for what a test
// expects a person to read.
var catalogues = sync.OnceValue(func() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, code := range []string{"en", "es", "fr"} {
		b, err := os.ReadFile("locales/" + code + ".json")
		if err != nil {
			panic(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			panic(err)
		}
		out[code] = m
	}
	return out
})

// msg returns a message's text in a language, with {{.Name}}-style
// arguments filled from args pairs (enough for the tests' messages).
func msg(t testing.TB, lang, id string, args ...string) string {
	t.Helper()
	v, ok := catalogues()[lang][id]
	if !ok {
		t.Fatalf("no message %s in %s", id, lang)
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("message %s is a plural", id)
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{{."+args[i]+"}}", args[i+1])
	}
	return s
}

// client is a plain HTTP client with a cookie jar, that does not follow
// redirects (the tests look at them).
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches a page with a client and returns its status and body.
func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// post submits a form with a client, as a browser on the same site does.
func post(t *testing.T, c *http.Client, u string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// do runs browser steps and fails the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("in the browser (at %s): %v", loc, err)
	}
}

// text returns the text of the first element a CSS selector matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// attr returns an attribute of the first element a CSS selector matches,
// "" when it has none.
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[*string](`(() => { const e = document.querySelector(`+quote(sel)+`); return e ? e.getAttribute(`+quote(name)+`) : null })()`))
	if err != nil {
		t.Fatalf("reading %s[%s]: %v", sel, name, err)
	}
	if v == nil {
		return ""
	}
	return *v
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// location returns the path (and query) the browser shows.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}
