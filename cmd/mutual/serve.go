package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/httpapi"
	"github.com/mutual-ledger/mutual/internal/gctune"
	"github.com/mutual-ledger/mutual/internal/idempotency"
	"github.com/mutual-ledger/mutual/internal/mailer"
	"github.com/mutual-ledger/mutual/internal/pglocal"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
	"github.com/mutual-ledger/mutual/schema"
)

// The HTTP server's timeouts and limits are httpapi.NewServer's.
const (
	// shutdownTimeout is how long in-flight requests get to finish once a
	// signal asks the server to stop.
	shutdownTimeout = 10 * time.Second
	// expiryInterval is how often expired holds are released.
	expiryInterval = time.Second
	// deregisterTimeout bounds deleting the server instance's row at
	// shutdown.
	deregisterTimeout = 5 * time.Second
)

const serveSummary = `Runs the server: opens the database (the local PostgreSQL, or DATABASE_URL),
applies the schema's migrations, registers itself as a server instance
(renewing its heartbeat every second, so that after a crash retried
Idempotency-Keys are free within seconds), releases expired holds every
second and serves HTTP on --addr until SIGINT or SIGTERM, then shuts down
gracefully and stops the local PostgreSQL.`

// serve implements `mutual serve`.
// cacheSize is what --db-cache accepts: a whole number of kB, MB, GB or TB,
// as PostgreSQL writes memory sizes.
var cacheSize = regexp.MustCompile(`^[1-9][0-9]{0,6}(kB|MB|GB|TB)$`)

func serve(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen for HTTP on `HOST:PORT` (port 0 picks a free port)")
	dataDir := dataDirFlag(fs)
	networkName := fs.String("network-name", "Mutual network", "the name of the network organization created on the first run")
	debugAddr := fs.String("debug-addr", "", "also serve Go's profiler (net/http/pprof) on `HOST:PORT`; keep it on loopback")
	maxConns := fs.Int("max-connections", 0, fmt.Sprintf("serve at most `N` HTTP connections at once; more wait for one to end (default %d, fewer if the open-files limit is lower)", httpapi.DefaultMaxConns))
	behindTLSProxy := fs.Bool("behind-tls-proxy", false, "a proxy in front terminates TLS: session cookies are Secure with the __Host- prefix, and wrong sign-in codes count against the last X-Forwarded-For address")
	smtpURL := fs.String("smtp-url", "", "send sign-in codes by email through the SMTP server at `smtp://HOST:PORT` (STARTTLS when offered; a user and password, if needed, in MUTUAL_SMTP_USERNAME and MUTUAL_SMTP_PASSWORD)")
	smtpFrom := fs.String("smtp-from", "", "the `ADDRESS` sign-in mails come from (required with --smtp-url)")
	publicURL := fs.String("public-url", "", "the `URL` people reach the pages at, e.g. https://mutual.example.org: passkeys belong to its host, and are accepted only from it (default http://localhost:PORT, PORT the one listened on)")
	groupCommit := fs.Bool("group-commit", true, "write single transfers that arrive together in one database transaction, each keeping its own outcome (false: one transaction each)")
	dbPool := fs.Int("db-pool", 0, fmt.Sprintf("hold at most `N` database connections (default %d, from the CPUs; a pool_max_conns in DATABASE_URL wins)", DefaultPoolSize()))
	dbCache := fs.String("db-cache", "", fmt.Sprintf("the local PostgreSQL keeps `SIZE` of pages in memory, e.g. 512MB or 2GB (its shared_buffers; default %s, a quarter of this machine's memory, at most 8GB)", pglocal.DefaultSharedBuffers()))
	if help, err := parseFlags(fs, e, serveSummary, args); help || err != nil {
		return err
	}
	if *publicURL != "" {
		if u, err := url.Parse(*publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return &usageError{fmt.Sprintf("serve: --public-url %q: want an http(s) URL without a path, such as https://mutual.example.org", *publicURL)}
		}
	}
	gctune.Tune(e.getenv)
	mail, err := newMailer(e, *smtpURL, *smtpFrom)
	if err != nil {
		return err
	}

	conns, err := connectionLimit(e, *maxConns)
	if err != nil {
		return err
	}
	// Listen first: a taken address is reported at once, before the
	// database is started for nothing.
	ln, err := listen(*addr)
	if err != nil {
		return err
	}
	defer ln.Close() // in case we return before Serve owns it

	if *dbPool < 0 {
		return &usageError{fmt.Sprintf("serve: --db-pool %d: want a number of connections, at least 1", *dbPool)}
	}
	if *dbCache != "" && !cacheSize.MatchString(*dbCache) {
		return &usageError{fmt.Sprintf("serve: --db-cache %q: want a size such as 512MB or 2GB", *dbCache)}
	}
	db, err := openDatabaseSized(ctx, e, *dataDir, dbSizes{pool: *dbPool, cache: *dbCache})
	if err != nil {
		return err
	}
	if *debugAddr != "" {
		if err := serveDebug(ctx, e, *debugAddr); err != nil {
			return errors.Join(err, db.Close(context.WithoutCancel(ctx)))
		}
	}
	if *publicURL == "" {
		// A browser takes "localhost" as a passkey's site, never an IP
		// address.
		*publicURL = "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	err = serveOn(ctx, e, ln, db, serveOptions{dataDir: *dataDir, networkName: *networkName, maxConns: conns, behindTLSProxy: *behindTLSProxy,
		publicURL: strings.TrimSuffix(*publicURL, "/"), mailer: mail, noGroupCommit: !*groupCommit})
	// A clean stop of the local PostgreSQL even though ctx is cancelled.
	return errors.Join(err, db.Close(context.WithoutCancel(ctx)))
}

