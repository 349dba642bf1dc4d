package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// TestMaxConnectionsFlag: --max-connections is refused when it cannot be
// met, before anything starts, and otherwise bounds the connections serve
// holds: with 2, two idle kept-alive clients do not keep a third out (one
// of them is closed to make room).
func TestMaxConnectionsFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ value, says string }{
		{"-1", "must be positive"},
		{"2000000000", "open-files limit"},
		{"many", "max-connections"},
	} {
		_, _, err := runCmd(t, environ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
			"serve", "--addr", "127.0.0.1:0", "--max-connections", tt.value)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("serve --max-connections %s: %v; want a usage error saying %q", tt.value, err, tt.says)
		}
	}

	s := startServe(t, environ("DATABASE_URL", dbtest.URL(t)), "--addr", "127.0.0.1:0", "--max-connections", "2")
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: mutual.test\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("keep-alive GET /healthz: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		idle = append(idle, c)
	}
	start := time.Now()
	s.wantOK(t, "/healthz", `{"status":"ok"}`)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the third client waited %v", took)
	}
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d idle connections were closed for the third client; want 1 (the limit is 2)", closed)
	}
}

// TestServeFitsTheOpenFilesLimit runs the real binary under an open-files
// limit of 400: without --max-connections it serves fewer connections at
// once than the default and says so; with one the limit cannot hold, it
// refuses to start and says which limit to raise.
func TestServeFitsTheOpenFilesLimit(t *testing.T) {
	t.Parallel()
	bin := buildMutual(t)
	const limited = `ulimit -n 400 && exec "$0" "$@"` // soft and hard limits both
	c := startChild(t, "sh", []string{"DATABASE_URL=" + dbtest.URL(t)},
		"-c", limited, bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"))
	if _, err := c.healthz(); err != nil {
		t.Errorf("GET /healthz under a 400 open-files limit: %v", err)
	}
	if logs := c.stderr.String(); !strings.Contains(logs, `"max_connections":272`) || !strings.Contains(logs, `"open_files_limit":400`) {
		t.Errorf("serve did not say it lowered its connection limit to 400 - %d files:\n%s", reservedFiles, logs)
	}

	cmd := exec.Command("sh", "-c", limited, bin, "serve", "--addr", "127.0.0.1:0", "--max-connections", "1000")
	cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://nobody@127.0.0.1:1/none")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "open-files limit is 400") {
		t.Errorf("serve --max-connections 1000 under a 400 open-files limit: %v\n%s\nwant exit status 2 and a message naming the limit", err, out)
	}
}
