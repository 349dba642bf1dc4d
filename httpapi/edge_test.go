package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/httpapi"
)

// edge is the API served by httpapi.NewServer on a real listener, as
// `mutual serve` serves it (httptest's server has none of its limits).
type edge struct {
	*env
	addr string
}

func newEdge(t *testing.T, cfg httpapi.ServerConfig) *edge {
	t.Helper()
	e := newEnv(t)
	h := httpapi.New(httpapi.Config{Ledger: e.led, Authority: e.ex, Now: e.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))})
	cfg.Logger = slog.New(slog.NewJSONHandler(e.logs, nil))
	srv := httpapi.NewServer(h, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return &edge{env: e, addr: ln.Addr().String()}
}

// raw writes req on a new connection and reads the answer, with its body.
func (ed *edge) raw(req string) (resp, error) {
	c, err := net.DialTimeout("tcp", ed.addr, 5*time.Second)
	if err != nil {
		return resp{}, err
	}
	defer c.Close()
	return exchangeOn(c, req)
}

func exchangeOn(c net.Conn, req string) (resp, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return resp{}, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.Close {
		// ReadResponse takes "Connection: close" out of the header.
		res.Header.Set("Connection", "close")
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, err
}

// TestRefusedRequestsAreProblems sends, over raw TCP, the requests net/http
// refuses before any handler runs, and the ones its mux would redirect or
// answer in text: every one must come back as a problem, and none as a
// redirect.
func TestRefusedRequestsAreProblems(t *testing.T) {
	t.Parallel()
	ed := newEdge(t, httpapi.ServerConfig{})
	const host = "Host: mutual.test\r\n"
	big := strings.Repeat("a", httpapi.DefaultMaxHeaderBytes+8<<10)
	tests := []struct {
		name, req string
		status    int
		typ       string
		closes    bool // net/http closes the connection after this answer
	}{
		{"header too large", "GET /healthz HTTP/1.1\r\n" + host + "Cookie: " + big + "\r\n\r\n", 431, "header-too-large", true},
		{"URL too long", "GET /v1/units?q=" + big + " HTTP/1.1\r\n" + host + "\r\n", 431, "header-too-large", true},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "malformed-request", true},
		{"malformed Host", "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "malformed-request", true},
		{"invalid header name", "GET /healthz HTTP/1.1\r\n" + host + "Bad Name: x\r\n\r\n", 400, "malformed-request", true},
		{"invalid header value", "GET /healthz HTTP/1.1\r\n" + host + "X-A: a\x01b\r\n\r\n", 400, "malformed-request", true},
		{"header line without colon", "GET /healthz HTTP/1.1\r\n" + host + "nonsense\r\n\r\n", 400, "malformed-request", true},
		{"garbage request line", "hello there\r\n\r\n", 400, "malformed-request", true},
		{"bad percent-encoding", "GET /v1/%zz HTTP/1.1\r\n" + host + "\r\n", 400, "malformed-request", true},
		{"two Content-Lengths", "POST /v1/units HTTP/1.1\r\n" + host + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "malformed-request", true},
		{"unknown transfer coding", "POST /v1/units HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 501, "unsupported-transfer-encoding", true},
		{"HTTP/3.0", "GET /healthz HTTP/3.0\r\n" + host + "\r\n", 505, "http-version-not-supported", true},
		{"Expect other than 100-continue", "GET /healthz HTTP/1.1\r\n" + host + "Expect: teapot\r\n\r\n", 417, "expectation-failed", true},

		// The mux would redirect these to the cleaned path.
		{"double slash", "GET //v1/units HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},
		{"empty segment", "GET /v1//units HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},
		{"dot segment", "GET /v1/./units HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},
		{"dot-dot segment", "GET /v1/../v1/units HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},
		{"trailing dot-dot", "GET /healthz/.. HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},
		{"absolute form, double slash", "GET http://mutual.test//v1/units HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},
		{"POST to a double slash", "POST //v1/transfers HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\n{}", 404, "not-found", false},
		{"trailing slash", "GET /v1/units/ HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},

		// Methods the routes do not have.
		{"OPTIONS", "OPTIONS /v1/units HTTP/1.1\r\n" + host + "\r\n", 405, "method-not-allowed", false},
		{"CONNECT to a path", "CONNECT /v1/units HTTP/1.1\r\n" + host + "\r\n", 405, "method-not-allowed", false},
		{"CONNECT to a host", "CONNECT mutual.test:443 HTTP/1.1\r\n" + host + "\r\n", 404, "not-found", false},
		{"TRACE", "TRACE /healthz HTTP/1.1\r\n" + host + "\r\n", 405, "method-not-allowed", false},
		{"unknown method", "BREW /v1/units HTTP/1.1\r\n" + host + "\r\n", 405, "method-not-allowed", false},
		{"lower-case method", "get /v1/units HTTP/1.1\r\n" + host + "\r\n", 405, "method-not-allowed", false},
		{"DELETE", "DELETE /healthz HTTP/1.1\r\n" + host + "\r\n", 405, "method-not-allowed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ed.raw(tt.req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("redirected to %q", loc)
			}
			p := ed.problem(r, tt.status, tt.typ)
			if closes := r.header.Get("Connection") == "close"; closes != tt.closes {
				t.Errorf("Connection: close is %v, want %v", closes, tt.closes)
			}
			if r.header.Get("X-Request-Id") != p.RequestID {
				t.Errorf("X-Request-Id %q, problem's request_id %q", r.header.Get("X-Request-Id"), p.RequestID)
			}
			if !strings.Contains(ed.logs.String(), `"request_id":"`+p.RequestID+`"`) {
				t.Errorf("no log line for request %s", p.RequestID)
			}
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			t.Logf("%d %s", r.status, p.Detail)
		})
	}
}

// TestNoRouteEndsInASlash: the mux redirects /x to /x/ when a pattern ends
// in a slash; no route may, so that no API path is ever redirected.
func TestNoRouteEndsInASlash(t *testing.T) {
	for _, r := range httpapi.Routes() {
		if strings.HasSuffix(r, "/") {
			t.Errorf("route %q ends in a slash: the mux would redirect %s to it", r, strings.TrimSuffix(r, "/"))
		}
	}
}

// TestHeaderLimitFitsRealRequests: a request with a bearer token and a
// browser's worth of cookies (24 KiB) is served, under the default header
// limit.
func TestHeaderLimitFitsRealRequests(t *testing.T) {
	t.Parallel()
	ed := newEdge(t, httpapi.ServerConfig{})
	var cookies []string
	for i := range 6 {
		cookies = append(cookies, "c"+string(rune('a'+i))+"="+strings.Repeat("v", 4000))
	}
	r, err := ed.raw("GET /v1/me HTTP/1.1\r\nHost: mutual.test\r\nAuthorization: Bearer " + ed.admin.token +
		"\r\nCookie: " + strings.Join(cookies, "; ") + "\r\nConnection: close\r\n\r\n")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("a request with 24 KiB of cookies: %v %v", err, r)
	}
}

// TestConnectionLimitWaitsForSlowSenders fills the connection slots with
// clients that never finish their header: a new client is not refused, it
// is served once ReadHeaderTimeout has cut them.
func TestConnectionLimitWaitsForSlowSenders(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	ed := newEdge(t, httpapi.ServerConfig{MaxConns: 2, ReadHeaderTimeout: timeout})
	var slow []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ed.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: mutual.test\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	// Let the server accept both before the third arrives.
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	r, err := ed.raw("GET /healthz HTTP/1.1\r\nHost: mutual.test\r\nConnection: close\r\n\r\n")
	took := time.Since(start)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("the third client: %v %v", err, r)
	}
	if took < timeout/3 || took > 5*time.Second {
		t.Errorf("the third client was served after %v; want it to wait for a slow sender to be cut (~%v)", took, timeout)
	}
	// The slow senders were cut: reading gives EOF (or the 408 net/http
	// may write), not a timeout.
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("slow sender %d: %v; want the server to close its connection", i, err)
		}
	}
}

// TestConnectionLimitClosesStalledSenders: when the slots are held by
// clients that have been sending their first header for over a second, a
// new client gets one of them without waiting for ReadHeaderTimeout.
func TestConnectionLimitClosesStalledSenders(t *testing.T) {
	t.Parallel()
	ed := newEdge(t, httpapi.ServerConfig{MaxConns: 2, ReadHeaderTimeout: 20 * time.Second})
	var slow []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ed.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: mutual.test\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	start := time.Now()
	r, err := ed.raw("GET /healthz HTTP/1.1\r\nHost: mutual.test\r\nConnection: close\r\n\r\n")
	took := time.Since(start)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("the third client: %v %v", err, r)
	}
	if took > 5*time.Second {
		t.Errorf("the third client waited %v for a slot held by a stalled header sender", took)
	}
	closed := 0
	for _, c := range slow {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d stalled senders were closed for one new client; want 1", closed)
	}
}

// TestConnectionLimitClosesIdleConnections: when the slots are held by
// kept-alive connections sitting idle, a new client gets one of them at
// once (rather than after the two-minute idle timeout).
func TestConnectionLimitClosesIdleConnections(t *testing.T) {
	t.Parallel()
	ed := newEdge(t, httpapi.ServerConfig{MaxConns: 2})
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ed.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if r, err := exchangeOn(c, "GET /healthz HTTP/1.1\r\nHost: mutual.test\r\n\r\n"); err != nil || r.status != 200 {
			t.Fatalf("keep-alive request: %v %v", err, r)
		}
		idle = append(idle, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ed.addr+"/healthz", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a third client while two idle connections hold the slots: %v", err)
	}
	res.Body.Close()
	if took := time.Since(start); res.StatusCode != 200 || took > 2*time.Second {
		t.Fatalf("third client: status %d after %v", res.StatusCode, took)
	}
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			closed++
		}
	}
	if closed == 0 {
		t.Errorf("no idle connection was closed to make room")
	}
}
