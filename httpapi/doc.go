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
// Hostile input is refused at the edge, before any endpoint or the
// database sees it: checkJSON (jsoncheck.go) reads every JSON body raw for
// duplicate keys, keys that match a field only when case is ignored, NUL
// and invalid UTF-8 (400 malformed-request, naming the JSON path);
// checkQuery (text.go) refuses malformed query strings and parameters that
// are not one line of valid text (400, naming the parameter); and the text
// rule of text.go, applied to request fields by the validator tags line and
// text, refuses control, bidirectional-override and invisible format
// characters in what people read (422 validation-failed, naming the field).
//
// The package never touches the database itself: it drives ledger.Store,
// asks an Authority (the exchange) who a request acts as and what it may do
// and keeps organizations, members and tokens through it, and keeps
// idempotency records through an IdempotencyStore.
package httpapi
