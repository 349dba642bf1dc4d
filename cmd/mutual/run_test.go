package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/internal/pglocal"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
	"github.com/mutual-ledger/mutual/schema"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// startWithin is how long a test waits for a server to listen: a first
// start in local mode runs initdb on a durable cluster, which takes a
// minute on a busy machine.
const startWithin = 3 * time.Minute

// output is an io.Writer safe for the concurrent writes of a running server
// and the test's reads. It reports the address of the first
// "listening on http://ADDR" line written to it.
type output struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	listen chan string // receives the address once
	sent   bool
}

var listeningLine = regexp.MustCompile(`(?m)^listening on http://(\S+)$`)

func newOutput() *output { return &output{listen: make(chan string, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if !o.sent {
		if m := listeningLine.FindSubmatch(o.buf.Bytes()); m != nil {
			o.listen <- string(m[1])
			o.sent = true
		}
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// environ returns a getenv that sees only vars, so the tests do not depend
// on the DATABASE_URL of whoever runs them.
func environ(vars ...string) func(string) string {
	return func(key string) string {
		for i := 0; i+1 < len(vars); i += 2 {
			if vars[i] == key {
				return vars[i+1]
			}
		}
		return ""
	}
}

// server is a `mutual serve` running in a goroutine.
type server struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
	stdout *output
	stderr *output
}

// startServe runs `mutual serve args...` until it announces its address. The
// test fails if serve returns or does not listen within startWithin (the first
// start in local mode runs initdb). The server is stopped at cleanup if the
// test has not stopped it.
func startServe(t *testing.T, getenv func(string) string, args ...string) *server {
	t.Helper()
	if !slices.Contains(args, "--data-dir") {
		// Keep the first run's admin token out of the source tree.
		args = append(args, "--data-dir", filepath.Join(t.TempDir(), "data"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cancel: cancel, done: make(chan error, 1), stdout: newOutput(), stderr: newOutput()}
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), getenv, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			t.Error("serve still running a minute after cleanup cancelled it")
		}
	})
	select {
	case s.addr = <-s.stdout.listen:
		return s
	case err := <-s.done:
		s.done <- err // for the cleanup
		t.Fatalf("serve returned before listening: %v\nstderr:\n%s", err, s.stderr)
	case <-time.After(startWithin):
		t.Fatalf("serve did not listen within %v\nstderr:\n%s", startWithin, s.stderr)
	}
	return nil
}

// stop cancels serve's context, as SIGINT does, and checks it returns nil
// promptly.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("serve returned %v after its context was cancelled; want nil\nstderr:\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not return within 30 s of its context being cancelled\nstderr:\n%s", s.stderr)
	}
}

// get fetches path from the server and returns the status and body.
func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func (s *server) wantOK(t *testing.T, path, wantBody string) {
	t.Helper()
	code, body := s.get(t, path)
	if code != http.StatusOK || strings.TrimSpace(body) != wantBody {
		t.Errorf("GET %s = %d %q; want 200 %q", path, code, body, wantBody)
	}
}

// runCmd runs a command that is expected to finish, with a deadline.
func runCmd(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// dataDir returns a fresh data folder for local mode. It is made under /tmp
// when the tests run as root, and opened for traversal, because the local
// PostgreSQL then runs as an unprivileged user who must reach it (a folder
// under /root, or os.MkdirTemp's 0700, would stop it).
func dataDir(t *testing.T) string {
	t.Helper()
	base := os.TempDir()
	if os.Geteuid() == 0 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "mutual-cmd-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "data")
}

// passwordOf returns the password in a connection URL.
func passwordOf(t *testing.T, connString string) string {
	t.Helper()
	u, err := url.Parse(connString)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		t.Fatalf("the test URL has no password")
	}
	return pw
}

