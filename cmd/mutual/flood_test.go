package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// The header flood: floodConns connections each send floodBytes of header
// lines and never end the header. Before the server bounded its headers and
// connections this took it from 30 MB to well over a gigabyte.
const (
	floodConns = 2000
	floodBytes = 1 << 20
	// maxFloodRSS is the most memory the server may use meanwhile.
	maxFloodRSS = 200 << 20
)

// TestHeaderFloodKeepsMemoryBounded runs the real `mutual serve` as a child
// process (so that its memory can be read from /proc, goroutines and buffers
// included), floods it with unfinished 1 MB headers from 2,000 connections,
// and checks that its peak resident memory stays under 200 MB and that a
// client with an ordinary request is answered during the flood and after.
func TestHeaderFloodKeepsMemoryBounded(t *testing.T) {
	t.Parallel()
	// The flood holds a file per connection, here and in the server.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("reading the open-files limit: %v", err)
	}
	if need := uint64(floodConns + 512); lim.Cur < need {
		t.Fatalf("the header flood opens %d connections and needs %d open files, but the open-files limit is %d (hard limit %d): raise it with ulimit -Hn / ulimit -n before running the tests",
			floodConns, need, lim.Cur, lim.Max)
	}
	child := startChild(t, buildMutual(t), []string{"DATABASE_URL=" + dbtest.URL(t)},
		"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"))
	client := &http.Client{Timeout: 30 * time.Second}
	healthz := func() (time.Duration, error) {
		start := time.Now()
		res, err := client.Get("http://" + child.addr + "/healthz")
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d", res.StatusCode)
		}
		return time.Since(start), nil
	}
	if _, err := healthz(); err != nil {
		t.Fatalf("before the flood: GET /healthz: %v", err)
	}
	before := child.memory(t)

	// Sample the server's memory while the flood runs; VmHWM keeps the
	// peak between samples too.
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	var peakRSS atomic.Int64
	sampler.Go(func() {
		for {
			if m, err := child.readMemory(); err == nil && m.rss > peakRSS.Load() {
				peakRSS.Store(m.rss)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	// The flood: each connection sends a request line and header lines up
	// to floodBytes, without the blank line that would end them, then
	// holds the connection open until the flood ends. A write the server
	// refuses (it answered 431 and closed) ends that connection's part.
	line := []byte("X-Flood: " + strings.Repeat("f", 1014) + "\r\n") // 1 KiB
	chunk := []byte(strings.Repeat(string(line), 64))                // 64 KiB
	release := make(chan struct{})
	var dialed, sent, refused, dialFailed atomic.Int64
	var flood sync.WaitGroup
	start := time.Now()
	for range floodConns {
		flood.Go(func() {
			c, err := net.DialTimeout("tcp", child.addr, 20*time.Second)
			if err != nil {
				dialFailed.Add(1)
				return
			}
			defer c.Close()
			dialed.Add(1)
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, "GET /v1/me HTTP/1.1\r\nHost: mutual.test\r\n"); err != nil {
				refused.Add(1)
				return
			}
			for n := 0; n < floodBytes; n += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					refused.Add(1)
					return
				}
			}
			sent.Add(1)
			<-release
		})
	}
	// An ordinary client during the flood.
	time.Sleep(500 * time.Millisecond)
	during, errDuring := healthz()
	// Wait until every flood connection has sent all it could, then let go.
	writersDone := make(chan struct{})
	go func() {
		for dialed.Load()+dialFailed.Load() < floodConns || sent.Load()+refused.Load() < dialed.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		close(writersDone)
	}()
	select {
	case <-writersDone:
	case <-time.After(2 * time.Minute):
		t.Errorf("the flood's writes did not end within two minutes: %d dialed, %d sent everything, %d refused",
			dialed.Load(), sent.Load(), refused.Load())
	}
	floodTook := time.Since(start)
	close(release)
	flood.Wait()
	close(stopSampling)
	sampler.Wait()
	after := child.memory(t)
	afterLatency, errAfter := healthz()

	t.Logf("flood: %d connections (%d failed to dial), %d wrote their whole 1 MB header (into the kernel's buffers), %d saw the server close theirs first; %v",
		dialed.Load(), dialFailed.Load(), sent.Load(), refused.Load(), floodTook.Round(time.Millisecond))
	t.Logf("server memory: VmRSS %d MB before, peak VmRSS %d MB (sampled), VmHWM %d MB; GET /healthz took %v during the flood and %v after",
		before.rss>>20, peakRSS.Load()>>20, after.hwm>>20, during.Round(time.Millisecond), afterLatency.Round(time.Millisecond))
	if after.hwm > maxFloodRSS {
		t.Errorf("the server's peak memory was %d MB during the flood; want under %d MB", after.hwm>>20, maxFloodRSS>>20)
	}
	if errDuring != nil {
		t.Errorf("GET /healthz during the flood: %v", errDuring)
	}
	if errAfter != nil {
		t.Errorf("GET /healthz after the flood: %v", errAfter)
	}
	if dialFailed.Load() > 0 {
		t.Errorf("%d flood connections could not even connect: the accept queue overflowed", dialFailed.Load())
	}
}

// buildMutual builds this command into a temporary folder and returns the
// binary's path. go test puts its own go first on PATH.
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
	addr   string
	stderr *output
}

// startChild starts bin with args and the extra environment env and waits
// for it to say where it listens. It is stopped with SIGTERM at cleanup.
func startChild(t *testing.T, bin string, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout := newOutput()
	c := &child{cmd: cmd, stderr: newOutput()}
	cmd.Stdout, cmd.Stderr = stdout, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("mutual did not stop within 30 s of SIGTERM")
		}
	})
	select {
	case c.addr = <-stdout.listen:
		return c
	case err := <-exited:
		exited <- err
		t.Fatalf("mutual exited before listening: %v\nstderr:\n%s", err, c.stderr)
	case <-time.After(time.Minute):
		t.Fatalf("mutual did not listen within a minute\nstderr:\n%s", c.stderr)
	}
	return nil
}

// memory is a process's resident memory now (VmRSS) and at its peak
// (VmHWM), in bytes.
type memory struct{ rss, hwm int64 }

func (c *child) readMemory() (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch {
		case name != "VmRSS" && name != "VmHWM":
			continue
		case err != nil:
			return memory{}, fmt.Errorf("reading %s: %q: %w", name, value, err)
		case name == "VmRSS":
			m.rss = kb << 10
		default:
			m.hwm = kb << 10
		}
	}
	if m.rss == 0 || m.hwm == 0 {
		return memory{}, fmt.Errorf("no VmRSS or VmHWM in /proc/%d/status", c.cmd.Process.Pid)
	}
	return m, sc.Err()
}

func (c *child) memory(t *testing.T) memory {
	t.Helper()
	m, err := c.readMemory()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
