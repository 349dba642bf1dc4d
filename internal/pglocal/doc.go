// Package pglocal runs a private PostgreSQL server in a data folder: it
// initialises the cluster on first use, starts `postgres` on a free loopback
// port, guards the folder with a lock so two processes never share it,
// starts the server again (same port, same folder) whenever it exits on its
// own, and stops it on request. `mutual serve` uses it for local mode and
// the tests use it (through internal/dbtest) for their throwaway cluster.
//
// PostgreSQL refuses to run as root, so when the caller is root the server runs
// as the unprivileged `postgres` user (or a `mutual` system user created on
// demand).
package pglocal
