package pglocal

import "context"

// ReleaseLock ends the supervision and drops the folder lock without
// stopping the server, as if the launcher had been killed and its postgres
// orphaned.
func ReleaseLock(s *Server) {
	s.endSupervision()
	unlockFolder(s.lock)
}

// PID returns the current postmaster's process id.
func PID(s *Server) int {
	return s.current().pid
}

// FindBinaries runs the binary search with the given PATH value and root
// patterns and returns the folder of initdb and postgres.
func FindBinaries(pathEnv string, roots []string) (initdb, postgres string, err error) {
	b, err := findBinaries(context.Background(), pathEnv, roots)
	return b.initdb, b.postgres, err
}

// WithSearch returns cfg with its binary search limited to the given PATH
// value and root patterns.
func WithSearch(cfg Config, pathEnv string, roots []string) Config {
	cfg.pathEnv = &pathEnv
	cfg.searchRoots = roots
	return cfg
}

// WithPorts returns cfg with its ports picked by pick instead of the kernel.
func WithPorts(cfg Config, pick func() (int, error)) Config {
	cfg.pickPort = pick
	return cfg
}
