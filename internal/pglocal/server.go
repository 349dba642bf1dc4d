package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Config says where and how to run the private server.
type Config struct {
	// Dir is the folder owned by this launcher: the cluster goes in
	// Dir/pgdata, the server's log in Dir/postgres.log, the superuser's
	// password in Dir/password and the lock in Dir/lock. It is created if
	// missing.
	Dir string
	// Durable keeps PostgreSQL's default durability (fsync on), for
	// `mutual serve`. When false, as for tests, the server runs with
	// fsync=off, synchronous_commit=off and full_page_writes=off: fast, but a
	// machine crash can lose or corrupt the cluster.
	Durable bool
	// Logger receives what the launcher does (never the password); nil
	// discards it.
	Logger *slog.Logger
	// Settings are extra server settings, passed as `-c name=value` after
	// the launcher's own, so they override them.
	Settings map[string]string

	// searchRoots, when non-nil, replaces defaultRoots (set by tests).
	searchRoots []string
	// pathEnv, when non-nil, replaces $PATH in the binary search (set by tests).
	pathEnv *string
	// pickPort, when non-nil, replaces freePort (set by tests).
	pickPort func() (int, error)
}

// Server is a running private PostgreSQL started by Start. Its methods are
// safe for concurrent use. The postmaster runs in its own process group, so
// a terminal's Ctrl-C reaches only the launcher, which is expected to call
// Stop; if the launcher dies instead, the kernel sends the postmaster SIGINT
// (a fast shutdown).
type Server struct {
	dir      string
	port     int
	password string
	proc     *os.Process
	pid      int
	log      *slog.Logger

	exited  chan struct{} // closed once the postmaster has exited and been reaped
	waitErr error         // how it exited, set before exited is closed

	lock     *os.File
	stopOnce sync.Once
	stopErr  error
}

