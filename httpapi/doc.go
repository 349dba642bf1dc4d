// Package httpapi is Mutual's HTTP JSON API: routing, bearer-token
// authentication, request decoding and validation, idempotent retries,
// RFC 9457 problem+json errors, request logs and Prometheus metrics, the
// endpoints under /v1 (organizations, members and API tokens; units,
// accounts and transfers), the journal export, and the OpenAPI 3.1
// document that describes them (openapi.json, served at /openapi.json).
//
// Every route is declared once, in the route table each resource file adds
// to (registerUnitRoutes, registerAccountRoutes, …); the mux, the OpenAPI
// test and the authentication rules all read that table.
//
// The package never touches the database itself: it drives ledger.Store,
// asks an Authority (the exchange) who a request acts as and what it may do
// and keeps organizations, members and tokens through it, and keeps
// idempotency records through an IdempotencyStore.
package httpapi
