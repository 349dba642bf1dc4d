package pgtx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// ErrUnavailable is returned, wrapping the driver's error, when the database
// could not be reached or dropped the connection before the work was done:
// the server is down, restarting, recovering from a crash, shutting down, or
// out of connection slots; the network failed; or the pool is closed. It is
// transient — the same request may succeed a moment later — and nothing was
// committed (a connection lost while COMMIT was in flight is
// ErrAmbiguousCommit instead). Run returns it, and so do the queries of
// DB.Pool.
var ErrUnavailable = errors.New("pgtx: the database is unavailable")

// Classify returns err wrapped so that it matches ErrUnavailable when it says
// the database could not be reached (see ErrUnavailable), and err unchanged
// otherwise: nil, SQL errors, a context's end, an ambiguous commit, a
// refused password or a missing database (which a retry does not cure). Code
// that talks to the database without Run or DB.Pool calls it on its errors.
func Classify(err error) error {
	if err == nil || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// unreachable reports whether err is a failure to reach the database or a
// connection lost under a statement.
func unreachable(err error) bool {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrAmbiguousCommit) {
		return false // already classified, or an outcome only the client can settle
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server answered, at connection time or later: whether it is
		// away depends only on what it said.
		return UnavailableCode(pgErr.Code)
	}
	var lost *connLostError
	var connect *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &lost), errors.As(err, &connect):
		return true
	case errors.Is(err, puddle.ErrClosedPool), errors.Is(err, pgconn.ErrConnClosed):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true // the server closed the connection
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &netErr):
		return true
	}
	return false
}

// UnavailableCode reports whether SQLSTATE code says the server cannot serve
// the connection now, though it may in a moment: class 08 (connection
// exception), 53300 too_many_connections, 57P01 admin_shutdown, 57P02
// crash_shutdown (another backend crashed and the server is resetting), 57P03
// cannot_connect_now (starting up, shutting down, or in recovery).
func UnavailableCode(code string) bool {
	switch code {
	case "53300", "57P01", "57P02", "57P03":
		return true
	}
	return len(code) == 5 && code[:2] == "08"
}
