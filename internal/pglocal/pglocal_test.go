package pglocal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pglocal"
)

// dataDir returns a fresh folder for a cluster, not yet created. Temporary
// folders are made 0700, which the unprivileged server user cannot enter when
// the tests run as root, so the parent is opened for traversal (and made
// directly in the temporary directory, not in t.TempDir's own 0700 parent).
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "data") // Start creates it
}

func start(t *testing.T, dir string) *pglocal.Server {
	t.Helper()
	return startWith(t, pglocal.Config{Dir: dir})
}

func startWith(t *testing.T, cfg pglocal.Config) *pglocal.Server {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	s, err := pglocal.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

func stop(t *testing.T, s *pglocal.Server) {
	t.Helper()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func connect(t *testing.T, s *pglocal.Server) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func show(t *testing.T, conn *pgx.Conn, setting string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(context.Background(), "SELECT current_setting($1)", setting).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", setting, err)
	}
	return v
}

func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

// processUID returns the real uid of a process, from /proc/PID/status.
func processUID(t *testing.T, pid int) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return ""
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)

	s := start(t, dir)
	if s.Port() <= 0 {
		t.Fatalf("Port() = %d", s.Port())
	}
	if !strings.Contains(s.URL("postgres"), fmt.Sprintf("127.0.0.1:%d", s.Port())) {
		t.Fatalf("URL does not name 127.0.0.1:%d", s.Port())
	}
	if os.Geteuid() == 0 {
		if uid := processUID(t, pglocal.PID(s)); uid == "0" {
			t.Fatal("postgres runs as root")
		}
	}
	conn := connect(t, s)
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if got := show(t, conn, "fsync"); got != "off" {
		t.Errorf("without Durable, fsync = %s, want off", got)
	}
	exec(t, conn, "CREATE TABLE kept (n BIGINT)")
	exec(t, conn, "INSERT INTO kept VALUES (1), (2)")
	conn.Close(context.Background())
	password, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, %v", fi.Mode(), err)
	}
	stop(t, s)
	stop(t, s) // idempotent

	srv := startWith(t, pglocal.Config{Dir: dir, Durable: true, Settings: map[string]string{"work_mem": "7MB", "max_connections": "50"}})
	again, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil || string(again) != string(password) {
		t.Fatalf("password changed across restarts (%v)", err)
	}
	conn = connect(t, srv)
	if n := count(t, conn, "kept"); n != 2 {
		t.Fatalf("after restart, kept has %d rows, want 2", n)
	}
	for setting, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "work_mem": "7MB", "max_connections": "50", "recovery_init_sync_method": "syncfs", "jit": "off"} {
		if got := show(t, conn, setting); got != want {
			t.Errorf("%s = %s, want %s", setting, got, want)
		}
	}
	// The cache is sized for the machine (in 8 kB pages in pg_settings).
	var pages int64
	if err := conn.QueryRow(context.Background(), `SELECT setting::BIGINT FROM pg_settings WHERE name = 'shared_buffers'`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if got, want := strconv.FormatInt(pages*8/1024, 10)+"MB", pglocal.DefaultSharedBuffers(); got != want {
		t.Errorf("shared_buffers = %s, want %s", got, want)
	}
	conn.Close(context.Background())
	stop(t, srv)
}

func TestSecondStartIsInUse(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, dir)

	_, err := pglocal.Start(context.Background(), pglocal.Config{Dir: dir})
	if !errors.Is(err, pglocal.ErrInUse) {
		t.Fatalf("second Start: got %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the folder %s", err, dir)
	}
	// The refused Start must not disturb the running server.
	exec(t, connect(t, s), "SELECT 1")
	stop(t, s)
}

func TestStalePostmasterPID(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, dir)
	port := s.Port()
	stop(t, s)

	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
	stale := fmt.Sprintf("999999\n%s\n1700000000\n%d\n\n127.0.0.1\n  1234567    32768\nready   \n", filepath.Join(dir, "pgdata"), port)
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	s = start(t, dir)
	exec(t, connect(t, s), "SELECT 1")
	stop(t, s)
}

