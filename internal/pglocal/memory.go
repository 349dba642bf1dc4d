package pglocal

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// DefaultSharedBuffers is the cache of table and index pages a durable
// server keeps in shared memory (PostgreSQL's shared_buffers) unless
// Config.Settings say otherwise: a quarter of the memory this process may
// use (the machine's, or its control group's limit when lower), as
// PostgreSQL's documentation advises for a server of 1 GB or more, from
// PostgreSQL's own default of 128MB up to 8GB.
//
// PostgreSQL's default is sized for the smallest machine it may start on.
// A page it does not hold is read from the system's cache at each use, a
// copy and a lookup more for each, which for a word search among 100,000
// listings (its index alone is 263 MB) made the slowest searches two to
// three times slower (BenchmarkSearch100k, words with a point: p99 34 ms
// with 128MB, 19 ms with 4GB, in one sitting). Shared memory is taken from
// the system only as pages are read into it.
func DefaultSharedBuffers() string {
	return sharedBuffersFor(memoryLimit())
}

// sharedBuffersFor is DefaultSharedBuffers for a process that may use
// bytes of memory (0: unknown).
func sharedBuffersFor(bytes int64) string {
	const mb = 1 << 20
	size := int64(128)
	if bytes > 0 {
		size = min(max(bytes/4/mb, 128), 8192)
	}
	return strconv.FormatInt(size, 10) + "MB"
}

// memoryLimit returns the memory this process may use, in bytes: the
// machine's (MemTotal in /proc/meminfo), or its control group's limit
// (cgroup v2 memory.max, or v1 memory.limit_in_bytes) when lower; 0 when
// neither can be read.
func memoryLimit() int64 {
	var total int64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				total = kb << 10
				break
			}
		}
		f.Close()
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// "max", or v1's "no limit" (a page-rounded 2^63), are no limit.
		if limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && limit > 0 && (total == 0 || limit < total) {
			total = limit
		}
	}
	return total
}
