// Package mailer sends plain-text mail through an SMTP server with the
// standard library's net/smtp: one connection per message, STARTTLS when
// the server offers it, and PLAIN authentication when credentials are
// given (net/smtp sends them only over TLS, or to localhost). It is what
// `mutual serve --smtp-url` uses to send sign-in codes by email.
//
// Neither the credentials nor the messages are ever logged: errors name
// the server and the step that failed, never what was sent.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Config says where and as whom mail goes.
type Config struct {
	// URL is the server: smtp://host:port (the port defaults to 25).
	URL string
	// From is the sender's plain address ("mutual@example.org").
	From string
	// Username and Password, when Username is set, authenticate with
	// PLAIN. They come from the environment, never from flags (which
	// other users of the machine can read).
	Username, Password string
	// Timeout bounds one message, from dialing to QUIT; 0 means 30 s.
	Timeout time.Duration
	// Now stamps the Date header; nil means time.Now.
	Now func() time.Time
}

// SMTP sends mail through one server. It is safe for concurrent use.
type SMTP struct {
	addr, host string
	from       string
	auth       smtp.Auth
	timeout    time.Duration
	now        func() time.Time
}

// New checks cfg and returns a sender. It does not connect: a server that
// is down is found at the first message.
func New(cfg Config) (*SMTP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("mailer: the SMTP URL must be smtp://host:port (credentials come from the environment, not the URL)")
	}
	port := u.Port()
	if port == "" {
		port = "25"
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil || from.Name != "" || from.Address != cfg.From {
		return nil, fmt.Errorf("mailer: the sender %q is not a plain email address", cfg.From)
	}
	m := &SMTP{addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), from: cfg.From, timeout: cfg.Timeout, now: cfg.Now}
	if m.timeout <= 0 {
		m.timeout = 30 * time.Second
	}
	if m.now == nil {
		m.now = time.Now
	}
	if cfg.Username != "" {
		m.auth = smtp.PlainAuth("", cfg.Username, cfg.Password, m.host)
	}
	return m, nil
}

// Send sends one plain-text message to a plain address. The subject may
// hold any text (it is encoded); the body is sent quoted-printable in
// UTF-8, so any line length and character survive.
func (m *SMTP) Send(ctx context.Context, to, subject, body string) error {
	if a, err := mail.ParseAddress(to); err != nil || a.Address != to {
		return fmt.Errorf("mailer: %q is not a plain email address", to)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("mailer: connecting to %s: %w", m.addr, err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mailer: greeting from %s: %w", m.addr, err)
	}
	defer c.Close()
	if err := m.deliver(c, to, message(m.from, to, subject, body, m.now())); err != nil {
		return fmt.Errorf("mailer: sending through %s: %w", m.addr, err)
	}
	return nil
}

func (m *SMTP) deliver(c *smtp.Client, to string, msg []byte) error {
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return err
		}
	}
	if err := c.Mail(m.from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message is the RFC 5322 text of a message. Only addresses already
// checked to be plain and the encoded subject go into headers, so nothing
// can add a header.
func message(from, to, subject, body string, now time.Time) []byte {
	var b strings.Builder
	host := from[strings.LastIndexByte(from, '@')+1:]
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n",
		from, to, mime.QEncoding.Encode("utf-8", subject), now.Format(time.RFC1123Z), uuid.NewString(), host)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")
	return []byte(b.String())
}