func TestOrphanedServerIsReplaced(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, dir)
	conn := connect(t, s)
	exec(t, conn, "CREATE TABLE kept (n BIGINT)")
	exec(t, conn, "INSERT INTO kept VALUES (1)")
	conn.Close(context.Background())
	orphan := pglocal.PID(s)
	pglocal.ReleaseLock(s) // the launcher "dies"; its postgres keeps running

	srv := start(t, dir)
	if pglocal.PID(srv) == orphan {
		t.Fatal("the orphan was reused rather than replaced")
	}
	if n := count(t, connect(t, srv), "kept"); n != 1 {
		t.Fatalf("after replacing the orphan, kept has %d rows, want 1", n)
	}
	stop(t, srv)
}

func TestFindBinariesWithoutPATH(t *testing.T) {
	t.Parallel()
	initdb, postgres, err := pglocal.FindBinaries("", []string{"/usr/lib/postgresql/*/bin"})
	if err != nil {
		t.Fatalf("FindBinaries: %v", err)
	}
	if !strings.HasPrefix(initdb, "/usr/lib/postgresql/") || filepath.Dir(initdb) != filepath.Dir(postgres) {
		t.Fatalf("found initdb %s and postgres %s", initdb, postgres)
	}
}

func TestNoPostgres(t *testing.T) {
	t.Parallel()
	cfg := pglocal.WithSearch(pglocal.Config{Dir: dataDir(t)}, "", []string{})
	_, err := pglocal.Start(context.Background(), cfg)
	if !errors.Is(err, pglocal.ErrNoPostgres) {
		t.Fatalf("Start: got %v, want ErrNoPostgres", err)
	}
	if !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Errorf("error %q does not say what to install", err)
	}
}

// TestPrivateParentFolder puts the data folder under a 0700 folder of the
// caller's. As root the server runs as another user, who cannot enter it:
// Start must say which folder blocks it. Otherwise the server runs as the
// caller, who owns the folder, and Start must work.
func TestPrivateParentFolder(t *testing.T) {
	t.Parallel()
	parent := filepath.Dir(dataDir(t))
	blocked := filepath.Join(parent, "private")
	if err := os.Mkdir(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	srv, err := pglocal.Start(context.Background(), pglocal.Config{Dir: filepath.Join(blocked, "data")})
	if os.Geteuid() != 0 {
		if err != nil {
			t.Fatalf("Start under the caller's own 0700 folder: %v", err)
		}
		if err := srv.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), blocked) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("Start under a 0700 folder: got %v, want an error naming %s", err, blocked)
	}
}

