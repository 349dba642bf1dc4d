package httpapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// The server's defaults. See ServerConfig.
const (
	// DefaultMaxHeaderBytes bounds a request's line and headers. 32 KiB
	// holds what real clients send (a bearer token is under 100 bytes; a
	// browser's cookies for one site stay within a few KiB, each cookie at
	// most 4 KiB) with room to spare: it is Cloudflare's limit for a whole
	// request header and twice Node.js's default. Go's own default, 1 MiB,
	// lets every unauthenticated connection pin a megabyte.
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultMaxConns bounds the connections open at once. A connection
	// stalled just under the header limit makes the server hold about
	// 90 KiB (the header as read and as parsed, Go's buffers, its
	// goroutine), so 1024 of them hold under 100 MiB: measured by
	// cmd/mutual's TestHeaderFloodKeepsMemoryBounded.
	DefaultMaxConns = 1024
	// DefaultReadHeaderTimeout is how long a client has to send its whole
	// request line and headers: a slow sender (Slowloris) is cut after it
	// and its connection slot freed.
	DefaultReadHeaderTimeout = 5 * time.Second
)

// The other timeouts bound a whole exchange: reading the body, writing the
// answer, and how long a kept-alive connection may sit idle.
const (
	readTimeout  = 30 * time.Second
	writeTimeout = 60 * time.Second
	idleTimeout  = 2 * time.Minute
)

// ServerConfig is what a Server is built from; zero fields take the
// defaults above.
type ServerConfig struct {
	// MaxHeaderBytes bounds the request line and headers (net/http lets
	// them run 4 KiB over it): a longer one is answered 431 (a problem)
	// and the connection closed.
	MaxHeaderBytes int
	// MaxConns bounds the connections served at once. When they are all
	// taken, a new connection waits (in the kernel's accept queue) until
	// one ends or is closed to make room: an idle kept-alive one at once,
	// or one still sending its first header after a second. A client sees
	// a delay, not a refusal, as long as the kernel's queue
	// (net.core.somaxconn) has room.
	MaxConns int
	// ReadHeaderTimeout bounds the time to read a request's line and
	// headers.
	ReadHeaderTimeout time.Duration
	// Logger receives the requests refused before they reached the handler
	// (unparseable, headers too large), the connection limit being reached
	// and net/http's own errors; nil discards them.
	Logger *slog.Logger
}

// Server serves the API over HTTP/1.1 with the limits a public server
// needs: timeouts (ReadHeaderTimeout against clients that trickle headers),
// a bound on the header size and one on the connections open at once. The
// answers net/http writes itself, before any handler runs (431, 400 for a
// malformed request, 501, 505, 417), are rewritten as problems like every
// other error (see edgeConn).
type Server struct {
	http     *http.Server
	maxConns int
	log      *slog.Logger
	conns    *connSet
}

// NewServer returns a Server for handler; Serve starts it.
func NewServer(handler http.Handler, cfg ServerConfig) *Server {
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{maxConns: cfg.MaxConns, log: cfg.Logger, conns: newConnSet()}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnState:         s.conns.track,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Serve accepts connections on ln, at most MaxConns at once, and serves
// each until Shutdown or Close; it returns http.ErrServerClosed then, and
// closes ln.
func (s *Server) Serve(ln net.Listener) error {
	return s.http.Serve(&limitListener{
		Listener:       ln,
		slots:          make(chan struct{}, s.maxConns),
		conns:          s.conns,
		log:            s.log,
		maxHeaderBytes: s.http.MaxHeaderBytes,
		done:           make(chan struct{}),
	})
}

// Shutdown stops accepting connections and waits for the requests in
// flight to finish, or for ctx to end (then it returns ctx's error and the
// caller may Close).
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.http.Close() }

// limitListener hands the server at most cap(slots) connections at once:
// past that, a new connection waits for one to end, and the ones after it
// wait in the kernel's accept queue. To make room for a client that is
// waiting, it closes a connection that holds a slot for nothing: one idle
// between two requests, or else one that has been sending its first
// header for over a second (see conns.evict), so that neither idle
// clients nor slow header senders keep others out for a whole timeout.
type limitListener struct {
	net.Listener
	slots          chan struct{} // one token per open connection
	conns          *connSet
	log            *slog.Logger
	maxHeaderBytes int           // for the 431 problem's detail
	done           chan struct{} // closed by Close, to end a waiting Accept
	closeOnce      sync.Once
	lastWarn       time.Time // only Accept's goroutine touches it
}

// Accept takes the next connection from the kernel's queue, then waits for
// a free slot for it. Taking it first means a connection is closed to make
// room only for a client that is really there; the one connection waiting
// here holds a file and nothing else.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		// Full. Say so now and then, for the operator: a flood, or a
		// limit set too low.
		if now := time.Now(); now.Sub(l.lastWarn) > time.Minute {
			l.lastWarn = now
			l.log.Warn("connection limit reached: new connections wait for one to end", "max_connections", cap(l.slots))
		}
		if err := l.wait(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return &edgeConn{Conn: c, release: func() { <-l.slots }, log: l.log, maxHeaderBytes: l.maxHeaderBytes}, nil
}

// wait waits for a free slot, closing one connection to make one as soon
// as one may be closed: now, when a connection becomes idle, or when a
// slow header sender has had its second.
func (l *limitListener) wait() error {
	tick := time.NewTicker(stalledAfter / 4)
	defer tick.Stop()
	evicted := false
	for {
		if !evicted {
			evicted = l.conns.evict(time.Now())
		}
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.conns.idled:
		case <-tick.C:
		case <-l.done:
			return net.ErrClosed
		}
	}
}

// Close closes the listener and ends an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// stalledAfter is how long a connection may take to send its first
// request's header before, when the slots are full, it may be closed to
// make room. A client's header, a few hundred bytes, takes milliseconds
// even on a slow mobile link; a Slowloris sender trickles for the whole
// ReadHeaderTimeout.
const stalledAfter = time.Second

// connSet follows the connections through the server's ConnState hook:
// those still waiting for their first request (StateNew, with the time
// they arrived) and those idle between two requests.
type connSet struct {
	mu    sync.Mutex
	fresh map[net.Conn]time.Time
	idle  map[net.Conn]struct{}
	idled chan struct{} // signalled (capacity 1) when a connection becomes idle
}

func newConnSet() *connSet {
	return &connSet{fresh: make(map[net.Conn]time.Time), idle: make(map[net.Conn]struct{}), idled: make(chan struct{}, 1)}
}

func (s *connSet) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fresh, c)
	delete(s.idle, c)
	switch state {
	case http.StateNew:
		s.fresh[c] = time.Now()
	case http.StateIdle:
		s.idle[c] = struct{}{}
		select {
		case s.idled <- struct{}{}:
		default:
		}
	}
}

// evict closes one connection that holds a slot for nothing, and says
// whether it did: an idle one, or else the oldest still sending its first
// header after stalledAfter. A client whose next request crosses the close
// of its idle connection sees it end before any answer, as at the idle
// timeout; HTTP clients retry such requests on a new connection when they
// are idempotent.
func (s *connSet) evict(now time.Time) bool {
	s.mu.Lock()
	var victim net.Conn
	for c := range s.idle {
		victim = c
		delete(s.idle, c)
		break
	}
	if victim == nil {
		var oldest time.Time
		for c, since := range s.fresh {
			if now.Sub(since) >= stalledAfter && (victim == nil || since.Before(oldest)) {
				victim, oldest = c, since
			}
		}
		delete(s.fresh, victim)
	}
	s.mu.Unlock()
	if victim == nil {
		return false
	}
	victim.Close()
	return true
}
