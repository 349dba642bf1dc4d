package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's Prometheus metrics, in a registry of its own (no
// global state): request counts and latencies by route pattern, transfers
// posted, the database's transaction retries, and the Go runtime's and the
// process's own (memory, CPU, file descriptors).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	posted   prometheus.Counter
	handler  http.Handler // serves /metrics
}

// newMetrics registers the metrics; retries reads the transaction retry
// count (pgtx.DB.Retries); more are the caller's own collectors.
func newMetrics(retries func() int64, more ...prometheus.Collector) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mutual_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mutual_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		posted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mutual_transfers_posted_total",
			Help: "Transfers posted through the API (holds count when they are posted; replays do not count).",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.posted,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mutual_tx_retries_total",
			Help: "Database transactions retried after a serialization failure or deadlock.",
		}, func() float64 { return float64(retries()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.reg.MustRegister(more...)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		method = "other" // clients choose methods; the label's values stay few
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}