func TestTakenPortIsRetried(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	picks := 0
	pick := func() (int, error) {
		picks++
		if picks == 1 {
			return takenPort, nil
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	s, err := pglocal.Start(context.Background(), pglocal.WithPorts(pglocal.Config{Dir: dataDir(t)}, pick))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer stop(t, s)
	if s.Port() == takenPort || picks != 2 {
		t.Fatalf("listening on %d after %d picks; port %d was taken", s.Port(), picks, takenPort)
	}
	exec(t, connect(t, s), "SELECT 1")
}

func TestBadSettingIsReported(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	_, err := pglocal.Start(context.Background(), pglocal.Config{Dir: dir, Settings: map[string]string{"no_such_setting": "1"}})
	if err == nil || !strings.Contains(err.Error(), `unrecognized configuration parameter "no_such_setting"`) {
		t.Fatalf("Start with a bad setting: got %v, want the server's complaint", err)
	}
	// The failed start released the folder and left a cluster that starts.
	s := start(t, dir)
	exec(t, connect(t, s), "SELECT 1")
	stop(t, s)
}

func TestFailedInitdbLeavesNoCluster(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	// A stand-in initdb that creates part of a cluster and then fails.
	bin := filepath.Join(filepath.Dir(dir), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := "#!/bin/sh\ntouch \"$2/PG_VERSION\"\necho 'initdb: error: the disk is on fire' >&2\nexit 1\n"
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, err := pglocal.Start(context.Background(), pglocal.WithSearch(pglocal.Config{Dir: dir}, bin, []string{}))
	if err == nil || !strings.Contains(err.Error(), "the disk is on fire") {
		t.Fatalf("Start with a failing initdb: got %v, want initdb's output", err)
	}
	for _, name := range []string{"pgdata", "pgdata.init"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after a failed initdb (%v)", name, err)
		}
	}
	// The next start, with the real binaries, initialises the cluster.
	s := start(t, dir)
	exec(t, connect(t, s), "SELECT 1")
	stop(t, s)
}

// killPostmaster kills the server's postmaster with SIGKILL, as the kernel's
// OOM killer or a careless operator would, after checking that
// postmaster.pid names it too.
func killPostmaster(t *testing.T, s *pglocal.Server, dir string) int {
	t.Helper()
	pid := pglocal.PID(s)
	b, err := os.ReadFile(filepath.Join(dir, "pgdata", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(b), "\n"); first != strconv.Itoa(pid) {
		t.Fatalf("postmaster.pid names %s; the server's postmaster is %d", first, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitServing waits until the server has a postmaster other than old and
// accepts connections on its URL, and returns how long that took.
func waitServing(t *testing.T, s *pglocal.Server, old int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < within {
		if pglocal.PID(s) != old {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			conn, err := pgx.Connect(ctx, s.URL("postgres"))
			cancel()
			if err == nil {
				conn.Close(context.Background())
				return time.Since(start)
			}
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the server was not serving again %v after its postmaster %d was killed (last error: %v; stats %+v)", within, old, last, s.Stats())
	return 0
}

// refused reports whether nothing accepts connections on port.
func refused(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

func TestKilledPostmasterIsRestarted(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	// Without Durable, commits are acknowledged before their WAL is written
	// (synchronous_commit=off), and a killed server loses the last ones.
	// fsync=off loses nothing here: the kernel keeps what was written.
	s := startWith(t, pglocal.Config{Dir: dir, Settings: map[string]string{"synchronous_commit": "on"}})
	port, url := s.Port(), s.URL("postgres")
	conn := connect(t, s)
	exec(t, conn, "CREATE TABLE kept (n BIGINT)")
	exec(t, conn, "INSERT INTO kept VALUES (1), (2)")

	old := killPostmaster(t, s, dir)
	// The session of the dead postmaster ends; the server comes back on the
	// same port, with what was committed, and takes writes.
	took := waitServing(t, s, old, 30*time.Second)
	t.Logf("serving again %v after SIGKILL of the postmaster", took)
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err == nil {
		t.Error("a session of the killed server still answers")
	}
	if s.Port() != port || s.URL("postgres") != url {
		t.Fatalf("restarted on port %d (URL changed: %v); want the same port %d", s.Port(), s.URL("postgres") != url, port)
	}
	conn = connect(t, s)
	if n := count(t, conn, "kept"); n != 2 {
		t.Fatalf("after the restart, kept has %d rows, want 2", n)
	}
	exec(t, conn, "INSERT INTO kept VALUES (3)")
	if got, want := s.Stats(), (pglocal.Stats{Exits: 1, Restarts: 1}); got != want {
		t.Errorf("stats %+v; want %+v", got, want)
	}

	// A second crash soon after is restarted too (after a short backoff).
	old = killPostmaster(t, s, dir)
	waitServing(t, s, old, 30*time.Second)
	if n := count(t, connect(t, s), "kept"); n != 3 {
		t.Fatalf("after the second restart, kept has %d rows, want 3", n)
	}
	if got, want := s.Stats(), (pglocal.Stats{Exits: 2, Restarts: 2}); got != want {
		t.Errorf("stats %+v; want %+v", got, want)
	}

	// Stop after restarts stops the restarted server and starts nothing.
	last := pglocal.PID(s)
	stop(t, s)
	time.Sleep(time.Second) // longer than the supervisor's backoff
	if !refused(port) {
		t.Error("something accepts connections on the port after Stop")
	}
	if err := syscall.Kill(last, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d still exists after Stop (%v)", last, err)
	}
	if got, want := s.Stats(), (pglocal.Stats{Exits: 2, Restarts: 2}); got != want {
		t.Errorf("after Stop, stats %+v; want %+v (a stop is not an exit to restart)", got, want)
	}
	// The folder is free again.
	s = startWith(t, pglocal.Config{Dir: dir, Settings: map[string]string{"synchronous_commit": "on"}})
	if n := count(t, connect(t, s), "kept"); n != 3 {
		t.Fatalf("after Stop and Start, kept has %d rows, want 3", n)
	}
}

// breakConfig makes the cluster refuse to start, with a setting PostgreSQL
// does not know in postgresql.auto.conf (read only at start), and returns
// the function that mends it.
func breakConfig(t *testing.T, dir string) (mend func()) {
	t.Helper()
	path := filepath.Join(dir, "pgdata", "postgresql.auto.conf")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(slices.Clone(good), "no_such_setting = 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.WriteFile(path, good, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrokenClusterIsRetriedWithBackoff: a server that cannot start again is
// retried with a growing wait, each failure logged with PostgreSQL's reason,
// until it can.
func TestBrokenClusterIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	logs := &syncBuffer{}
	srv := startLogged(t, dir, logs)
	mend := breakConfig(t, dir)

	killed := time.Now()
	old := killPostmaster(t, srv, dir)
	for srv.Stats().FailedRestarts < 4 {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("30 s after the kill, stats %+v; want 4 failed restarts", srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Attempts at 0, 0.1, 0.3 and 0.7 s: a hot loop would be far quicker.
	if d := time.Since(killed); d < 700*time.Millisecond {
		t.Errorf("4 failed restarts within %v of the kill; want a backoff of 0.1 s doubling", d)
	}
	for _, want := range []string{"PostgreSQL exited unexpectedly", "PostgreSQL did not restart", "no_such_setting"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}

	mend()
	waitServing(t, srv, old, 30*time.Second) // the backoff is 5 s at most
	if st := srv.Stats(); st.Exits != 1 || st.Restarts != 1 || st.FailedRestarts < 4 {
		t.Errorf("stats %+v; want 1 exit, 1 restart, 4 or more failures", st)
	}
	exec(t, connect(t, srv), "SELECT 1")
	stop(t, srv)
}

// TestStopWhileRestartsFail: Stop ends a supervisor that keeps failing to
// start the server, promptly, and nothing runs after.
func TestStopWhileRestartsFail(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := start(t, dir)
	port := s.Port()
	breakConfig(t, dir)
	killPostmaster(t, s, dir)
	for s.Stats().FailedRestarts < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	begun := time.Now()
	stop(t, s)
	if d := time.Since(begun); d > 2*time.Second {
		t.Errorf("Stop took %v while restarts were failing", d)
	}
	failed := s.Stats().FailedRestarts
	time.Sleep(time.Second)
	if s.Stats().FailedRestarts != failed || !refused(port) {
		t.Errorf("the supervisor still acts after Stop: stats %+v", s.Stats())
	}
}

// syncBuffer collects a server's logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged starts a server on dir whose log goes to logs.
func startLogged(t *testing.T, dir string, logs *syncBuffer) *pglocal.Server {
	t.Helper()
	s, err := pglocal.Start(context.Background(), pglocal.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

// vmData returns a process's data segment size in kB, from /proc/PID/status:
// it shrinks when malloc gives memory back to the kernel.
func vmData(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmData:"); ok {
			kb, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no VmData line in /proc/%d/status", pid)
	return 0
}

// keptAfterSort returns how much more data (kB) a backend holds after a
// query that sorted about 5 MB in memory than before it.
func keptAfterSort(t *testing.T, s *pglocal.Server) int {
	t.Helper()
	conn := connect(t, s)
	var pid int
	if err := conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	before := vmData(t, pid)
	exec(t, conn, "SELECT count(*) FROM (SELECT md5(i::text) AS h FROM generate_series(1, 40000) AS i ORDER BY h) AS s")
	return vmData(t, pid) - before
}

// The private server's backends keep the memory they free for the next
// transaction instead of shrinking their heap after each one (which cost a
// third of PostgreSQL's CPU under load on the project's 2-core virtual
// machines), unless the operator sets GLIBC_TUNABLES themself.
func TestBackendsKeepFreedMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Fatalf("this test reads /proc: %v", err)
	}
	kept := keptAfterSort(t, start(t, dataDir(t)))
	if kept < 2048 {
		t.Errorf("a backend kept %d kB after sorting ~5 MB, want it to keep the memory (≥ 2 MB)", kept)
	}

	t.Run("operator's GLIBC_TUNABLES win", func(t *testing.T) {
		t.Setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=131072")
		given := keptAfterSort(t, start(t, dataDir(t)))
		if given >= 2048 {
			t.Errorf("with glibc's trimming asked for, a backend still kept %d kB after sorting ~5 MB", given)
		}
	})
}
