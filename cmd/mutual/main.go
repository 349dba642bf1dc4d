// Command mutual runs Mutual, an exchange ledger for the solidarity economy:
// `mutual serve` starts the server (with a private PostgreSQL unless
// DATABASE_URL names a database), `mutual migrate` applies the schema and
// `mutual verify` checks the ledger's invariants. Run `mutual help` for more.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; restoring the default
	// handling then lets a second Ctrl-C end the process at once (the local
	// PostgreSQL is still told to stop: it gets SIGINT when its parent dies).
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutual:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
