package pglocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Files and folders inside Config.Dir.
const (
	pgdataName   = "pgdata"
	initName     = "pgdata.init" // initdb's work in progress, renamed to pgdata when complete
	passwordName = "password"
	logName      = "postgres.log"
)

// superuser is the cluster's superuser, the role the URLs connect as.
const superuser = "postgres"

// ensureCluster makes sure dir holds a complete cluster and returns the
// superuser's password. initdb works in a side folder that is renamed to
// pgdata only once it has succeeded, so a launcher killed half-way leaves
// nothing that looks like a cluster and the next start simply retries.
func ensureCluster(ctx context.Context, dir string, bin binaries, owner *runAs, durable bool, log *slog.Logger) (string, error) {
	pgdata := filepath.Join(dir, pgdataName)
	pwPath := filepath.Join(dir, passwordName)
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); err == nil {
		pw, err := os.ReadFile(pwPath)
		if err != nil {
			return "", fmt.Errorf("pglocal: the cluster in %s exists but its password cannot be read: %w", pgdata, err)
		}
		password := strings.TrimSpace(string(pw))
		if password == "" {
			return "", fmt.Errorf("pglocal: the cluster in %s exists but its password file %s is empty", pgdata, pwPath)
		}
		return password, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("pglocal: %w", err)
	}

	log.Info("initialising PostgreSQL cluster", "pgdata", pgdata, "initdb", bin.initdb)
	work := filepath.Join(dir, initName)
	for _, p := range []string{work, pgdata} {
		if err := os.RemoveAll(p); err != nil {
			return "", fmt.Errorf("pglocal: removing incomplete cluster: %w", err)
		}
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	if err := owner.chown(work); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}

	password, err := newPassword()
	if err != nil {
		return "", err
	}
	// initdb reads the password from a file, which (when we are root) must be
	// readable by the server's user: a private copy of its own, deleted after.
	pwTemp, err := os.CreateTemp(dir, "initdb-pw-*")
	if err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	defer os.Remove(pwTemp.Name())
	_, werr := pwTemp.WriteString(password + "\n")
	cerr := pwTemp.Close()
	if err := errors.Join(werr, cerr, owner.chown(pwTemp.Name())); err != nil {
		return "", fmt.Errorf("pglocal: writing initdb's password file: %w", err)
	}

	args := []string{"-D", work, "-U", superuser, "--auth=scram-sha-256", "--pwfile=" + pwTemp.Name(), "-E", "UTF8", "--locale=C"}
	if !durable {
		args = append(args, "--no-sync")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.initdb, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = owner.sysProcAttr()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		os.RemoveAll(work)
		return "", fmt.Errorf("pglocal: initdb failed: %v\n%s", err, tail(out.Bytes(), 20))
	}
	log.Debug("initdb done", "output", out.String())

	if err := writeFileAtomic(pwPath, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("pglocal: saving the password: %w", err)
	}
	if err := os.Rename(work, pgdata); err != nil {
		return "", fmt.Errorf("pglocal: %w", err)
	}
	return password, nil
}

// newPassword returns 24 random bytes in hex, safe to put in a URL as is.
func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pglocal: generating a password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(f.Name(), perm)); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
