package dbtest

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/proccpu"
)

// Postmaster returns the process id of the PostgreSQL server the pool
// talks to when it runs on this machine (its data directory is readable
// here), or 0. Benchmarks read the server's CPU per operation from it
// (ServerCPU), which varies far less than throughput on a shared machine.
func Postmaster(ctx context.Context, pool *pgxpool.Pool) int {
	var dir string
	if err := pool.QueryRow(ctx, `SHOW data_directory`).Scan(&dir); err != nil {
		return 0
	}
	b, err := os.ReadFile(dir + "/postmaster.pid")
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// ServerCPU returns the CPU time so far of the PostgreSQL server whose
// postmaster is pid and of its processes (backends, WAL writer,
// checkpointer, autovacuum), in nanoseconds (0 where there is none).
// Unlike the machine's busy time, it does not count what other programs
// on a shared machine do.
func ServerCPU(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	s, err := proccpu.Read(pid)
	if err != nil {
		return 0
	}
	return int64(s.Process + s.Descendants)
}
