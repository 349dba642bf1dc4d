package mailer

import (
	"context"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"
)

// TestSendRefusesWhatIsNoAddress: a recipient that would add a header or a
// second recipient is refused before any connection.
func TestSendRefusesWhatIsNoAddress(t *testing.T) {
	m, err := New(Config{URL: "smtp://127.0.0.1:1", From: "mutual@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"a@example.org\r\nBcc: b@example.org", "Ana <a@example.org>", "a@example.org, b@example.org", ""} {
		if err := m.Send(context.Background(), to, "s", "b"); err == nil || !strings.Contains(err.Error(), "not a plain email address") {
			t.Errorf("Send to %q: %v", to, err)
		}
	}
}

// TestMessage: headers carry only the checked addresses and the encoded
// subject; the body survives quoted-printable, any character and line.
func TestMessage(t *testing.T) {
	body := "Hola Ana Núñez,\n\n    7KQ3-XM9P\n\n" + strings.Repeat("x", 200) + "\n"
	msg := string(message("mutual@example.org", "ana@example.org", "Tu código\r\nBcc: x@example.org", body, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	head, enc, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok {
		t.Fatal(msg)
	}
	for _, line := range strings.Split(head, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch name {
		case "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding":
		default:
			t.Errorf("unexpected header line %q", line)
		}
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(enc)))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(dec), "\r\n", "\n"); got != body+"\n" && got != body {
		t.Errorf("body = %q, want %q", got, body)
	}
}
