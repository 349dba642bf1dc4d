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
	"sync/atomic"
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
	// `mutual serve`, and sizes its cache for the machine
	// (DefaultSharedBuffers). When false, as for tests, the server runs
	// with fsync=off, synchronous_commit=off and full_page_writes=off:
	// fast, but a machine crash can lose or corrupt the cluster.
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
//
// Until Stop, the Server supervises the postmaster: if it exits on its own
// (killed, or crashed), the Server logs it and starts it again on the same
// port and data folder, waiting first for the old server's processes to go
// (PostgreSQL refuses to start while any is attached to the old shared
// memory) and letting PostgreSQL's crash recovery replay the WAL. A start
// that fails is retried with a backoff growing from 0.1 s to 5 s, each
// failure logged, until one succeeds or Stop is called. Stats counts it all.
type Server struct {
	dir      string
	port     int
	password string
	log      *slog.Logger
	// relaunch starts the postmaster again on the same port.
	relaunch func(ctx context.Context) (*postmaster, error)

	mu sync.Mutex
	pm *postmaster // the current postmaster

	// supervise is cancelled by Stop; supervised is closed once the
	// supervisor has returned (and will start nothing more).
	supervise  context.Context
	cancel     context.CancelFunc
	supervised chan struct{}

	exits, restarts, failures atomic.Int64

	lock     *os.File
	stopOnce sync.Once
	stopErr  error
}

// postmaster is one run of the server process.
type postmaster struct {
	proc    *os.Process
	pid     int
	started time.Time
	exited  chan struct{} // closed once the process has exited and been reaped
	waitErr error         // how it exited, set before exited is closed
}

// Stats counts what the supervisor did since Start.
type Stats struct {
	// Exits is how many times the postmaster exited without Stop asking.
	Exits int64
	// Restarts is how many times it was then started again successfully.
	Restarts int64
	// FailedRestarts is how many attempts to start it again failed.
	FailedRestarts int64
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
// server outlives ctx: only Stop ends it, and until then it is started again
// whenever it exits (see Server).
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
	s.supervise, s.cancel = context.WithCancel(context.Background())
	go s.superviseLoop()
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
		pm, err := launch(ctx, cfg, dir, bin, owner, port, password, log)
		if errors.Is(err, errPortTaken) && attempt < attempts {
			log.Info("port taken before PostgreSQL could bind it; trying another", "port", port)
			continue
		}
		if err != nil {
			return nil, err
		}
		s := &Server{dir: dir, port: port, password: password, log: log, pm: pm, supervised: make(chan struct{})}
		s.relaunch = func(ctx context.Context) (*postmaster, error) {
			if err := awaitOrphans(ctx, pgdata, log); err != nil {
				return nil, err
			}
			if err := clearStalePID(pgdata, log); err != nil {
				return nil, err
			}
			return launch(ctx, cfg, dir, bin, owner, port, password, log)
		}
		return s, nil
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
		// PostgreSQL compiles a statement whose estimated cost passes
		// jit_above_cost to machine code before running it: 100 to 150 ms
		// here, for statements that then run in a few milliseconds (a
		// word search's probes, estimated over thousands of rows in their
		// generic plan), or that scan and hash, which it does not speed
		// up (mutual verify, which also turns it off). Mutual's
		// statements are short; none gains from it.
		"-c", "jit=off",
	}
	if !cfg.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	} else {
		// A server for real data (and benchmarks) holds what it reads in a
		// cache sized for the machine; tests, many servers at once on
		// small data, keep PostgreSQL's 128MB.
		args = append(args, "-c", "shared_buffers="+DefaultSharedBuffers())
	}
	if cfg.Durable && clusterVersion(pgdata) >= 14 {
		// Before replaying the WAL after a crash, PostgreSQL makes sure
		// every file of the cluster is on disk. One syncfs() does that in
		// a fraction of the time of an fsync() per file (measured here:
		// about 1.4 s against 2.5-3.9 s from SIGKILL to serving again), so
		// the supervisor's restarts are quicker. (Linux, PostgreSQL 14+.)
		args = append(args, "-c", "recovery_init_sync_method=syncfs")
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

// mallocTunables keeps glibc's malloc in each PostgreSQL process from
// giving memory back to the kernel after every transaction. By default a
// backend that frees more than 128 kB at the top of its heap shrinks it
// with brk, and grows it again (page faults) on the next transaction; each
// shrink flushes the TLB of every CPU the process ran on, which on this
// project's 2-core virtual machines cost about a third of PostgreSQL's CPU
// under load (perf: __brk → flush_tlb_mm_range). With these a backend keeps
// up to 64 MB of freed memory for reuse (in practice its own peak, a few
// MB), and blocks below 32 MB come from the heap instead of mmap/munmap.
// Measured (scripts/loadtest.sh's CPU per transfer, 32 workers, A/B in one
// run): PostgreSQL's CPU per single transfer fell from 304-323 µs to
// 210-219 µs, and transfers/s rose 23-27%.
const mallocTunables = "glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=33554432"

// serverEnv returns postgres's environment: env with mallocTunables, unless
// env sets GLIBC_TUNABLES itself (the operator's choice wins). Other C
// libraries ignore the variable.
func serverEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GLIBC_TUNABLES=") {
			return env
		}
	}
	return append(slices.Clip(env), "GLIBC_TUNABLES="+mallocTunables)
}

