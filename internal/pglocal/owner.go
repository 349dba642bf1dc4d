package pglocal

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// runAs is the unprivileged account the server runs as when the launcher is
// root. A nil *runAs means "as ourselves".
type runAs struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32 // every group the user is in, the primary one included
}

// serverUser picks the account to run PostgreSQL as: nil when we are not
// root; else the `postgres` user if it exists, else the `mutual` system user,
// created with useradd when missing.
func serverUser(ctx context.Context) (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		u, err = user.Lookup("mutual")
	}
	if err != nil {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "mutual").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("pglocal: running as root, PostgreSQL needs an unprivileged user; neither postgres nor mutual exists and `useradd --system mutual` failed: %v: %s", err, out)
		}
		if u, err = user.Lookup("mutual"); err != nil {
			return nil, fmt.Errorf("pglocal: user mutual not found after useradd: %w", err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: user %s has uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: user %s has gid %q: %w", u.Username, u.Gid, err)
	}
	r := &runAs{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil && !slices.Contains(r.groups, uint32(g)) {
				r.groups = append(r.groups, uint32(g))
			}
		}
	}
	return r, nil
}

// sysProcAttr returns the attributes of a child process: its own process
// group, so a Ctrl-C meant for the launcher does not shut the server down
// before the launcher is done with it; SIGINT (fast shutdown) when the
// launcher dies; and the unprivileged credentials when we are root.
func (r *runAs) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	if r != nil {
		a.Credential = &syscall.Credential{Uid: r.uid, Gid: r.gid, Groups: r.groups}
	}
	return a
}

// searchBit is the permission bit that lets r enter a directory with the
// given owner and group: the owner's, the group's or the others' x bit,
// whichever class r falls in (as the kernel decides, ACLs aside).
func (r *runAs) searchBit(st *syscall.Stat_t) fs.FileMode {
	switch {
	case st.Uid == r.uid:
		return 0o100
	case slices.Contains(r.groups, st.Gid):
		return 0o010
	default:
		return 0o001
	}
}

// ensureReachable checks that r can walk from / down into dir (which must be
// absolute and exist). dir itself belongs to the launcher, so it is given the
// missing search bit; a blocking ancestor is reported, naming it.
func (r *runAs) ensureReachable(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := r.walkUp(dir, real); err != nil {
		return err
	}
	if real == dir {
		return nil
	}
	// The server is given the path as written, so the folders a symlink in
	// it passes through must be open too.
	return r.walkUp(dir, dir)
}

// walkUp checks (and for the data folder itself, fixes) the search bit of
// folder and each of its ancestors; dir is the data folder as named by the
// caller.
func (r *runAs) walkUp(dir, folder string) error {
	for p := folder; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("pglocal: cannot read the owner of %s", p)
		}
		if bit := r.searchBit(st); fi.Mode().Perm()&bit == 0 {
			if p != folder {
				return fmt.Errorf("pglocal: PostgreSQL runs as user %s (the launcher is root), which cannot enter %s (mode %v, owner uid %d) on the way to the data folder %s; choose a data folder it can reach, e.g. --data-dir /var/lib/mutual or /srv/mutual",
					r.name, p, fi.Mode().Perm(), st.Uid, dir)
			}
			if err := os.Chmod(p, fi.Mode().Perm()|bit); err != nil {
				return fmt.Errorf("pglocal: letting user %s enter the data folder: %w", r.name, err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// chownTree gives every file under root to r (like chown -R), touching only
// the ones that are not r's already.
func (r *runAs) chownTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == r.uid && st.Gid == r.gid {
			return nil
		}
		return os.Lchown(p, int(r.uid), int(r.gid))
	})
}

// chown gives one file to r; a no-op when r is nil.
func (r *runAs) chown(path string) error {
	if r == nil {
		return nil
	}
	return os.Lchown(path, int(r.uid), int(r.gid))
}
