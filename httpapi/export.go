package httpapi

import (
	"context"
	"io"
	"net/http"
	"time"
)

// exportWriteTimeout is how long an export may take to send, past the
// server's usual write timeout: a large journal takes a while.
const exportWriteTimeout = 10 * time.Minute

func (a *api) registerExportRoutes(rt *router) {
	rt.read(http.MethodGet, "/v1/export/journal", a.exportJournal)
}

// exportJournal sends the whole journal of posted transfers (network admins
// only): ?format=hledger (the default), a plain-text accounting journal
// that hledger and ledger-cli read, or ?format=csv, one row per account
// movement. It streams: an error once output has begun cuts the response
// off (the client sees a broken transfer, never a short journal that looks
// whole) and is logged.
func (a *api) exportJournal(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(principal(r), "export the journal"); err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	var write func(context.Context, io.Writer) error
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
	if err := write(r.Context(), out); err != nil {
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
