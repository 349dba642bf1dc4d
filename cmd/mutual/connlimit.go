package main

import (
	"fmt"
	"syscall"

	"github.com/mutual-ledger/mutual/httpapi"
)

// reservedFiles is how many open files serve keeps for other things than
// HTTP connections: the listeners, the database pool's connections, the
// local PostgreSQL's pipes, the logs.
const reservedFiles = 128

// connectionLimit returns how many HTTP connections serve holds open at
// once. n is --max-connections (0 when not given): it must fit the
// process's open-files limit (which Go raises to the hard limit at start),
// or serve refuses to start rather than fail later with "too many open
// files" under load. Without the flag the default is lowered to fit.
func connectionLimit(e *env, n int) (int, error) {
	if n < 0 {
		return 0, &usageError{fmt.Sprintf("serve: --max-connections %d: must be positive", n)}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return n, nil // no limit known: take the figure as it is
	}
	budget := int(min(lim.Cur, 1<<30)) - reservedFiles
	switch {
	case n > budget:
		return 0, &usageError{fmt.Sprintf("serve: --max-connections %d needs %d open files, but the open-files limit is %d: raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit) or pass a lower --max-connections",
			n, n+reservedFiles, lim.Cur)}
	case n > 0:
		return n, nil
	case budget < 16:
		return 0, fmt.Errorf("the open-files limit is %d, too low to serve HTTP: raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit)", lim.Cur)
	case budget < httpapi.DefaultMaxConns:
		e.log.Warn("serving fewer connections at once than the default, to fit the open-files limit",
			"max_connections", budget, "open_files_limit", lim.Cur)
		return budget, nil
	}
	return httpapi.DefaultMaxConns, nil
}