// clusterVersion returns the major version in pgdata/PG_VERSION (the
// server's too: it refuses to run a cluster of another version), or 0.
func clusterVersion(pgdata string) int {
	b, err := os.ReadFile(filepath.Join(pgdata, "PG_VERSION"))
	if err != nil {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return v
}

// readyTimeout bounds the wait for a started server to accept connections
// (crash recovery after an unclean stop can take a while).
const readyTimeout = 60 * time.Second

// launch starts postgres on port and waits until it is ready.
func launch(ctx context.Context, cfg Config, dir string, bin binaries, owner *runAs, port int, password string, log *slog.Logger) (*postmaster, error) {
	logFile, logStart, err := openLog(dir, owner)
	if err != nil {
		return nil, err
	}
	pgdata := filepath.Join(dir, pgdataName)
	cmd := exec.Command(bin.postgres, serverArgs(cfg, pgdata, port)...)
	cmd.Dir = dir
	cmd.Env = serverEnv(os.Environ())
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = owner.sysProcAttr()
	err = cmd.Start()
	logFile.Close() // the child has its own copy
	if err != nil {
		return nil, fmt.Errorf("pglocal: starting %s: %w", bin.postgres, err)
	}
	pm := &postmaster{
		proc:    cmd.Process,
		pid:     cmd.Process.Pid,
		started: time.Now(),
		exited:  make(chan struct{}),
	}
	go func() {
		pm.waitErr = cmd.Wait()
		close(pm.exited)
	}()

	if err := pm.waitReady(ctx, serverURL(port, password, "postgres"), dir); err != nil {
		halt(context.Background(), pm, log)
		logTail := logSince(dir, logStart)
		if strings.Contains(logTail, "could not bind") || strings.Contains(logTail, "Address already in use") {
			return nil, fmt.Errorf("pglocal: %w: %v", errPortTaken, err)
		}
		return nil, fmt.Errorf("pglocal: PostgreSQL did not start: %v; end of %s:\n%s", err, filepath.Join(dir, logName), logTail)
	}
	log.Info("PostgreSQL started", "dir", dir, "port", port, "pid", pm.pid, "durable", cfg.Durable)
	return pm, nil
}

// waitReady tries to connect to url until the server accepts, the
// postmaster exits, ctx ends or readyTimeout passes. dir is the launcher's
// folder, named in errors.
func (pm *postmaster) waitReady(ctx context.Context, url, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// A connection attempt can hang on whatever else holds the port (ours
	// then fails to bind and exits): abandon it as soon as ours exits.
	go func() {
		select {
		case <-pm.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	cfg, err := pgconn.ParseConfig(url)
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
		case <-pm.exited:
			return fmt.Errorf("postgres exited: %v", pm.waitErr)
		default:
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "28P01" { // invalid_password
			// Someone else's server may have the port while ours failed to
			// bind it: give ours a moment to exit before blaming the password.
			select {
			case <-pm.exited:
				return fmt.Errorf("postgres exited: %v", pm.waitErr)
			case <-time.After(time.Second):
			}
			return fmt.Errorf("the password in %s does not match the cluster: %w", filepath.Join(dir, passwordName), err)
		}
		select {
		case <-pm.exited:
			return fmt.Errorf("postgres exited: %v", pm.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last connection error: %v)", ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logSince returns the last lines the server in dir logged after offset off.
func logSince(dir string, off int64) string {
	f, err := os.Open(filepath.Join(dir, logName))
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
// usable by pgxpool.New. The URL holds the password: do not log it. It stays
// valid across the supervisor's restarts, which keep the port.
func (s *Server) URL(database string) string {
	return serverURL(s.port, s.password, database)
}

func serverURL(port int, password, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int {
	return s.port
}

// Stats returns how many times the postmaster exited on its own and how the
// supervisor's attempts to start it again went.
func (s *Server) Stats() Stats {
	return Stats{Exits: s.exits.Load(), Restarts: s.restarts.Load(), FailedRestarts: s.failures.Load()}
}

func (s *Server) current() *postmaster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pm
}

// Restart backoff. The first attempt after an exit is immediate, unless the
// server had run less than stableAfter since its last start (it keeps
// crashing): then, as after each failed attempt, the wait doubles from
// firstBackoff up to maxBackoff.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
	stableAfter  = 30 * time.Second
)

func nextBackoff(d time.Duration) time.Duration {
	return min(max(2*d, firstBackoff), maxBackoff)
}

// superviseLoop waits for the postmaster to exit and starts it again, until
// Stop cancels s.supervise.
func (s *Server) superviseLoop() {
	defer close(s.supervised)
	ctx := s.supervise
	var delay time.Duration
	for {
		pm := s.current()
		select {
		case <-ctx.Done():
			return
		case <-pm.exited:
		}
		if ctx.Err() != nil {
			return // Stop came as it exited: nothing to restart
		}
		s.exits.Add(1)
		ranFor := time.Since(pm.started)
		if ranFor >= stableAfter {
			delay = 0
		}
		s.log.Error("PostgreSQL exited unexpectedly; restarting it", "dir", s.dir, "pid", pm.pid,
			"exit", exitStatus(pm.waitErr), "ran_for", ranFor.Round(time.Millisecond).String(), "retry_in", delay.String())
		down := time.Now()
		for attempt := 1; ; attempt++ {
			if !sleep(ctx, delay) {
				return
			}
			next, err := s.relaunch(ctx)
			if err == nil {
				s.mu.Lock()
				s.pm = next
				s.mu.Unlock()
				s.restarts.Add(1)
				s.log.Info("PostgreSQL restarted", "dir", s.dir, "port", s.port, "pid", next.pid,
					"attempt", attempt, "down_for", time.Since(down).Round(time.Millisecond).String())
				break
			}
			if ctx.Err() != nil {
				return
			}
			s.failures.Add(1)
			delay = nextBackoff(delay)
			s.log.Error("PostgreSQL did not restart; trying again", "dir", s.dir, "port", s.port,
				"attempt", attempt, "retry_in", delay.String(), "err", err.Error())
		}
		delay = nextBackoff(delay) // reset once the server has stayed up
	}
}

// exitStatus says how a postmaster ended ("signal: killed").
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// sleep waits d, or less if ctx ends first, and reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stop shuts the server down and releases the folder's lock. It first ends
// the supervision (a restart in progress is abandoned and nothing is started
// again), then asks for a fast shutdown (SIGINT: sessions are ended, then a
// checkpoint) and waits for the postmaster to exit; if that takes more than
// 10 s or ctx ends first, it escalates to an immediate shutdown (SIGQUIT:
// crash recovery at the next start) and, 5 s later, to SIGKILL. Pass a
// context that is not already canceled (e.g. context.WithoutCancel of a
// signal context) to get a clean stop.
//
// Stop is idempotent and safe for concurrent calls: every call waits for the
// first to finish and returns its result. It returns an error only if the
// postmaster could not be stopped even by SIGKILL; the lock is released
// either way.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.endSupervision()
		pm := s.current()
		s.stopErr = halt(ctx, pm, s.log)
		if s.lock != nil {
			unlockFolder(s.lock)
		}
		if s.stopErr == nil {
			s.log.Info("PostgreSQL stopped", "dir", s.dir, "pid", pm.pid)
		}
	})
	return s.stopErr
}

// endSupervision stops the supervisor and waits until it has returned.
func (s *Server) endSupervision() {
	s.cancel()
	<-s.supervised
}

// halt stops the postmaster, escalating as Stop describes.
func halt(ctx context.Context, pm *postmaster, log *slog.Logger) error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, fastShutdownWait}, {syscall.SIGQUIT, immediateShutdownWait}, {syscall.SIGKILL, killWait}}
	for i, step := range steps {
		select {
		case <-pm.exited:
			return nil
		default:
		}
		if i > 0 {
			log.Warn("PostgreSQL did not stop in time; escalating", "pid", pm.pid, "signal", step.sig.String())
		}
		if err := pm.proc.Signal(step.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pglocal: signalling postgres %d: %w", pm.pid, err)
		}
		timer := time.NewTimer(step.wait)
		var done <-chan struct{}
		if step.sig == syscall.SIGINT {
			done = ctx.Done() // ctx only cuts the wait for a clean shutdown short
		}
		select {
		case <-pm.exited:
			timer.Stop()
			return nil
		case <-timer.C:
		case <-done:
			timer.Stop()
		}
	}
	return fmt.Errorf("pglocal: postgres %d still runs after SIGKILL", pm.pid)
}
