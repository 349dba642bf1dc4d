package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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

// The header flood: floodConns connections at once, each sending a header
// that never ends. Before the server bounded its headers and connections
// this took it from 20 MB to over a gigabyte.
const (
	floodConns = 2000
	// maxFloodRSS is the most memory the server may use meanwhile.
	maxFloodRSS = 200 << 20
)

// TestHeaderFloodKeepsMemoryBounded runs the real `mutual serve` as a child
// process (so that its memory can be read from /proc, goroutines and buffers
// included) and floods it from 2,000 connections at once, twice: with 1 MB
// headers that never end, then with headers just under the server's limit
// that stall there (the most a connection can make the server hold until
// ReadHeaderTimeout cuts it). It checks that the server's peak resident
// memory stays under 200 MB and that a client with an ordinary request is
// answered during each flood and after.
func TestHeaderFloodKeepsMemoryBounded(t *testing.T) {
	t.Parallel()
	// The flood holds a file per connection, here and in the server.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("reading the open-files limit: %v", err)
	}
	if need := uint64(floodConns + 512); lim.Cur < need {
		t.Fatalf("the header flood opens %d connections and needs %d open files, but the open-files limit is %d (hard limit %d): raise it (ulimit -n, within ulimit -Hn) before running the tests",
			floodConns, need, lim.Cur, lim.Max)
	}
	child := startChild(t, buildMutual(t), []string{"DATABASE_URL=" + dbtest.URL(t)},
		"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"))
	if _, err := child.healthz(); err != nil {
		t.Fatalf("before the flood: GET /healthz: %v", err)
	}
	before := child.memory(t)
	t.Logf("server memory before the flood: VmRSS %d MB", before.rss>>20)

	// 1 MB of header lines each, as fast as they go: the server answers
	// 431 once a header passes its limit.
	child.flood(t, "1 MB headers", 1<<20)
	// Just under the limit (32 KiB, plus the 4 KiB net/http allows over
	// it), then nothing: the server holds each until ReadHeaderTimeout.
	child.flood(t, "36 KB headers that stall", 35<<10)

	after := child.memory(t)
	t.Logf("server memory after both floods: VmRSS %d MB, peak (VmHWM) %d MB", after.rss>>20, after.hwm>>20)
	if after.hwm > maxFloodRSS {
		t.Errorf("the server's peak memory was %d MB; want under %d MB", after.hwm>>20, maxFloodRSS>>20)
	}
	if _, err := child.healthz(); err != nil {
		t.Errorf("GET /healthz after the floods: %v", err)
	}
}

// flood opens floodConns connections to the child at once; each sends a
// request line and size bytes of header lines, without the blank line that
// would end them, then waits for the server to close the connection. An
// ordinary GET /healthz is sent meanwhile and must be answered.
func (c *child) flood(t *testing.T, name string, size int) {
	t.Helper()
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	var peakRSS atomic.Int64
	sampler.Go(func() {
		for {
			if m, err := c.readMemory(); err == nil && m.rss > peakRSS.Load() {
				peakRSS.Store(m.rss)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	line := []byte("X-Flood: " + strings.Repeat("f", 1014) + "\r\n") // 1 KiB
	var dialFailed, refused, cut, notCut atomic.Int64
	var flood sync.WaitGroup
	start := time.Now()
	for range floodConns {
		flood.Go(func() {
			conn, err := net.DialTimeout("tcp", c.addr, 30*time.Second)
			if err != nil {
				dialFailed.Add(1)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute))
			w := bufio.NewWriterSize(conn, 64<<10)
			io.WriteString(w, "GET /v1/me HTTP/1.1\r\nHost: mutual.test\r\n")
			for n := 0; n < size; n += len(line) {
				w.Write(line)
			}
			if err := w.Flush(); err != nil {
				refused.Add(1) // the server closed it before taking it all
			}
			// The server must end the connection (a 431, or silence at
			// ReadHeaderTimeout), not keep it.
			if _, err := io.Copy(io.Discard, conn); err == nil || !isTimeout(err) {
				cut.Add(1)
			} else {
				notCut.Add(1)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	during, errDuring := c.healthz()
	flood.Wait()
	took := time.Since(start)
	close(stopSampling)
	sampler.Wait()
	m := c.memory(t)
	t.Logf("%s: %d connections (%d could not connect) ended by the server in %v, %d of them before taking all their bytes; peak VmRSS %d MB (sampled), VmHWM so far %d MB; GET /healthz answered in %v during the flood",
		name, cut.Load(), dialFailed.Load(), took.Round(time.Millisecond), refused.Load(), peakRSS.Load()>>20, m.hwm>>20, during.Round(time.Millisecond))
	if errDuring != nil {
		t.Errorf("%s: GET /healthz during the flood: %v", name, errDuring)
	}
	if n := dialFailed.Load(); n > 0 {
		t.Errorf("%s: %d connections could not connect: the accept queue overflowed", name, n)
	}
	if n := notCut.Load(); n > 0 {
		t.Errorf("%s: the server kept %d connections open for a minute", name, n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// healthz sends GET /healthz and returns how long the answer took.
func (c *child) healthz() (time.Duration, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	res, err := client.Get("http://" + c.addr + "/healthz")
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
