package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/mutual-ledger/mutual/ledger"
)

// readyTimeout bounds the database check behind /readyz.
const readyTimeout = 2 * time.Second

// handlerDeps is what the HTTP handler is built from.
type handlerDeps struct {
	db    *database
	store *ledger.Store
	log   *slog.Logger
}

// newHandler returns the handler `mutual serve` serves. For now it answers
// the health checks only; the HTTP API (package httpapi) takes its place when
// it exists, built from the same deps.
func newHandler(d handlerDeps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if _, err := d.db.pool.Exec(ctx, "SELECT 1"); err != nil {
			d.log.Warn("not ready: the database does not answer", "err", err)
			writeStatus(w, http.StatusServiceUnavailable, `{"status":"unavailable","reason":"the database does not answer"}`)
			return
		}
		writeStatus(w, http.StatusOK, `{"status":"ready"}`)
	})
	return mux
}

func writeStatus(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, body+"\n")
}
