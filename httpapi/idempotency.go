package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/internal/idempotency"
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted: the key is
// passed on to the ledger prefixed with the member's id (and, in a batch,
// suffixed with the transfer's index), within the ledger's 255 bytes.
const MaxIdempotencyKey = 200

// recordTimeout bounds storing a response's idempotency record, which runs
// even when the client has gone away.
const recordTimeout = 5 * time.Second

// serveIdempotent runs a creating POST under its Idempotency-Key. The key is
// the client's, scoped to the member of the token: the first request with it
// reserves it, runs, and stores its response; a retry with the same method,
// path and body gets that response again, byte for byte, with
// Idempotent-Replayed: true; another request with the key is refused (422
// idempotency-key-reused); a retry while the first is still running is told
// to wait (409 idempotency-key-in-progress, Retry-After: 1); once the server
// that ran the first has died (see package idempotency: its heartbeat
// lapsed, a few seconds), the retry runs it again instead. Server errors
// (5xx) are not stored, so a client may retry them with the same key; the
// ledger's own idempotency keys (see ledgerKey) keep such a retry from
// moving value twice.
//
// A secret route's success holds a secret that is shown once (an API
// token's): storing it in the idempotency table would undo storing tokens
// only as hashes. Its success is therefore stored without its body (status
// and Location only), and a repeat of the request gets 409
// secret-not-replayed, naming what the first one created, instead of the
// response. Its refusals (4xx) hold no secret and are stored and replayed
// as any other.
func (a *api) serveIdempotent(w http.ResponseWriter, r *http.Request, rt route, keys []string) {
	info := infoFrom(r.Context())
	key := keys[0]
	if len(keys) > 1 || key == "" || len(key) > MaxIdempotencyKey || !printableASCII(key) {
		a.writeError(w, r, malformed(headerIdempotencyKey,
			"Idempotency-Key must be one header of 1 to %d printable ASCII characters", MaxIdempotencyKey))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	hash := requestHash(r, body)

	member := info.principal.MemberID
	rec, reserved, err := a.idem.Begin(r.Context(), member, key, hash)
	if errors.Is(err, idempotency.ErrInstanceLost) {
		// This server could not renew its heartbeat in time (the
		// database was out of reach); it registers again within a
		// second.
		a.writeError(w, r, &apiError{kind: kindUnavailable,
			detail: "this server lost its registration with the database and is registering again; retry shortly",
			header: http.Header{"Retry-After": {"1"}}})
		return
	}
	var unreleased *idempotency.UnreleasedError
	if errors.As(err, &unreleased) {
		// The reservation's COMMIT lost its answer and the store could not
		// release it: keep trying in the background, or every retry of
		// the request is told it is in progress for as long as this
		// server lives.
		id := infoFrom(r.Context()).id
		a.log.Error("releasing an idempotency key whose reservation was lost; retrying in the background", "request_id", id, "err", err.Error())
		go a.retryEnd(context.WithoutCancel(r.Context()), id, unreleased.Record, func(ctx context.Context) error { return a.idem.Abandon(ctx, unreleased.Record) })
	}
	if err != nil {
		a.writeError(w, r, fmt.Errorf("reserving an idempotency key: %w", err))
		return
	}
	if !reserved {
		switch {
		case !bytes.Equal(rec.RequestHash, hash):
			a.writeError(w, r, &apiError{kind: kindKeyReused,
				detail: "this Idempotency-Key was already used for a different request; use a new key for a new request",
				fields: []FieldError{{Field: headerIdempotencyKey, Message: "already used for a different request"}}})
		case rec.State == idempotency.Pending:
			a.writeError(w, r, &apiError{kind: kindKeyInProgress,
				detail: "a request with this Idempotency-Key is still in progress; retry it shortly",
				header: http.Header{"Retry-After": {"1"}}})
		case rt.secret && rec.Status < 300:
			made := ""
			if rec.Location != "" {
				made = " (it created " + rec.Location + ")"
			}
			a.writeError(w, r, &apiError{kind: kindNotReplayed, detail: "this request already succeeded with this Idempotency-Key" + made +
				"; its response held a secret, which is shown once and never stored, so it is not replayed. " +
				"If that response was lost, revoke what it created and send a new request with a new key"})
		default:
			info.replayed = true
			replay(w, rec)
		}
		return
	}

	info.key = key
	// The request runs only while this server holds the reservation: if
	// the server loses its lease (its heartbeat lapsed), a retry may take
	// the key over, and this request stops instead of running beside it.
	ctx, release := a.idem.LeaseContext(r.Context(), rec)
	defer release()
	r = r.WithContext(ctx)
	buf := &bufferedResponse{header: make(http.Header)}
	settled := false
	defer func() {
		// A panic in the endpoint: free the key, so that it is not blocked
		// until this server is found dead.
		if !settled {
			a.endReservation(r, rec, nil, rt.secret)
		}
	}()
	a.serve(buf, r, rt.handle)
	settled = true
	buf.finished()
	a.endReservation(r, rec, buf, rt.secret)
	buf.sendTo(w)
}

// endReservation stores a response under its key, or frees the key when
// the response is a server error (or there is none). The success of a
// secret route is stored without its body.
func (a *api) endReservation(r *http.Request, rec idempotency.Record, buf *bufferedResponse, secret bool) {
	end := func(ctx context.Context) error { return a.idem.Abandon(ctx, rec) }
	if buf != nil && buf.status < 500 {
		resp := idempotency.Response{
			Status: buf.status, ContentType: buf.header.Get("Content-Type"),
			Location: buf.header.Get("Location"), Body: buf.body.Bytes(),
		}
		if secret && buf.status < 300 {
			resp.ContentType, resp.Body = "", nil
		}
		end = func(ctx context.Context) error { return a.idem.Complete(ctx, rec, resp) }
	}
	id := infoFrom(r.Context()).id
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	defer cancel()
	err := end(ctx)
	if err == nil || errors.Is(err, idempotency.ErrLeaseLost) {
		return
	}
	// The response still goes out. The database failed us (it may be
	// restarting): keep trying in the background, since this live server
	// keeps the key reserved until its record is stored or released, and
	// every retry of the request meanwhile is told it is in progress.
	a.log.Error("storing an idempotency record; retrying in the background", "request_id", id, "err", err.Error())
	go a.retryEnd(context.WithoutCancel(r.Context()), id, rec, end)
}

// Retrying an idempotency record that could not be stored: the first retry
// after endRetryFirst, doubling up to endRetryMax.
const (
	endRetryFirst = 100 * time.Millisecond
	endRetryMax   = 2 * time.Second
	// endRetryFor bounds the retries for a reservation that names no
	// server instance, which a retry of the request takes over once it is
	// stale (idempotency.DefaultStaleAfter).
	endRetryFor = idempotency.DefaultStaleAfter
)

// retryEnd runs end, which ends rec's reservation, until it succeeds or
// the lease is lost, for as long as no one else may free the key: while
// this server's instance holding rec lives (once it is lost, another server
// takes the key over), or, for a reservation that names no instance, for
// endRetryFor. Giving up sooner would leave the key in progress, with no
// request behind it, for as long as the server lives.
func (a *api) retryEnd(ctx context.Context, requestID string, rec idempotency.Record, end func(context.Context) error) {
	ctx, release := a.idem.LeaseContext(ctx, rec)
	defer release()
	if rec.Instance == uuid.Nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, endRetryFor)
		defer cancel()
	}
	for wait := endRetryFirst; ; wait = min(2*wait, endRetryMax) {
		select {
		case <-ctx.Done():
			a.log.Error("gave up storing an idempotency record; a retry of the request may take its key over now",
				"request_id", requestID)
			return
		case <-time.After(wait):
		}
		err := end(ctx)
		if err == nil || errors.Is(err, idempotency.ErrLeaseLost) {
			a.log.Info("stored an idempotency record after retrying", "request_id", requestID)
			return
		}
	}
}

