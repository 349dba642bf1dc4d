package httpapi

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/journal"
)

// exportService is what the journal export asks of the exchange.
type exportService interface {
	// CanExportOrg reports whether p may export an organization's books:
	// nil, exchange.ErrForbidden (403) or exchange.ErrUnknownOrg (404).
	CanExportOrg(ctx context.Context, p exchange.Principal, orgID uuid.UUID) error
}

// exportWriteTimeout is how long an export may take to send, past the
// server's usual write timeout: a large journal takes a while.
const exportWriteTimeout = 10 * time.Minute

func (a *api) registerExportRoutes(rt *router) {
	rt.read(http.MethodGet, "/v1/export/journal", a.exportJournal)
}

// exportJournal sends the journal of posted transfers: ?format=hledger (the
// default), a plain-text accounting journal that hledger and ledger-cli
// read, or ?format=csv, one row per account movement. ?from= and ?to= (RFC
// 3339) limit it to the transfers posted in [from, to), the hledger journal
// then opening with each account's balance just before from, asserted.
// ?org= limits it to that organization's books: its accounts, the postings
// touching them and, named, the accounts on their other side. The admin may
// export everything; an organization's books also its coordinators and
// those of organizations above it (exchange.CanExportOrg). It streams: an
// error once output has begun cuts the response off (the client sees a
// broken transfer, never a short journal that looks whole) and is logged.
func (a *api) exportJournal(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var scope journal.Scope
	for _, t := range []struct {
		name string
		t    *time.Time
	}{{"from", &scope.From}, {"to", &scope.To}} {
		if s := q.Get(t.name); s != "" {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return malformed(t.name, `%s must be an RFC 3339 time, such as "2026-01-01T00:00:00Z"`, t.name)
			}
			*t.t = v.UTC()
		}
	}
	if !scope.From.IsZero() && !scope.To.IsZero() && !scope.From.Before(scope.To) {
		return malformed("to", "to must be after from")
	}
	if s := q.Get("org"); s != "" {
		org, err := uuid.Parse(s)
		if err != nil {
			return malformed("org", "org must be an organization's id (a UUID), not %q", s)
		}
		if err := a.exports.CanExportOrg(r.Context(), principal(r), org); err != nil {
			return err
		}
		scope.Owner = exchange.OrgOwner(org)
	} else if err := requireAdmin(principal(r), "export the whole journal"); err != nil {
		return err
	}
	format := q.Get("format")
	var write func(context.Context, io.Writer, journal.Scope) error
	var contentType, filename string
	switch format {
	case "", "hledger":
		write, contentType, filename = a.journal.WriteHledger, "text/plain; charset=utf-8", "mutual.journal"
	case "csv":
		write, contentType, filename = a.journal.WriteCSV, "text/csv; charset=utf-8", "mutual.csv"
	default:
		return malformed("format", "format must be hledger or csv, not %q", format)
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(exportWriteTimeout)) // unsupported writers keep theirs
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	out := &countingWriter{w: w}
	if err := write(r.Context(), out, scope); err != nil {
		if out.n == 0 {
			w.Header().Del("Content-Disposition")
			return err
		}
		a.log.Error("journal export failed after output began", "request_id", infoFrom(r.Context()).id, "bytes", out.n, "err", err.Error())
		panic(http.ErrAbortHandler)
	}
	return nil
}

// countingWriter counts what reaches the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
