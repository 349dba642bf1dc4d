package httpapi

import (
	"context"
	_ "embed"
	"net/http"
	"strconv"
	"time"
)

// readyTimeout bounds the database check behind /readyz.
const readyTimeout = 2 * time.Second

// openAPI is the OpenAPI 3.1 document of this API. A test holds it and the
// route table together, and checks the responses against its schemas.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document served at /openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// registerServiceRoutes adds the routes that are not the API proper: health
// checks, metrics and the API's description. They need no token.
func (a *api) registerServiceRoutes(rt *router) {
	rt.public(http.MethodGet, "/healthz", a.healthz)
	rt.public(http.MethodGet, "/readyz", a.readyz)
	rt.public(http.MethodGet, "/metrics", a.serveMetrics)
	rt.public(http.MethodGet, "/openapi.json", a.openAPI)
}

type status struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// healthz says the process is up.
func (a *api) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, status{Status: "ok"})
}

// readyz says whether the server can serve: 200 when the database answers,
// 503 otherwise.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := a.ready(ctx); err != nil {
		a.log.Warn("not ready: the database does not answer", "request_id", infoFrom(r.Context()).id, "err", err.Error())
		return writeJSON(w, http.StatusServiceUnavailable, status{Status: "unavailable", Reason: "the database does not answer"})
	}
	return writeJSON(w, http.StatusOK, status{Status: "ready"})
}

func (a *api) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	a.metrics.handler.ServeHTTP(w, r)
	return nil
}

func (a *api) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
	return nil
}
