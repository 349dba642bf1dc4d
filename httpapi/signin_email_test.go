package httpapi_test

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/httpapi"
	"github.com/mutual-ledger/mutual/internal/mailer"
)

// smtpServer is a real SMTP server for a test: Debian's aiosmtpd
// (python3-aiosmtpd), which prints every message it receives.
type smtpServer struct {
	addr string
	out  *syncBuffer
}

// startSMTP starts aiosmtpd on a free local port, or fails the test when it
// is not installed (.ci/run installs it).
func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	var python string
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import aiosmtpd").Run() == nil {
			python = path
			break
		}
	}
	if python == "" {
		t.Fatal("aiosmtpd is not installed, and this test sends mail to a real SMTP server: " +
			"install it (Debian/Ubuntu: apt-get install -y python3-aiosmtpd) and run the tests again")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &smtpServer{addr: "127.0.0.1:" + strconv.Itoa(port), out: &syncBuffer{}}
	cmd := exec.Command(python, "-u", "-m", "aiosmtpd", "-n", "-l", s.addr)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("aiosmtpd did not start listening on %s: %v\n%s", s.addr, err, s.out.String())
		}
	}
}

// codeIn matches the code and the member id of a sign-in mail.
var codeIn = regexp.MustCompile(`(?s)To: (\S+).*?\n    ([2-9A-Z]{4}-[2-9A-Z]{4})\r?\n.*?\n    ([0-9a-f-]{36})\r?\n`)

// mails returns, in order, the recipient, code and member id of each
// sign-in mail received so far.
func (s *smtpServer) mails() [][3]string {
	var out [][3]string
	for _, m := range codeIn.FindAllStringSubmatch(s.out.String(), -1) {
		out = append(out, [3]string{m[1], m[2], m[3]})
	}
	return out
}

// waitMails waits until n sign-in mails have arrived.
func (s *smtpServer) waitMails(t *testing.T, n int) [][3]string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m := s.mails(); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sign-in mails arrived, want %d:\n%s", len(s.mails()), n, s.out.String())
		}
	}
}

// TestSignInWithACodeByEmail: a member asks for a code by email, reads it
// from the mail a real SMTP server received, and signs in; an address
// nobody has gets the same answer and no mail; wrong codes lock the code as
// for a coordinator's; requests are limited per address and per client,
// for known and unknown addresses alike; no code reaches the logs.
func TestSignInWithACodeByEmail(t *testing.T) {
	t.Parallel()
	smtpd := startSMTP(t)
	m, err := mailer.New(mailer.Config{URL: "smtp://" + smtpd.addr, From: "mutual@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, func(c *httpapi.Config) { c.Mailer = m })
	lea := w.must(w.call("POST", "/v1/orgs/"+w.timebank.ID.String()+"/members", w.coordTB.token,
		map[string]any{"name": "Lea Núñez", "email": "lea@example.org", "role": "member"}), 201)["id"].(string)
	ask := func(email string) resp { return w.call("POST", "/v1/signin/email", "", map[string]any{"email": email}) }

	// Known (typed in another case) and unknown: the same answer.
	known, unknown := ask("Lea@Example.org"), ask("nobody@example.org")
	if known.status != 202 || unknown.status != 202 || string(known.body) != string(unknown.body) {
		t.Fatalf("known: %v; unknown: %v", known, unknown)
	}
	mail := smtpd.waitMails(t, 1)[0]
	if mail[0] != "lea@example.org" || mail[2] != lea {
		t.Fatalf("mail to %s for %s, want lea@example.org for %s", mail[0], mail[2], lea)
	}
	code := mail[1]
	signIn := func(code string) resp {
		return w.call("POST", "/v1/signin/code", "", map[string]any{"member_id": lea, "code": code})
	}
	// Five wrong codes lock it: then even the right one is refused.
	for range 5 {
		w.problem(signIn("2222-2222"), 401, "signin-failed")
	}
	w.problem(signIn(code), 429, "signin-code-locked")

	// A new code by email replaces the locked one; it signs her in, once.
	if r := ask("lea@example.org"); r.status != 202 {
		t.Fatal(r)
	}
	code = smtpd.waitMails(t, 2)[1][1]
	r := signIn(strings.ToLower(code))
	if r.status != 200 || !strings.Contains(r.header.Get("Set-Cookie"), "mutual_session=") {
		t.Fatalf("sign-in with the mailed code: %v", r)
	}
	w.problem(signIn(code), 401, "signin-failed")

	// Three requests per address in 10 minutes, known or not; the fourth
	// is refused with Retry-After, and nothing is mailed.
	if r := ask("lea@example.org"); r.status != 202 {
		t.Fatal(r)
	}
	smtpd.waitMails(t, 3)
	for _, email := range []string{"lea@example.org", "nobody@example.org"} {
		if email == "nobody@example.org" {
			ask(email)
			ask(email)
		}
		r := ask(email)
		w.problem(r, 429, "too-many-attempts")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", email)
		}
	}
	// Ten requests from one client: four more addresses, then the next
	// is refused whatever the address.
	for i := range 4 {
		if r := ask("someone" + strconv.Itoa(i) + "@example.org"); r.status != 202 {
			t.Fatalf("request %d: %v", i, r)
		}
	}
	w.problem(ask("someone-else@example.org"), 429, "too-many-attempts")
	// Bad input says which field.
	if p := w.problem(w.call("POST", "/v1/signin/email", "", map[string]any{"email": "Lea <lea@example.org>"}), 422, "invalid-request"); !hasField(p, "email") {
		t.Errorf("problem does not name email: %+v", p)
	}

	time.Sleep(200 * time.Millisecond) // let any stray mail arrive
	if got := smtpd.mails(); len(got) != 3 {
		t.Errorf("%d mails sent, want 3: %v", len(got), got)
	}
	if strings.Contains(smtpd.out.String(), "nobody@example.org") {
		t.Error("a mail went to an address that is nobody's")
	}
	logs := w.logs.String()
	for _, m := range smtpd.mails() {
		if strings.Contains(logs, m[1]) || strings.Contains(logs, strings.ReplaceAll(m[1], "-", "")) {
			t.Errorf("the code %s is in the logs", m[1])
		}
	}
}

// TestEmailSigninNotConfigured: without SMTP the route says so, and
// nothing is recorded.
func TestEmailSigninNotConfigured(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.problem(w.call("POST", "/v1/signin/email", "", map[string]any{"email": "lea@example.org"}), 404, "not-found")
	var n int
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM signin_email_requests`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d requests recorded (%v)", n, err)
	}
}

// TestMailerRefusesBadConfig: the SMTP URL and the sender are checked when
// the server starts, not at the first mail.
func TestMailerRefusesBadConfig(t *testing.T) {
	for _, c := range []mailer.Config{
		{URL: "http://example.org", From: "a@example.org"},
		{URL: "smtp://user:secret@example.org", From: "a@example.org"},
		{URL: "smtp://example.org:25", From: "Mutual <a@example.org>"},
		{URL: "smtp://example.org:25", From: ""},
	} {
		if _, err := mailer.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
