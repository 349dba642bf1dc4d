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
	// still reading its header holds at most about MaxHeaderBytes plus
	// Go's buffers (some 50 KiB in all), so 1024 of them stay near 50 MiB.
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
	// MaxHeaderBytes bounds the request line and headers: a longer one is
	// answered 431 (a problem) and the connection closed.
	MaxHeaderBytes int
	// MaxConns bounds the connections served at once. When they are all
	// taken, an idle kept-alive connection is closed to make room, and
	// otherwise a new connection waits (in the kernel's accept queue)
	// until one ends; a slow header sender ends within ReadHeaderTimeout.
	// A client sees a delay, not a refusal, as long as the kernel's queue
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
	idle     *idleSet
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
	s := &Server{maxConns: cfg.MaxConns, log: cfg.Logger, idle: &idleSet{conns: make(map[net.Conn]struct{}), ready: make(chan struct{}, 1)}}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnState:         s.idle.track,
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
		idle:           s.idle,
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
// wait in the kernel's accept queue. When every slot is taken, one idle
// kept-alive connection is closed to make room, so that clients sitting
// idle cannot keep others out for the whole idle timeout.
type limitListener struct {
	net.Listener
	slots          chan struct{} // one token per open connection
	idle           *idleSet
	log            *slog.Logger
	maxHeaderBytes int           // for the 431 problem's detail
	done           chan struct{} // closed by Close, to end a waiting Accept
	closeOnce      sync.Once
	lastWarn       time.Time // only Accept's goroutine touches it
}

// Accept takes the next connection from the kernel's queue, then waits for
// a free slot for it. Taking it first means an idle connection is closed
// only for a client that is really there; the one connection waiting here
// holds a file and nothing else.
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

// wait waits for a free slot, closing one idle connection to make one: the
// first idle now, or the first to become idle while it waits (a client
// that just got its answer is not idle yet).
func (l *limitListener) wait() error {
	evicted := false
	for {
		if !evicted {
			evicted = l.idle.closeOne()
		}
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.idle.ready:
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

// idleSet is the set of connections idle between two requests, kept from
// the server's ConnState hook.
type idleSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	ready chan struct{} // signalled (capacity 1) when a connection becomes idle
}

func (s *idleSet) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == http.StateIdle {
		s.conns[c] = struct{}{}
		select {
		case s.ready <- struct{}{}:
		default:
		}
	} else {
		delete(s.conns, c)
	}
}

// closeOne closes one idle connection, if any, and says whether it did. A client whose request
// crosses the close sees its kept-alive connection end before any answer,
// as at the idle timeout; HTTP clients retry such requests on a new
// connection when they are idempotent.
func (s *idleSet) closeOne() bool {
	s.mu.Lock()
	var victim net.Conn
	for c := range s.conns {
		victim = c
		delete(s.conns, c)
		break
	}
	s.mu.Unlock()
	if victim == nil {
		return false
	}
	victim.Close()
	return true
}
