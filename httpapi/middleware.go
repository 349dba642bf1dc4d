package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// authenticator authenticates the bearer token of a request.
// *exchange.Store implements it; see its methods of the same names for
// the errors.
type authenticator interface {
	// Authenticate returns the principal a bearer token stands for, or an
	// error matching exchange.ErrUnauthenticated (401).
	Authenticate(ctx context.Context, secret string) (exchange.Principal, error)
}

// The headers the API reads or sets.
const (
	headerRequestID      = "X-Request-Id"
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
)

// requestInfo is what the layers of one request tell each other: it rides in
// the request's context, and the outermost layer logs it.
type requestInfo struct {
	id        string
	principal *exchange.Principal // set once authenticated
	key       string              // the Idempotency-Key the request holds, if any
	replayed  bool                // the response is a stored one
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// principal returns the authenticated principal of a request. Only routes
// that are not public reach their endpoint, and those always have one.
func principal(r *http.Request) exchange.Principal {
	if p := infoFrom(r.Context()).principal; p != nil {
		return *p
	}
	return exchange.Principal{}
}

// ServeHTTP is the outermost layer: it gives the request an id, answers
// unknown routes and methods with problems, recovers from panics, and logs
// and counts every request by its route pattern.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{id: requestID(r.Header.Get(headerRequestID))}
	w.Header().Set(headerRequestID, info.id)
	rec := &recorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

	h, pattern := a.mux.Handler(r)
	canonical := canonicalPath(r)
	if !canonical {
		// The mux would redirect to the cleaned path; an API answers
		// what was asked instead (see unmatched).
		pattern = ""
	}
	route := routePath(pattern)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				a.observe(r, rec, route, start, info)
				panic(v)
			}
			a.log.Error("panic serving a request", "request_id", info.id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rec.wrote {
				a.writeError(rec, r, fmt.Errorf("panic: %v", v))
			}
		}
		a.observe(r, rec, route, start, info)
	}()
	switch {
	case !canonical:
		a.writeError(rec, r, &apiError{kind: kindNotFound,
			detail: fmt.Sprintf("no route matches %s: paths have no empty, \".\" or \"..\" segments", r.URL.EscapedPath())})
		return
	case pattern == "":
		a.unmatched(rec, r, h)
		return
	}
	a.mux.ServeHTTP(rec, r)
}

// canonicalPath reports whether the request's path is one the mux serves
// as it is: it starts with "/" and has no empty, "." or ".." segment
// ("//v1/units", "/v1/./units", "/v1/../v1/units"). The mux answers any
// other path with a redirect to its cleaned form (307, text/html), which a
// JSON API must not do: a client that built such a path has a bug (an
// empty id, a relative path joined wrongly), and a redirect hides it. A CONNECT
// request's path is never cleaned by the mux, and the request target "*"
// (OPTIONS *) matches no route anyway.
func canonicalPath(r *http.Request) bool {
	p := r.URL.EscapedPath()
	if r.Method == http.MethodConnect || p == "*" || p == "" {
		return true
	}
	if p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	return clean == p || clean+"/" == p
}

// routePath is the path of a mux pattern ("POST /v1/transfers" →
// "/v1/transfers"), the route label of logs and metrics; requests that
// match no route share the label "unmatched", so that scanners cannot blow up
// the metrics' cardinality.
func routePath(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// unmatched answers a request no route matches: 405 with Allow when the path
// exists under other methods, 404 otherwise. The mux's own fallback handler
// says which; its plain-text body is replaced by a problem.
func (a *api) unmatched(w http.ResponseWriter, r *http.Request, fallback http.Handler) {
	c := &captureWriter{header: make(http.Header)}
	fallback.ServeHTTP(c, r)
	if c.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", c.header.Get("Allow"))
		a.writeError(w, r, &apiError{kind: kindMethodNotAllowed,
			detail: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, c.header.Get("Allow"))})
		return
	}
	a.writeError(w, r, &apiError{kind: kindNotFound, detail: fmt.Sprintf("no route matches %s", r.URL.Path)})
}

// observe logs a finished request and counts it in the metrics. The log
// never holds the token or the body.
func (a *api) observe(r *http.Request, rec *recorder, route string, start time.Time, info *requestInfo) {
	d := time.Since(start)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	a.metrics.observe(route, r.Method, status, d)
	attrs := []slog.Attr{
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("bytes", rec.bytes),
	}
	if info.principal != nil {
		attrs = append(attrs, slog.String("member_id", info.principal.MemberID.String()))
	}
	if info.replayed {
		attrs = append(attrs, slog.Bool("replayed", true))
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
}

// requestID returns the client's X-Request-Id when it is a sane token (so a
// client can follow its request through the logs), or a new UUID.
func requestID(given string) string {
	if n := len(given); n > 0 && n <= 128 && strings.Trim(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == "" {
		return given
	}
	return uuid.Must(uuid.NewV7()).String()
}

// authenticate reads the request's bearer token and asks the Authority
// whose it is; without an Authorization header, it takes the session
// cookie instead (see authenticateSession).
func (a *api) authenticate(r *http.Request) (exchange.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if c := a.sessionCookieValue(r); c != "" {
			return a.authenticateSession(r, c)
		}
		return exchange.Principal{}, errNoToken
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return exchange.Principal{}, errBadToken
	}
	p, err := a.auth.Authenticate(r.Context(), token)
	if errors.Is(err, exchange.ErrUnauthenticated) {
		return exchange.Principal{}, errBadToken
	}
	if err != nil {
		return exchange.Principal{}, fmt.Errorf("authenticating a token: %w", err)
	}
	return p, nil
}

// recorder remembers the status and size of the response it passes on.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (to flush a long
// export, say).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// captureWriter keeps a response's status and headers and drops its body.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}
