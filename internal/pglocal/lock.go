package pglocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrInUse is returned (wrapped, naming the folder) by Start when another
// process holds the data folder's lock.
var ErrInUse = errors.New("data folder is in use by another mutual process")

// lockFolder takes the folder's exclusive lock, held through the returned
// file until it is closed (or the process dies: the kernel drops a flock with
// its last descriptor, and children do not inherit it because Go opens files
// close-on-exec).
func lockFolder(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("pglocal: data folder %s is in use by another mutual process: %w", dir, ErrInUse)
		}
		return nil, fmt.Errorf("pglocal: locking data folder %s: %w", dir, err)
	}
	return f, nil
}

// unlockFolder releases the folder's lock. A child being forked at that
// moment (ours or any other goroutine's) holds a copy of the descriptor, and
// with it the lock, until it execs; the fork happens under syscall.ForkLock,
// so closing under its read lock waits for any such child to let go and the
// folder is free as soon as this returns.
func unlockFolder(f *os.File) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f.Close()
}

// clearStalePID deals with the postmaster.pid a previous owner of the folder
// left behind (we hold the folder lock, so that owner is gone). If its PID is
// a live postgres serving our pgdata — an orphan of a launcher killed with
// SIGKILL — it is shut down; otherwise the file is stale and removed, since
// postgres refuses to start while the PID in it names any live process.
func clearStalePID(pgdata string, log *slog.Logger) error {
	pidFile := filepath.Join(pgdata, "postmaster.pid")
	f, err := os.Open(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	sc := bufio.NewScanner(f)
	sc.Scan()
	first := strings.TrimSpace(sc.Text())
	f.Close()
	pid, err := strconv.Atoi(first)
	if err != nil || pid <= 0 || !isOurPostmaster(pid, pgdata) {
		log.Info("removing stale postmaster.pid", "pgdata", pgdata, "pid", first)
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pglocal: removing stale %s: %w", pidFile, err)
		}
		return nil
	}
	log.Info("stopping orphaned PostgreSQL left running by a previous launcher", "pgdata", pgdata, "pid", pid)
	if err := stopPID(pid); err != nil {
		return err
	}
	// A clean shutdown removes the file; after an escalation it may remain.
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// isOurPostmaster reports whether pid is a live postgres whose working
// directory is pgdata (the postmaster, and every process it forks, chdirs
// into its data directory). A PID reused by any other process, or one we may
// not inspect, is not ours.
func isOurPostmaster(pid int, pgdata string) bool {
	if !alive(pid) {
		return false
	}
	proc := "/proc/" + strconv.Itoa(pid)
	exe, err := os.Readlink(proc + "/exe")
	if err != nil {
		return false
	}
	if filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != "postgres" {
		return false
	}
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil {
		return false
	}
	want, err := filepath.EvalSymlinks(pgdata)
	if err != nil {
		return false
	}
	return filepath.Clean(cwd) == want
}

// alive reports whether pid names a process that has not exited; a zombie
// (exited, not yet reaped) counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesised command name, which may itself hold
	// spaces and parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// Shutdown timing: fast shutdown (SIGINT) first; immediate shutdown (SIGQUIT)
// if that takes too long; SIGKILL last.
const (
	fastShutdownWait      = 10 * time.Second
	immediateShutdownWait = 5 * time.Second
	killWait              = 5 * time.Second
)

// stopPID shuts down a postmaster that is not our child (so we cannot wait
// for it) by polling until it is gone.
func stopPID(pid int) error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, fastShutdownWait}, {syscall.SIGQUIT, immediateShutdownWait}, {syscall.SIGKILL, killWait}}
	for _, step := range steps {
		if err := syscall.Kill(pid, step.sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("pglocal: signalling orphaned postgres %d: %w", pid, err)
		}
		for deadline := time.Now().Add(step.wait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if !alive(pid) {
				return nil
			}
		}
	}
	return fmt.Errorf("pglocal: orphaned postgres %d still runs after SIGKILL", pid)
}

// orphanGrace is how long the processes of a postmaster that died get to
// notice and exit by themselves (they usually do at once) before they are
// sent SIGQUIT, then SIGKILL.
const orphanGrace = time.Second

// awaitOrphans waits until no process of a dead postmaster still serves
// pgdata: its backends and auxiliary processes outlive it for a moment, and
// PostgreSQL refuses to start while any is attached to the old shared
// memory (which also keeps two servers from ever writing the same files).
// Those that linger past orphanGrace get SIGQUIT (an immediate exit, as the
// postmaster itself orders after a crash), then SIGKILL.
func awaitOrphans(ctx context.Context, pgdata string, log *slog.Logger) error {
	if err := awaitProcesses(ctx, pgdata, log); err != nil {
		return err
	}
	return awaitDetached(ctx, shmID(pgdata))
}

// awaitDetached waits, for at most orphanGrace, until no process is attached
// to the System V shared memory segment id any more: PostgreSQL refuses to
// start while the old one is in use ("pre-existing shared memory block is
// still in use"), and a killed backend can still hold it for a moment after
// it no longer shows as a postgres process (the kernel unmaps its memory
// late in its exit). An id of -1 (none known) returns at once.
func awaitDetached(ctx context.Context, id int) error {
	for deadline := time.Now().Add(orphanGrace); id >= 0 && shmAttached(id) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// shmID returns the shared memory segment id the postmaster recorded on the
// seventh line of pgdata's postmaster.pid ("key id"), or -1.
func shmID(pgdata string) int {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return -1
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return -1
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return -1
	}
	id, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return id
}

// shmAttached reports whether segment id exists with processes attached,
// from /proc/sysvipc/shm (columns: key shmid perms size cpid lpid nattch ...).
func shmAttached(id int) bool {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 7 && f[1] == strconv.Itoa(id) {
			return f[6] != "0"
		}
	}
	return false
}

// awaitProcesses is awaitOrphans' wait for the dead server's processes.
func awaitProcesses(ctx context.Context, pgdata string, log *slog.Logger) error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{0, orphanGrace}, {syscall.SIGQUIT, immediateShutdownWait}, {syscall.SIGKILL, killWait}}
	for _, step := range steps {
		pids := orphans(pgdata)
		if len(pids) == 0 {
			return nil
		}
		if step.sig != 0 {
			log.Warn("processes of the PostgreSQL that exited still run; signalling them", "pgdata", pgdata, "pids", pids, "signal", step.sig.String())
			for _, pid := range pids {
				syscall.Kill(pid, step.sig)
			}
		}
		for deadline := time.Now().Add(step.wait); time.Now().Before(deadline); {
			if len(orphans(pgdata)) == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if pids := orphans(pgdata); len(pids) > 0 {
		return fmt.Errorf("pglocal: processes %v of the PostgreSQL that exited still run after SIGKILL", pids)
	}
	return nil
}

// orphans returns the live postgres processes whose working directory is
// pgdata (every process of a server chdirs into its data directory).
func orphans(pgdata string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if isOurPostmaster(pid, pgdata) {
			pids = append(pids, pid)
		}
	}
	return pids
}
