package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildMutual builds this command into a temporary folder and returns the
// binary's path, for tests that need a real process: to kill it, or to read
// its memory. go test puts its own go first on PATH.
func buildMutual(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mutual")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building mutual: %v\n%s", err, out)
	}
	return bin
}

// child is a mutual process the test started.
type child struct {
	cmd    *exec.Cmd
	addr   string // HOST:PORT it listens on
	url    string // http://addr
	stderr *output
	done   chan struct{} // closed once the process has exited
	err    error         // cmd.Wait's result, set before done is closed
}

// startChild starts bin with args, in the test's environment with env's
// variables set over it (a variable set to "" is removed), and waits for it
// to say where it listens. At cleanup a child still running gets SIGTERM,
// and SIGKILL if it has not stopped 30 s later.
func startChild(t *testing.T, bin string, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = withEnv(os.Environ(), env)
	stdout := newOutput()
	c := &child{cmd: cmd, stderr: newOutput(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = stdout, c.stderr
	cmd.WaitDelay = 5 * time.Second // do not wait on pipes a grandchild kept
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-c.done
			t.Errorf("mutual did not stop within 30 s of SIGTERM")
		}
	})
	select {
	case c.addr = <-stdout.listen:
		c.url = "http://" + c.addr
		return c
	case <-c.done:
		t.Fatalf("mutual exited before listening: %v\nstderr:\n%s", c.err, c.stderr)
	case <-time.After(startWithin):
		t.Fatalf("mutual did not listen within %v\nstderr:\n%s", startWithin, c.stderr)
	}
	return nil
}

// withEnv returns base with each NAME=VALUE of set put over it; NAME= removes
// NAME.
func withEnv(base, set []string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if overrides(set, name) {
			continue
		}
		out = append(out, kv)
	}
	for _, kv := range set {
		if !strings.HasSuffix(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}

// overrides reports whether set names the variable name.
func overrides(set []string, name string) bool {
	for _, kv := range set {
		if n, _, _ := strings.Cut(kv, "="); n == name {
			return true
		}
	}
	return false
}

// waitReady polls /readyz until it answers 200 and returns when it did.
func (c *child) waitReady(t *testing.T) time.Time {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(c.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now()
			}
		}
	}
	t.Fatalf("/readyz not ready within a minute\nstderr:\n%s", c.stderr)
	return time.Time{}
}

// stop sends SIGTERM and checks the child exits cleanly.
func (c *child) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		if c.err != nil {
			t.Fatalf("mutual exited with %v after SIGTERM\nstderr:\n%s", c.err, c.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("mutual still runs 30 s after SIGTERM")
	}
}