func TestServeWithDatabaseURL(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	s := startServe(t, environ("DATABASE_URL", dbURL), "--addr", "127.0.0.1:0")

	s.wantOK(t, "/healthz", `{"status":"ok"}`)
	s.wantOK(t, "/readyz", `{"status":"ready"}`)
	if code, _ := s.get(t, "/no-such-page"); code != http.StatusNotFound {
		t.Errorf("GET /no-such-page = %d; want 404", code)
	}
	// The pages at /, the JSON API under /v1/.
	for path, want := range map[string]string{"/": "text/html; charset=utf-8", "/v1/no-such-route": "application/problem+json", "/openapi.json": "application/json"} {
		resp, err := http.Get("http://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type %q; want %q", path, ct, want)
		}
	}
	// Passkeys belong to http://localhost:PORT unless --public-url says
	// otherwise.
	resp, err := http.Post("http://"+s.addr+"/signin/passkey/begin", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"rpId":"localhost"`) {
		t.Errorf("POST /signin/passkey/begin = %d %s; want options for the relying party localhost", resp.StatusCode, b)
	}

	start := time.Now()
	s.stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("serve took %v to shut down with nothing in flight", d)
	}
	if _, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after serve returned", s.addr)
	}
	logs := s.stderr.String()
	if !strings.Contains(logs, `"msg":"listening"`) {
		t.Errorf("no JSON \"listening\" log line in stderr:\n%s", logs)
	}
	if pw := passwordOf(t, dbURL); strings.Contains(logs+s.stdout.String(), pw) {
		t.Errorf("the database password appears in serve's output:\n%s", logs)
	}
}

func TestServeLocalMode(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	first := startServe(t, environ(), "--addr", "127.0.0.1:0", "--data-dir", dir, "--db-cache", "160MB")
	first.wantOK(t, "/readyz", `{"status":"ready"}`)
	// The local PostgreSQL keeps the cache --db-cache asks for (the command
	// line it was started with is in postmaster.opts).
	opts, err := os.ReadFile(filepath.Join(dir, "postgres", "pgdata", "postmaster.opts"))
	if err != nil || !strings.Contains(string(opts), `"shared_buffers=160MB"`) {
		t.Errorf("postmaster.opts does not set shared_buffers=160MB (%v):\n%s", err, opts)
	}
	if _, _, err := runCmd(t, environ(), "serve", "--data-dir", dataDir(t), "--db-cache", "lots"); err == nil || !strings.Contains(err.Error(), "--db-cache") {
		t.Errorf("serve --db-cache lots: %v; want an error about --db-cache", err)
	}

	_, _, err = runCmd(t, environ(), "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err == nil {
		t.Fatal("a second serve on the same data folder succeeded; want an error")
	}
	if !errors.Is(err, pglocal.ErrInUse) || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), dir) {
		t.Errorf("second serve on the same folder: %v; want an error saying %s is in use (errors.Is pglocal.ErrInUse)", err, dir)
	}
	// The first server is unharmed.
	first.wantOK(t, "/readyz", `{"status":"ready"}`)

	first.stop(t)
	pidFile := filepath.Join(dir, "postgres", "pgdata", "postmaster.pid")
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after serve returned (PostgreSQL not stopped?): %v", pidFile, err)
	}
	pw, err := os.ReadFile(filepath.Join(dir, "postgres", "password"))
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.TrimSpace(string(pw)); strings.Contains(first.stderr.String()+first.stdout.String(), p) {
		t.Errorf("the local PostgreSQL's password appears in serve's output:\n%s", first.stderr)
	}

	// The folder is free again, and its cluster and database are reused.
	out, _, err := runCmd(t, environ(), "migrate", "--data-dir", dir)
	if err != nil {
		t.Fatalf("migrate on the folder serve left: %v", err)
	}
	if want := fmt.Sprintf("schema is up to date at version %d", latestVersion(t)); !strings.Contains(out, want) {
		t.Errorf("migrate printed %q; want %q (serve migrated the database)", out, want)
	}
}

func TestServeAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	_, _, err = runCmd(t, environ("DATABASE_URL", dbtest.URL(t)), "serve", "--addr", addr)
	if err == nil {
		t.Fatalf("serve on %s, which the test holds, succeeded", addr)
	}
	for _, want := range []string{"cannot listen on " + addr, "address already in use", "--addr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("serve on a taken address: %q; want it to say %q", err, want)
		}
	}
}

func TestUnreachableDatabaseURL(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: take one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const password = "s3cret-Pa55word"
	for _, cmd := range []string{"serve", "migrate", "verify"} {
		for _, dbURL := range []string{
			"postgres://alice:" + password + "@" + addr + "/books?sslmode=disable",
			"postgres://alice:" + password + "@" + addr + ":not-a-port/books", // unparsable
		} {
			args := []string{cmd}
			if cmd == "serve" {
				args = append(args, "--addr", "127.0.0.1:0")
			}
			_, stderr, err := runCmd(t, environ("DATABASE_URL", dbURL), args...)
			if err == nil {
				t.Errorf("%s with DATABASE_URL %s succeeded", cmd, dbURL)
				continue
			}
			if !strings.Contains(err.Error(), "DATABASE_URL") {
				t.Errorf("%s with a bad DATABASE_URL: %q; want it to name DATABASE_URL", cmd, err)
			}
			if strings.Contains(err.Error()+stderr, password) {
				t.Errorf("%s with a bad DATABASE_URL shows the password: %q\nstderr:\n%s", cmd, err, stderr)
			}
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	dbURL := emptyDatabase(t)
	getenv := environ("DATABASE_URL", dbURL)

	// Nothing to verify before the schema exists.
	if _, _, err := runCmd(t, getenv, "verify"); err == nil || !strings.Contains(err.Error(), "mutual migrate") {
		t.Errorf("verify on an empty database: %v; want an error telling to run mutual migrate", err)
	}

	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, getenv, "migrate")
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	for _, m := range ms {
		if !strings.Contains(out, "applied migration "+m.Name+"\n") {
			t.Errorf("first migrate printed %q; want it to list %s", out, m.Name)
		}
	}
	if want := fmt.Sprintf("schema is now at version %d\n", latestVersion(t)); !strings.HasSuffix(out, want) {
		t.Errorf("first migrate printed %q; want it to end with %q", out, want)
	}

	out, _, err = runCmd(t, getenv, "migrate")
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if want := fmt.Sprintf("schema is up to date at version %d\n", latestVersion(t)); out != want {
		t.Errorf("second migrate printed %q; want %q", out, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	getenv := environ("DATABASE_URL", dbURL)

	out, _, err := runCmd(t, getenv, "verify")
	if err != nil {
		t.Fatalf("verify on a fresh database: %v", err)
	}
	if !strings.HasPrefix(out, "ledger is sound") {
		t.Errorf("verify on a fresh database printed %q; want \"ledger is sound...\"", out)
	}

	// Books with value moved properly stay sound.
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := ledger.Open(ctx, pool, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateUnit(ctx, ledger.Unit{Code: "HOUR", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	acct, err := store.CreateAccount(ctx, ledger.NewAccount{Unit: "HOUR", Owner: "bank", Kind: ledger.KindExternal})
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, getenv, "verify"); err != nil || !strings.HasPrefix(out, "ledger is sound") {
		t.Fatalf("verify with an account: %q, %v; want sound", out, err)
	}

	// Tampering behind the ledger's back: a balance with no entries.
	if _, err := pool.Exec(ctx, `UPDATE accounts SET balance = 5 WHERE id = $1`, acct.ID); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, getenv, "verify")
	if err == nil || !strings.Contains(err.Error(), "NOT sound") {
		t.Fatalf("verify after tampering: %v; want an error saying the ledger is not sound", err)
	}
	if errors.Is(err, errUsage) {
		t.Errorf("verify's violations are reported as a usage error (exit 2)")
	}
	for _, want := range []string{"sum to zero", acct.ID.String()} {
		if !strings.Contains(out, want) {
			t.Errorf("verify after tampering printed %q; want it to mention %q", out, want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		usageErr  bool   // want an error matching errUsage
		errSays   string // and its text to hold this
		stdoutHas string // or success, with this on stdout
	}{
		{args: nil, usageErr: true, errSays: "no command"},
		{args: []string{"frobnicate"}, usageErr: true, errSays: `unknown command "frobnicate"`},
		{args: []string{"serve", "--no-such-flag"}, usageErr: true, errSays: "no-such-flag"},
		{args: []string{"serve", "stray"}, usageErr: true, errSays: `unexpected argument "stray"`},
		{args: []string{"serve", "--public-url", "localhost:8080"}, usageErr: true, errSays: "--public-url"},
		{args: []string{"serve", "--public-url", "https://mutual.example.org/app"}, usageErr: true, errSays: "without a path"},
		{args: []string{"help", "serve"}, stdoutHas: "-public-url"},
		{args: []string{"migrate", "--addr", "x"}, usageErr: true, errSays: "addr"},
		{args: []string{"help", "frobnicate"}, usageErr: true, errSays: "frobnicate"},
		{args: []string{"help"}, stdoutHas: "Commands:"},
		{args: []string{"--help"}, stdoutHas: "Commands:"},
		{args: []string{"help", "serve"}, stdoutHas: "-addr"},
		{args: []string{"serve", "-h"}, stdoutHas: "-data-dir"},
		{args: []string{"verify", "--help"}, stdoutHas: "Usage: mutual verify"},
		{args: []string{"version"}, stdoutHas: "mutual "},
		{args: []string{"serve", "--smtp-url", "smtp://127.0.0.1:2525"}, usageErr: true, errSays: "--smtp-from"},
		{args: []string{"serve", "--smtp-from", "mutual@example.org"}, usageErr: true, errSays: "--smtp-url"},
		{args: []string{"serve", "--smtp-url", "smtp://u:p@127.0.0.1:2525", "--smtp-from", "mutual@example.org"}, usageErr: true, errSays: "environment"},
		{args: []string{"serve", "--smtp-url", "smtp://127.0.0.1:2525", "--smtp-from", "Mutual <m@example.org>"}, usageErr: true, errSays: "plain email address"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"mutual"}, tt.args...), " "), func(t *testing.T) {
			// No command here may touch a database: a DATABASE_URL that
			// cannot be reached would make any that tries fail.
			stdout, _, err := runCmd(t, environ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"), tt.args...)
			if tt.usageErr {
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.errSays) {
					t.Errorf("error %v; want a usage error saying %q", err, tt.errSays)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v; want success", err)
			}
			if !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout %q; want it to contain %q", stdout, tt.stdoutHas)
			}
		})
	}
}

func TestReadyzWhenTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody:pw@"+addr+"/none?connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The stores are built without asking the database anything.
	txdb := pgtx.Open(pool)
	store := ledger.NewStore(txdb, ledger.Config{})
	h := newHandler(handlerDeps{
		db: &database{pool: pool}, store: store, exchange: exchange.NewStore(txdb, store, exchange.Config{}),
		log: slog.New(slog.NewJSONHandler(t.Output(), nil)),
	})

	srv := &http.Server{Handler: h}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(hl)
	defer srv.Close()
	s := &server{addr: hl.Addr().String()}

	start := time.Now()
	code, body := s.get(t, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with the database down = %d %q; want 503", code, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("GET /readyz took %v; want at most about 2 s", d)
	}
	s.wantOK(t, "/healthz", `{"status":"ok"}`) // alive, if not ready
}

// emptyDatabase returns the URL of a new database without the schema, on the
// test server, dropped at cleanup.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	base := dbtest.URL(t)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "empty_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func latestVersion(t *testing.T) int64 {
	t.Helper()
	ms, err := schema.Migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("schema.Migrations: %v, %d", err, len(ms))
	}
	return ms[len(ms)-1].Version
}

// TestIsolationSetting: MUTUAL_ISOLATION=serializable is accepted by the
// commands that open the database, and a value it does not know is refused
// with a message naming the variable, before anything is touched.
func TestIsolationSetting(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	if _, _, err := runCmd(t, environ("DATABASE_URL", url, "MUTUAL_ISOLATION", "serializable"), "migrate"); err != nil {
		t.Fatalf("migrate with MUTUAL_ISOLATION=serializable: %v", err)
	}
	_, _, err := runCmd(t, environ("DATABASE_URL", url, "MUTUAL_ISOLATION", "snapshot"), "verify")
	if err == nil || !strings.Contains(err.Error(), "MUTUAL_ISOLATION") {
		t.Errorf("verify with MUTUAL_ISOLATION=snapshot: %v; want an error naming the variable", err)
	}
}

// TestVerifyProgressLines checks that a verify that runs long says, every
// interval, what it is checking, and falls silent once done.
func TestVerifyProgressLines(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	p := verifyProgress(w, time.Now(), 10*time.Millisecond)
	p.ledger(1, 4, "the journal, account by account")
	time.Sleep(60 * time.Millisecond)
	p.done()
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "checking the ledger: the journal, account by account (2 of 4)") {
		t.Errorf("progress printed %q", out)
	}
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	after := buf.String()
	mu.Unlock()
	if after != out {
		t.Errorf("progress printed after done: %q", after[len(out):])
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestMigrateMultiRegionOnPostgreSQL: on PostgreSQL, migrate --multi-region
// migrates, says there is nothing more to do, and exits 0; --dry-run prints
// the CockroachDB statements for the regions the organizations name, and
// --multi-region without a primary region to be found says to name one.
func TestMigrateMultiRegionOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dbURL := emptyDatabase(t)
	getenv := environ("DATABASE_URL", dbURL)
	out, _, err := runCmd(t, getenv, "migrate", "--multi-region")
	if err != nil || !strings.Contains(out, "this is PostgreSQL, which has nothing to do") {
		t.Fatalf("migrate --multi-region on PostgreSQL: %v, printed %q", err, out)
	}
	if _, _, err := runCmd(t, getenv, "migrate", "--multi-region", "--dry-run"); err == nil || !strings.Contains(err.Error(), "--primary-region") {
		t.Errorf("--dry-run with no region anywhere: %v, want a request for --primary-region", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
INSERT INTO orgs (id, name, kind, region, created_at) VALUES (gen_random_uuid(), 'Red', 'network', 'us-east1', now());
INSERT INTO orgs (id, parent_id, name, kind, region, created_at)
SELECT gen_random_uuid(), id, 'Lyon', 'local', 'europe-west1', now() FROM orgs WHERE kind = 'network'`); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, getenv, "migrate", "--multi-region", "--dry-run", "--survive", "region")
	if err != nil {
		t.Fatal(err)
	}
	db := pgx.Identifier{conn.Config().Database}.Sanitize()
	for _, want := range []string{
		"ALTER DATABASE " + db + ` PRIMARY REGION "us-east1";`,
		"ALTER DATABASE " + db + ` ADD REGION IF NOT EXISTS "europe-west1";`,
		"ALTER DATABASE " + db + " SURVIVE REGION FAILURE;",
		"ALTER TABLE orgs SET LOCALITY GLOBAL;",
		"ALTER TABLE entries SET LOCALITY REGIONAL BY ROW AS crdb_region;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--dry-run printed %q; want it to hold %q", out, want)
		}
	}
	if _, _, err := runCmd(t, getenv, "migrate", "--dry-run"); err == nil {
		t.Error("--dry-run without --multi-region was taken")
	}
}

// adminClient is an API client of the server at url with the admin's token
// that its first run saved in dir, over at most conns connections.
func adminClient(t *testing.T, url, dir string, conns int) *apiClient {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return newAPIClient(url, strings.TrimSpace(string(token)), conns)
}
