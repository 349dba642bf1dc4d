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
	"github.com/mutual-ledger/mutual/web"
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
	// publicURL: see web.Config.PublicURL ("" turns passkeys off).
	publicURL string
}

// newHandler returns the handler `mutual serve` serves: the JSON API under
// /v1/, with its health checks, metrics and OpenAPI document, and the pages
// people use (package web) at every other path.
func newHandler(d handlerDeps) http.Handler {
	cfg := httpapi.Config{
		Ledger:    d.store,
		Authority: d.exchange,
		Logger:    d.log,
		Ready: func(ctx context.Context) error {
			_, err := d.db.pool.Exec(ctx, "SELECT 1")
			return err
		},
		Collectors:     append(d.db.collectors(), groupCommitCollectors(d.store)...),
		BehindTLSProxy: d.behindTLSProxy,
	}
	if d.idem != nil {
		cfg.Idempotency = d.idem
	}
	if d.mailer != nil {
		cfg.Mailer = d.mailer
	}
	api := httpapi.New(cfg)
	pages, err := web.New(web.Config{Exchange: d.exchange, Logger: d.log, BehindTLSProxy: d.behindTLSProxy, PublicURL: d.publicURL})
	if err != nil {
		// The pages' templates and catalogues are embedded in the binary:
		// web's own tests load them, so this is a build that never passed.
		panic(err)
	}
	mux := http.NewServeMux()
	for _, path := range apiPaths {
		mux.Handle(path, api)
	}
	mux.Handle("/", pages)
	return mux
}

// apiPaths are the paths the JSON API answers: everything under /v1/
// (an unknown one is its 404 problem+json) and the service routes.
var apiPaths = []string{"/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json"}
