package pglocal_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
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

	s2 := startWith(t, pglocal.Config{Dir: dir, Durable: true, Settings: map[string]string{"work_mem": "7MB", "max_connections": "50"}})
	again, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil || string(again) != string(password) {
		t.Fatalf("password changed across restarts (%v)", err)
	}
	conn = connect(t, s2)
	if n := count(t, conn, "kept"); n != 2 {
		t.Fatalf("after restart, kept has %d rows, want 2", n)
	}
	for setting, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "work_mem": "7MB", "max_connections": "50"} {
		if got := show(t, conn, setting); got != want {
			t.Errorf("%s = %s, want %s", setting, got, want)
		}
	}
	conn.Close(context.Background())
	stop(t, s2)
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

	s2 := start(t, dir)
	if pglocal.PID(s2) == orphan {
		t.Fatal("the orphan was reused rather than replaced")
	}
	if n := count(t, connect(t, s2), "kept"); n != 1 {
		t.Fatalf("after replacing the orphan, kept has %d rows, want 1", n)
	}
	stop(t, s2)
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