// Start initialises the cluster in cfg.Dir on first use (initdb), takes the
// folder's lock, then starts `postgres` on a free 127.0.0.1 port and waits
// until it accepts connections. A postmaster.pid left by a crash is dealt with
// first: removed when stale, and when it names a live postgres still serving
// the folder (the orphan of a killed launcher), that server is shut down.
//
// When the process is root, initdb and postgres run as the `postgres` user,
// or as a `mutual` system user created if that does not exist either; Dir
// itself is made enterable by that user, and if a folder above Dir is not,
// Start fails with an error naming it.
//
// Start returns an error wrapping ErrInUse when another process holds the
// folder, ErrNoPostgres when no server binaries are installed, and otherwise
// an error that quotes the end of initdb's output or of the server's log.
// When Start fails, nothing is left running and the lock is released. The
// server outlives ctx: only Stop ends it.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Dir == "" {
		return nil, errors.New("pglocal: Config.Dir is empty")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	pathEnv := os.Getenv("PATH")
	if cfg.pathEnv != nil {
		pathEnv = *cfg.pathEnv
	}
	roots := defaultRoots
	if cfg.searchRoots != nil {
		roots = cfg.searchRoots
	}
	bin, err := findBinaries(ctx, pathEnv, roots)
	if err != nil {
		return nil, err
	}
	// As root, folders we create must let the server's user pass through.
	perm := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		perm = 0o711
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return nil, fmt.Errorf("pglocal: creating data folder: %w", err)
	}
	lock, err := lockFolder(dir)
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, cfg, dir, bin, log)
	if err != nil {
		unlockFolder(lock)
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// start does Start's work once the folder is locked.
func start(ctx context.Context, cfg Config, dir string, bin binaries, log *slog.Logger) (*Server, error) {
	owner, err := serverUser(ctx)
	if err != nil {
		return nil, err
	}
	if owner != nil {
		if err := owner.ensureReachable(dir); err != nil {
			return nil, err
		}
	}
	password, err := ensureCluster(ctx, dir, bin, owner, cfg.Durable, log)
	if err != nil {
		return nil, err
	}
	pgdata := filepath.Join(dir, pgdataName)
	if owner != nil {
		if err := owner.chownTree(pgdata); err != nil {
			return nil, fmt.Errorf("pglocal: giving %s to user %s: %w", pgdata, owner.name, err)
		}
	}
	if err := clearStalePID(pgdata, log); err != nil {
		return nil, err
	}

	// The port is free when we pick it but another process may take it before
	// postgres binds; then postgres exits and we pick again.
	const attempts = 5
	pickPort := freePort
	if cfg.pickPort != nil {
		pickPort = cfg.pickPort
	}
	for attempt := 1; ; attempt++ {
		port, err := pickPort()
		if err != nil {
			return nil, err
		}
		s, err := launch(ctx, cfg, dir, bin, owner, port, password, log)
		if errors.Is(err, errPortTaken) && attempt < attempts {
			log.Info("port taken before PostgreSQL could bind it; trying another", "port", port)
			continue
		}
		return s, err
	}
}

// errPortTaken marks a launch that failed because the port was taken.
var errPortTaken = errors.New("port already in use")

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// maxLogSize is the size past which a start moves the server log aside (to
// postgres.log.old), so a long-lived data folder does not grow without bound.
const maxLogSize = 16 << 20

// openLog opens the server's log for appending, returning the offset where
// this run's output starts.
func openLog(dir string, owner *runAs) (*os.File, int64, error) {
	path := filepath.Join(dir, logName)
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		if err := os.Rename(path, path+".old"); err != nil {
			return nil, 0, fmt.Errorf("pglocal: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("pglocal: %w", err)
	}
	if err := owner.chown(path); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("pglocal: %w", err)
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("pglocal: %w", err)
	}
	return f, off, nil
}

// serverArgs returns postgres's command line.
func serverArgs(cfg Config, pgdata string, port int) []string {
	args := []string{"-D", pgdata, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
	}
	if !cfg.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	names := make([]string, 0, len(cfg.Settings))
	for name := range cfg.Settings {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		args = append(args, "-c", name+"="+cfg.Settings[name])
	}
	return args
}

// readyTimeout bounds the wait for a started server to accept connections
// (crash recovery after an unclean stop can take a while).
const readyTimeout = 60 * time.Second

// launch starts postgres on port and waits until it is ready.
func launch(ctx context.Context, cfg Config, dir string, bin binaries, owner *runAs, port int, password string, log *slog.Logger) (*Server, error) {
	logFile, logStart, err := openLog(dir, owner)
	if err != nil {
		return nil, err
	}
	pgdata := filepath.Join(dir, pgdataName)
	cmd := exec.Command(bin.postgres, serverArgs(cfg, pgdata, port)...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = owner.sysProcAttr()
	err = cmd.Start()
	logFile.Close() // the child has its own copy
	if err != nil {
		return nil, fmt.Errorf("pglocal: starting %s: %w", bin.postgres, err)
	}
	s := &Server{
		dir:      dir,
		port:     port,
		password: password,
		proc:     cmd.Process,
		pid:      cmd.Process.Pid,
		log:      log,
		exited:   make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx); err != nil {
		s.halt(context.Background())
		logTail := s.logSince(logStart)
		if strings.Contains(logTail, "could not bind") || strings.Contains(logTail, "Address already in use") {
			return nil, fmt.Errorf("pglocal: %w: %v", errPortTaken, err)
		}
		return nil, fmt.Errorf("pglocal: PostgreSQL did not start: %v; end of %s:\n%s", err, filepath.Join(dir, logName), logTail)
	}
	log.Info("PostgreSQL started", "dir", dir, "port", port, "pid", s.pid, "durable", cfg.Durable)
	return s, nil
}

// waitReady tries to connect until the server accepts, the postmaster exits,
// ctx ends or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// A connection attempt can hang on whatever else holds the port (ours
	// then fails to bind and exits): abandon it as soon as ours exits.
	go func() {
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	cfg, err := pgconn.ParseConfig(s.URL("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 2 * time.Second
	var lastErr error
	for {
		conn, err := pgconn.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn.Close(ctx)
		}
		lastErr = err
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		default:
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "28P01" { // invalid_password
			// Someone else's server may have the port while ours failed to
			// bind it: give ours a moment to exit before blaming the password.
			select {
			case <-s.exited:
				return fmt.Errorf("postgres exited: %v", s.waitErr)
			case <-time.After(time.Second):
			}
			return fmt.Errorf("the password in %s does not match the cluster: %w", filepath.Join(s.dir, passwordName), err)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last connection error: %v)", ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logSince returns the last lines the server logged after offset off.
func (s *Server) logSince(off int64) string {
	f, err := os.Open(filepath.Join(s.dir, logName))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-off > max {
		off = fi.Size() - max
	}
	b, err := io.ReadAll(io.NewSectionReader(f, off, max))
	if err != nil {
		return err.Error()
	}
	return tail(b, 20)
}

// URL returns a postgres:// URL for database on this server — host
// 127.0.0.1, its port, the superuser and its password, sslmode=disable —
// usable by pgxpool.New. The URL holds the password: do not log it.
func (s *Server) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, s.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int {
	return s.port
}

// Stop shuts the server down and releases the folder's lock. It asks for a
// fast shutdown (SIGINT: sessions are ended, then a checkpoint) and waits for
// the postmaster to exit; if that takes more than 10 s or ctx ends first, it
// escalates to an immediate shutdown (SIGQUIT: crash recovery at the next
// start) and, 5 s later, to SIGKILL. Pass a context that is not already canceled
// (e.g. context.WithoutCancel of a signal context) to get a clean stop.
//
// Stop is idempotent and safe for concurrent calls: every call waits for the
// first to finish and returns its result. It returns an error only if the
// postmaster could not be stopped even by SIGKILL; the lock is released
// either way.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopErr = s.halt(ctx)
		if s.lock != nil {
			unlockFolder(s.lock)
		}
		if s.stopErr == nil {
			s.log.Info("PostgreSQL stopped", "dir", s.dir, "pid", s.pid)
		}
	})
	return s.stopErr
}

// halt stops the postmaster, escalating as Stop describes.
func (s *Server) halt(ctx context.Context) error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, fastShutdownWait}, {syscall.SIGQUIT, immediateShutdownWait}, {syscall.SIGKILL, killWait}}
	for i, step := range steps {
		select {
		case <-s.exited:
			return nil
		default:
		}
		if i > 0 {
			s.log.Warn("PostgreSQL did not stop in time; escalating", "pid", s.pid, "signal", step.sig.String())
		}
		if err := s.proc.Signal(step.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pglocal: signalling postgres %d: %w", s.pid, err)
		}
		timer := time.NewTimer(step.wait)
		var done <-chan struct{}
		if step.sig == syscall.SIGINT {
			done = ctx.Done() // ctx only cuts the wait for a clean shutdown short
		}
		select {
		case <-s.exited:
			timer.Stop()
			return nil
		case <-timer.C:
		case <-done:
			timer.Stop()
		}
	}
	return fmt.Errorf("pglocal: postgres %d still runs after SIGKILL", s.pid)
}