// serveDebug serves Go's profiler on addr until ctx ends.
func serveDebug(ctx context.Context, e *env, addr string) error {
	dl, err := listen(addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: httpapi.DefaultReadHeaderTimeout, MaxHeaderBytes: httpapi.DefaultMaxHeaderBytes}
	go srv.Serve(dl) //nolint:errcheck // ends with Close below
	context.AfterFunc(ctx, func() { srv.Close() })
	e.log.Info("serving the profiler", "addr", dl.Addr().String())
	return nil
}

// idempotencyRetention is how long a stored response answers a retried
// Idempotency-Key; clients retry within minutes, not days.
const idempotencyRetention = 24 * time.Hour

// purgeIdempotency deletes idempotency records past their retention, hourly,
// until ctx ends.
func purgeIdempotency(ctx context.Context, e *env, st *idempotency.Store) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := st.Purge(ctx, time.Now().Add(-idempotencyRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			e.log.Error("purging idempotency records", "err", err)
		case n > 0:
			e.log.Info("purged idempotency records", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purgeSigninFailures deletes, hourly, the wrong sign-in tries too old to
// count against any limit, until ctx ends.
func purgeSigninFailures(ctx context.Context, e *env, ex *exchange.Store) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := ex.PurgeSigninFailures(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("purging old sign-in failures", "err", err)
		}
		if _, err := ex.PurgeEmailSigninRequests(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("purging old requests for sign-in codes by email", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// listen binds addr, saying clearly when it is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("cannot listen on %s: address already in use (another mutual, or another program, has it); pass --addr HOST:PORT to use another", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w; pass --addr HOST:PORT to use another", addr, err)
	}
	return ln, nil
}

// serveOptions are serve's flags that serveOn needs.
type serveOptions struct {
	dataDir     string // where the first run saves the admin token
	networkName string
	maxConns    int // HTTP connections open at once; 0 means httpapi's default
	// behindTLSProxy: see httpapi.Config.BehindTLSProxy.
	behindTLSProxy bool
	mailer         *mailer.SMTP // nil: no sign-in codes by email
	// publicURL: see web.Config.PublicURL.
	publicURL string
	// noGroupCommit: see ledger.Config.NoGroupCommit.
	noGroupCommit bool
}

// newMailer is the sender --smtp-url and --smtp-from ask for, or nil when
// no URL is given. The credentials come from the environment (flags show in
// the process list) and are never printed.
func newMailer(e *env, url, from string) (*mailer.SMTP, error) {
	if url == "" {
		if from != "" {
			return nil, &usageError{"serve: --smtp-from needs --smtp-url"}
		}
		return nil, nil
	}
	if from == "" {
		return nil, &usageError{"serve: --smtp-url needs --smtp-from, the address sign-in mails come from"}
	}
	m, err := mailer.New(mailer.Config{URL: url, From: from,
		Username: e.getenv("MUTUAL_SMTP_USERNAME"), Password: e.getenv("MUTUAL_SMTP_PASSWORD")})
	if err != nil {
		return nil, &usageError{"serve: --smtp-url, --smtp-from: " + err.Error()}
	}
	return m, nil
}

// serveOn migrates the database, creates the network and its admin on the
// first run, registers this process as a server instance, starts its
// heartbeat and the hold and agreement sweepers, and serves HTTP on ln until
// ctx is cancelled; then it shuts the HTTP server down gracefully, stops the
// sweepers and deletes the instance's row, which frees any key it still
// reserves. The caller closes db.
func serveOn(ctx context.Context, e *env, ln net.Listener, db *database, opts serveOptions) error {
	applied, err := schema.Migrate(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	version, err := schema.Version(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	e.log.Info("schema ready", "version", version, "applied", applied)

	store, err := ledger.Open(ctx, db.pool, ledger.Config{Logger: e.log, NoGroupCommit: opts.noGroupCommit})
	if err != nil {
		return fmt.Errorf("opening the ledger: %w", err)
	}
	e.log.Info("database pool", "max_conns", db.pool.Config().MaxConns, "group_commit", !opts.noGroupCommit)
	ex := exchange.NewStore(store.DB(), store, exchange.Config{})
	// Listings posted before search had its words (or before their
	// folding changed) are indexed once, before anyone searches.
	if n, err := ex.IndexListingWords(ctx); err != nil {
		return fmt.Errorf("indexing listings for search: %w", err)
	} else if n > 0 {
		e.log.Info("indexed listings for search", "listings", n)
	}
	secret, savedAt, err := firstRun(ctx, e, ex, opts.dataDir, opts.networkName)
	if err != nil {
		return err
	}
	// This process is one server instance: its idempotency reservations
	// name it, and a retry takes them over as soon as its heartbeat
	// lapses (after a crash) or its row is deleted (at shutdown).
	idem := idempotency.New(store.DB(), idempotency.Config{})
	if db.server != nil {
		// Local mode: the data folder's lock means no other server uses
		// this database, so every instance registered before is a dead
		// predecessor (killed, or crashed) and its keys are free now.
		n, err := idem.ForgetInstances(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			e.log.Info("freed the idempotency keys of server instances that did not shut down cleanly", "instances", n)
		}
	}
	if err := idem.Register(ctx); err != nil {
		return err
	}
	e.log.Info("registered server instance", "instance", idem.Instance().String())
	if store.DB().MinIsolation == pgx.Serializable {
		e.log.Info("every transaction runs SERIALIZABLE (the sessions' default isolation)")
	}
	// Injected faults start after the first run's setup, which has no
	// client to retry it.
	if v := e.getenv(pgtx.EnvFaults); v != "" {
		rate, err := pgtx.ParseFaultRate(v)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", pgtx.EnvFaults, v, err)
		}
		store.DB().InjectFaults(rate)
		e.log.Warn("fault injection is on: transactions fail on purpose (40001, connections cut during COMMIT), for testing clients' retries; never in production", "rate", rate)
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	var sweeper sync.WaitGroup
	sweeper.Go(func() {
		idem.RunHeartbeat(sweepCtx, idempotency.DefaultHeartbeatInterval, func(err error) {
			e.log.Error("renewing the server instance's heartbeat", "err", err)
		})
	})
	sweeper.Go(func() { store.RunExpiry(sweepCtx, expiryInterval) })
	sweeper.Go(func() {
		ex.RunAgreementExpiry(sweepCtx, expiryInterval, func(err error) {
			e.log.Error("expiring agreements", "err", err)
		})
	})
	sweeper.Go(func() { purgeIdempotency(sweepCtx, e, idem) })
	sweeper.Go(func() { purgeSigninFailures(sweepCtx, e, ex) })
	sweeper.Go(func() {
		ex.RunNotificationPurge(sweepCtx, time.Hour,
			func(err error) { e.log.Error("purging read notifications", "err", err) },
			func(n int) { e.log.Info("purged read notifications", "count", n) })
	})
	defer func() {
		stopSweep()
		sweeper.Wait() // before the caller closes the pool under it
		// The HTTP server has stopped: free this instance's keys now
		// rather than after its heartbeat lapses.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deregisterTimeout)
		defer cancel()
		if err := idem.Deregister(dctx); err != nil {
			e.log.Warn("deregistering the server instance; its keys are free once its heartbeat lapses", "err", err)
		}
	}()

	srv := httpapi.NewServer(newHandler(handlerDeps{db: db, store: store, exchange: ex, idem: idem, log: e.log, behindTLSProxy: opts.behindTLSProxy, mailer: opts.mailer, publicURL: opts.publicURL}),
		httpapi.ServerConfig{MaxConns: opts.maxConns, Logger: e.log})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	e.log.Info("listening", "addr", ln.Addr().String(), "url", url)
	fmt.Fprintf(e.stdout, "listening on %s\n", url)
	if secret != "" {
		printFirstRun(e, url, secret, savedAt)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	e.log.Info("shutting down", "cause", context.Cause(ctx).Error())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		e.log.Warn("requests still running after the shutdown timeout; closing their connections", "timeout", shutdownTimeout.String())
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	e.log.Info("HTTP server stopped")
	return nil
}
