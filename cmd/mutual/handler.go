package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
	"github.com/mutual-ledger/mutual/internal/idempotency"
	"github.com/mutual-ledger/mutual/internal/mailer"
	"github.com/mutual-ledger/mutual/ledger"
)

// handlerDeps is what the HTTP handler is built from.
type handlerDeps struct {
	db       *database
	store    *ledger.Store
	exchange *exchange.Store
	idem     *idempotency.Store // nil: the API makes one that names no server instance
	log      *slog.Logger
	// behindTLSProxy: see httpapi.Config.BehindTLSProxy.
	behindTLSProxy bool
	mailer         *mailer.SMTP // nil: no sign-in codes by email
}

// newHandler returns the handler `mutual serve` serves: the HTTP API, with
// its health checks, metrics and OpenAPI document.
func newHandler(d handlerDeps) http.Handler {
	cfg := httpapi.Config{
		Ledger:    d.store,
		Authority: d.exchange,
		Logger:    d.log,
		Ready: func(ctx context.Context) error {
			_, err := d.db.pool.Exec(ctx, "SELECT 1")
			return err
		},
		Collectors:     d.db.collectors(),
		BehindTLSProxy: d.behindTLSProxy,
	}
	if d.idem != nil {
		cfg.Idempotency = d.idem
	}
	if d.mailer != nil {
		cfg.Mailer = d.mailer
	}
	return httpapi.New(cfg)
}
