package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/google/uuid"
)

// The problems of requests net/http refuses before any handler runs. They
// are not errors a handler returns, so they live here rather than in
// problem.go's table; malformed requests share kindMalformed with it.
var (
	kindHeaderTooLarge  = problemKind{http.StatusRequestHeaderFieldsTooLarge, "header-too-large", "Request header too large"}
	kindTransferCoding  = problemKind{http.StatusNotImplemented, "unsupported-transfer-encoding", "Unsupported transfer encoding"}
	kindHTTPVersion     = problemKind{http.StatusHTTPVersionNotSupported, "http-version-not-supported", "HTTP version not supported"}
	kindExpectationFail = problemKind{http.StatusExpectationFailed, "expectation-failed", "Expectation failed"}
)

// edgeConn is a connection the server accepted. Closing it frees its slot
// in the limitListener, once. Its Write replaces the answers net/http writes
// by itself, in text/plain, with problems (see Write).
type edgeConn struct {
	net.Conn
	release        func()
	closeOnce      sync.Once
	log            *slog.Logger
	maxHeaderBytes int
}

// Close closes the connection and frees its slot; net/http and the idle
// eviction may both close it.
func (c *edgeConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.release)
	return err
}

// CloseWrite half-closes the connection: net/http does so after its 431,
// then waits a moment, so that the client reads the answer before the
// unread rest of its request makes the kernel reset the connection.
func (c *edgeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// net/http's canned answers (Go's src/net/http/server.go, conn.serve): when
// a request cannot be read it writes, in ONE write on the connection,
//
//	HTTP/1.1 <code> <reason>[: <text>] + cannedHeaders + <text body>
//
// for 431 (headers over MaxHeaderBytes), 501 (a Transfer-Encoding other than
// chunked), 505 (a protocol other than HTTP/1.x), 400 with a text (missing or
// malformed Host, invalid header name or value) and a bare 400 for anything
// else (a malformed request line, URL or header line, a duplicated
// Content-Length). The same headers never start an answer of a handler:
// those always carry a Date header (and ours an X-Request-Id), and no
// handler here writes a body that starts with a status line.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// For an Expect header other than 100-continue, net/http answers 417 itself
// (response.sendExpectationFailed) through the normal response path: the
// status line, then exactly these headers around a Date. No handler here
// answers 417.
const (
	expectationHead = " 417 Expectation Failed\r\nConnection: close\r\n"
	expectationTail = "\r\nContent-Length: 0\r\n\r\n"
)

// Write passes p on, unless p is one of net/http's own answers (see
// cannedHeaders): that one is replaced by the equivalent problem, with the
// same status and Connection: close.
//
// Not rewritten, because net/http writes nothing: a connection whose
// header did not come within ReadHeaderTimeout, or whose client closed,
// is closed without an answer (a Slowloris sender deserves none, and a
// 408 on a kept-alive connection confuses clients). "OPTIONS *" gets
// net/http's empty 200, which is no error. net/http's answer to plain HTTP
// on a TLS port cannot happen: this server has no TLS of its own.
func (c *edgeConn) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.")) {
		return c.Conn.Write(p)
	}
	proto, kind, detail, ok := c.canned(p)
	if !ok {
		return c.Conn.Write(p)
	}
	id := uuid.Must(uuid.NewV7()).String()
	pr := Problem{Type: ProblemTypeBase + kind.slug, Title: kind.title, Status: kind.status, Detail: detail, RequestID: id}
	if kind.slug == "" { // a status this file does not know: RFC 9457's about:blank
		pr.Type = "about:blank"
	}
	body, _ := json.Marshal(pr) // strings and an int: cannot fail
	body = append(body, '\n')
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d %s\r\n", proto, kind.status, http.StatusText(kind.status))
	b.WriteString("Content-Type: application/problem+json\r\nCache-Control: no-store\r\nConnection: close\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n%s: %s\r\n\r\n", len(body), headerRequestID, id)
	b.Write(body)
	c.log.Info("http request refused before routing", "request_id", id, "status", kind.status,
		"remote_addr", c.RemoteAddr().String(), "detail", detail)
	if _, err := c.Conn.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// canned recognises one of net/http's own answers in p and returns its
// protocol ("HTTP/1.1"), the problem it stands for and the detail to give.
func (c *edgeConn) canned(p []byte) (proto string, kind problemKind, detail string, ok bool) {
	eol := bytes.Index(p, []byte("\r\n"))
	if eol < len("HTTP/1.1 200") || p[8] != ' ' {
		return "", kind, "", false
	}
	proto, status := string(p[:8]), p[8:eol]
	if bytes.HasPrefix(p[8:], []byte(expectationHead)) && bytes.HasSuffix(p, []byte(expectationTail)) {
		return proto, kindExpectationFail, "the Expect header may only be 100-continue", true
	}
	if !bytes.HasPrefix(p[eol:], []byte(cannedHeaders)) {
		return "", kind, "", false
	}
	code, err := strconv.Atoi(string(status[1:min(4, len(status))]))
	if err != nil {
		return "", kind, "", false
	}
	// The text after "<reason>: " in the status line, if any, says why.
	var why string
	if _, after, found := bytes.Cut(status, []byte(": ")); found {
		why = string(after)
	}
	switch code {
	case http.StatusRequestHeaderFieldsTooLarge:
		return proto, kindHeaderTooLarge, fmt.Sprintf("the request line and headers are larger than %d bytes", c.maxHeaderBytes), true
	case http.StatusNotImplemented:
		return proto, kindTransferCoding, "the request's Transfer-Encoding is not supported: send the body with Content-Length, or chunked", true
	case http.StatusHTTPVersionNotSupported:
		return proto, kindHTTPVersion, "only HTTP/1.0 and HTTP/1.1 are served", true
	case http.StatusBadRequest:
		if why == "" {
			why = "the request is not valid HTTP/1.1: its request line, its URL or a header line is malformed"
		} else {
			why = "the request is not valid HTTP/1.1: " + why
		}
		return proto, kindMalformed, why, true
	}
	// A canned answer a later Go may add: keep its status, say what it said.
	if why == "" {
		why = string(p[eol+len(cannedHeaders):])
	}
	return proto, problemKind{status: code, title: http.StatusText(code)}, why, true
}
