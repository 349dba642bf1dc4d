package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/ledger"
)

// lockedBuffer collects a child process's output for the test to read.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeSendsSigninCodesByEmail: `mutual serve --smtp-url --smtp-from`
// mails a member the sign-in code they ask for, through a real SMTP server
// (Debian's aiosmtpd, which .ci/run installs), and the code signs them in.
func TestServeSendsSigninCodesByEmail(t *testing.T) {
	t.Parallel()
	python := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import aiosmtpd").Run() == nil {
			python = path
			break
		}
	}
	if python == "" {
		t.Fatal("aiosmtpd is not installed, and this test sends mail to a real SMTP server: install it (apt-get install -y python3-aiosmtpd)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpAddr := "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	mails := &lockedBuffer{}
	cmd := exec.Command(python, "-u", "-m", "aiosmtpd", "-n", "-l", smtpAddr)
	cmd.Stdout, cmd.Stderr = mails, mails
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", smtpAddr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aiosmtpd did not listen on %s:\n%s", smtpAddr, mails)
		}
	}

	dbURL := dbtest.URL(t)
	s := startServe(t, environ("DATABASE_URL", dbURL), "--addr", "127.0.0.1:0",
		"--smtp-url", "smtp://"+smtpAddr, "--smtp-from", "mutual@example.org")
	// A member with an email address, made as setup makes them.
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	led, err := ledger.Open(ctx, pool, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := exchange.NewStore(led.DB(), led, exchange.Config{}).CreateMember(ctx, exchange.System(),
		exchange.NewMember{Name: "Lea", Email: "lea@example.org"})
	if err != nil {
		t.Fatal(err)
	}

	post := func(path string, body any) *http.Response {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post("http://"+s.addr+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("/v1/signin/email", map[string]any{"email": "lea@example.org"}); r.StatusCode != http.StatusAccepted {
		t.Fatalf("asking for a code: %d", r.StatusCode)
	}
	code := regexp.MustCompile(`\n    ([2-9A-Z]{4}-[2-9A-Z]{4})\r?\n`)
	var got []string
	for deadline := time.Now().Add(20 * time.Second); got == nil; time.Sleep(50 * time.Millisecond) {
		got = code.FindStringSubmatch(mails.String())
		if got == nil && time.Now().After(deadline) {
			t.Fatalf("no sign-in mail arrived:\n%s\nserve's log:\n%s", mails, s.stderr)
		}
	}
	if !strings.Contains(mails.String(), "To: lea@example.org") || !strings.Contains(mails.String(), m.ID.String()) {
		t.Errorf("the mail is not Lea's:\n%s", mails)
	}
	r := post("/v1/signin/code", map[string]any{"member_id": m.ID.String(), "code": got[1]})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Set-Cookie"), "mutual_session=") {
		t.Fatalf("signing in with the mailed code: %d %q", r.StatusCode, r.Header.Get("Set-Cookie"))
	}
	if strings.Contains(s.stderr.String()+s.stdout.String(), got[1]) {
		t.Error("the code is in serve's output")
	}
}