// replay writes a stored response.
func replay(w http.ResponseWriter, rec idempotency.Record) {
	h := w.Header()
	if rec.ContentType != "" {
		h.Set("Content-Type", rec.ContentType)
	}
	if rec.Location != "" {
		h.Set("Location", rec.Location)
	}
	h.Set("Cache-Control", "no-store")
	h.Set(headerReplayed, "true")
	h.Set("Content-Length", strconv.Itoa(len(rec.Body)))
	w.WriteHeader(rec.Status)
	w.Write(rec.Body)
}

// requestHash identifies a request's content: its method, path and body,
// byte for byte.
func requestHash(r *http.Request, body []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%d\n", r.Method, r.URL.RequestURI(), len(body))
	h.Write(body)
	return h.Sum(nil)
}

// ledgerKey is the ledger idempotency key of the request's n-th transfer
// (n < 0 for a single one): the client's key, scoped to the member, so that
// a transfer retried after a crash between the ledger's commit and the
// idempotency record is still written once. It is "" when the request has
// no Idempotency-Key.
func ledgerKey(r *http.Request, n int) string {
	info := infoFrom(r.Context())
	if info.key == "" || info.principal == nil {
		return ""
	}
	k := info.principal.MemberID.String() + ":" + info.key
	if n >= 0 {
		k += "#" + strconv.Itoa(n)
	}
	return k
}

// keyedID derives a resource id from the request's Idempotency-Key, so that
// a creation retried after a crash finds what the first attempt made
// instead of making it twice. Without a key it is a new (time-ordered) id.
func keyedID(r *http.Request, kind string) uuid.UUID {
	info := infoFrom(r.Context())
	if info.key == "" || info.principal == nil {
		return uuid.Must(uuid.NewV7())
	}
	return uuid.NewSHA1(keyedIDSpace, []byte(kind+"\x00"+info.principal.MemberID.String()+"\x00"+info.key))
}

// keyedIDSpace is the UUID namespace of keyed ids.
var keyedIDSpace = uuid.MustParse("6d0c4a3e-9f7b-5c1e-8a7d-3b2f1e0c9d8a")

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bufferedResponse holds a response until its idempotency record is stored.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// finished settles the status once the endpoint has returned: one that
// wrote nothing answered 200, as net/http would (a status of 0 could not
// be stored, and the key would stay in progress).
func (b *bufferedResponse) finished() {
	if b.status == 0 {
		b.status = http.StatusOK
	}
}

// sendTo sends the finished response.
func (b *bufferedResponse) sendTo(w http.ResponseWriter) {
	for k, vs := range b.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}
