package idempotency_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/idempotency"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/internal/testclock"
)

// TestBeginWhoseClientLeavesAtCommitHoldsNothing: a request's client goes
// away (a phone loses its signal) while the COMMIT of its key's reservation
// is on the wire. The reservation commits, but the answer never reaches the
// server, and asking the database what happened cannot be done on the
// request's context, which has ended. Begin must not leave the key reserved
// for a request that will never run: the client's retry reserves it and
// runs. Before Begin released such a reservation, every retry was told
// "in progress" for as long as the server lived.
func TestBeginWhoseClientLeavesAtCommitHoldsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	p := startCommitHolder(t, url)
	db, err := pgtx.New(ctx, p.pool(t, url))
	if err != nil {
		t.Fatal(err)
	}
	c := testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := idempotency.New(db, idempotency.Config{Now: c.Now, TTL: time.Hour})
	if err := s.Register(ctx); err != nil {
		t.Fatal(err)
	}
	member, hash := uuid.New(), []byte("h")

	held := p.holdNextCommit()
	reqCtx, leave := context.WithCancel(ctx)
	begun := make(chan error, 1)
	go func() {
		_, reserved, err := s.Begin(reqCtx, member, "phone", hash)
		if reserved {
			err = errors.New("reserved the key for a request whose client had gone")
		}
		begun <- err
	}()
	select {
	case <-held: // the reservation committed; its answer is held back
	case err := <-begun:
		t.Fatalf("Begin returned (%v) before its COMMIT was answered", err)
	}
	leave()
	if err := <-begun; err == nil || !errors.Is(err, pgtx.ErrAmbiguousCommit) {
		t.Fatalf("Begin whose COMMIT went unanswered returned %v; want an error matching ErrAmbiguousCommit", err)
	}
	if db.Stats().Ambiguous == 0 {
		t.Fatal("the reservation's COMMIT was not ambiguous: the test did not test the lost answer")
	}

	// The client's retry, on the same live server, runs the request.
	rec, reserved, err := s.Begin(ctx, member, "phone", hash)
	if err != nil || !reserved {
		t.Fatalf("the retry: reserved %v (state %q), %v; want the key free, not in progress for a request that never ran", reserved, rec.State, err)
	}
	if err := s.Complete(ctx, rec, idempotency.Response{Status: 201, Body: []byte("made once")}); err != nil {
		t.Fatal(err)
	}
	if got, reserved, err := s.Begin(ctx, member, "phone", hash); err != nil || reserved || got.State != idempotency.Done || string(got.Body) != "made once" {
		t.Fatalf("after the retry completed: %+v reserved %v, %v", got, reserved, err)
	}
}

// commitHolder forwards PostgreSQL connections and, when asked, holds back
// the server's answer to the next COMMIT (RELEASE on CockroachDB, where that
// is the commit): the transaction commits, and the client waits for an
// answer that never comes until it gives up. It parses only the messages
// the server sends (sslmode=disable: every one is typed), and forwards the
// client's untouched.
type commitHolder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	hold   chan struct{} // closed once a COMMIT's answer is held; nil when not armed
}

func startCommitHolder(t *testing.T, url string) *commitHolder {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &commitHolder{ln: ln, target: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { p.serve(c) })
		}
	}()
	return p
}

// pool returns a pool that connects through the holder.
func (p *commitHolder) pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	return dbtest.PoolVia(t, url, p.ln.Addr().(*net.TCPAddr), nil)
}

// holdNextCommit arms the holder; the channel is closed once the answer to
// a COMMIT has been held back.
func (p *commitHolder) holdNextCommit() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = make(chan struct{})
	return p.hold
}

// taking reports whether the answer tagged tag is to be held, disarming.
func (p *commitHolder) taking(tag string) bool {
	if tag != "COMMIT" && !strings.HasPrefix(tag, "RELEASE") {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold == nil {
		return false
	}
	close(p.hold)
	p.hold = nil
	return true
}

func (p *commitHolder) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		io.Copy(server, client)
		server.Close()
	}()
	head := make([]byte, 5)
	for {
		if _, err := io.ReadFull(server, head); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
		if _, err := io.ReadFull(server, body); err != nil {
			return
		}
		if head[0] == 'C' && p.taking(strings.TrimRight(string(body), "\x00")) {
			// Nothing more reaches the client; it gives up and closes.
			io.Copy(io.Discard, server)
			return
		}
		if _, err := client.Write(append(head, body...)); err != nil {
			return
		}
	}
}
