package httpapi_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// dbProxy stands between the API and its database, so that a test can take
// the database away — every session cut, every new connection closed at
// once, as when the server is down — and bring it back.
type dbProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func startDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// track remembers an open connection, or closes it if the database is down.
func (p *dbProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *dbProxy) serve(client net.Conn) {
	if !p.track(client) {
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(server) {
		client.Close()
		return
	}
	go func() { io.Copy(server, client); server.Close() }()
	io.Copy(client, server)
	client.Close()
}

// setDown cuts every session and refuses new ones (down), or lets them in.
func (p *dbProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// TestDatabaseOutage: while the database is away, reads and writes (with and
// without an Idempotency-Key) answer 503 unavailable with Retry-After, never
// 500, and change nothing; once it is back, the same server serves again
// without a restart.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := startDBProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := newEnvOn(t, pool, nil)
	e.must(e.call("POST", "/v1/units", e.admin.token, map[string]any{"code": "HOUR", "scale": 2}), 201)

	p.setDown(true)
	time.Sleep(3 * time.Second) // past the cache of authenticated tokens
	for _, req := range []struct {
		method, path string
		body         any
		headers      []string
	}{
		{"GET", "/v1/units", nil, nil},
		{"POST", "/v1/units", map[string]any{"code": "KG", "scale": 3}, nil},
		{"POST", "/v1/units", map[string]any{"code": "KG", "scale": 3}, []string{"Idempotency-Key", "outage-1"}},
	} {
		r := e.call(req.method, req.path, e.admin.token, req.body, req.headers...)
		e.problem(r, 503, "unavailable")
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Errorf("%s %s with the database away: Retry-After %q; want 1", req.method, req.path, got)
		}
	}
	if r := e.call("GET", "/readyz", "", nil); r.status != 503 {
		t.Errorf("GET /readyz with the database away: %d; want 503", r.status)
	}

	p.setDown(false)
	// Connections the pool still holds died with the sessions; a request
	// that meets one may still get a 503, never anything else.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.call("GET", "/v1/units", e.admin.token, nil)
		if r.status == 200 {
			break
		}
		e.problem(r, 503, "unavailable")
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the database came back, GET /v1/units still fails: %s", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.must(e.call("GET", "/readyz", "", nil), 200)
	// The refused writes wrote nothing; the same key runs afresh.
	e.must(e.call("POST", "/v1/units", e.admin.token, map[string]any{"code": "KG", "scale": 3}, "Idempotency-Key", "outage-1"), 201)
	if n := len(e.must(e.call("GET", "/v1/units", e.admin.token, nil), 200)["items"].([]any)); n != 2 {
		t.Errorf("%d units after the outage; want 2 (HOUR and KG)", n)
	}
}
