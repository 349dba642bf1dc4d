// Package cookie holds the browser session cookie's rules, in the one place
// both front ends (the JSON API and the pages) read and write it: its name,
// its flags, and which client address a request counts as.
//
// The cookie is HttpOnly, SameSite=Lax and Path=/. Over TLS (the request
// came over TLS, or a proxy in front is configured to say it terminates
// TLS) it is also Secure and named with the __Host- prefix, which a browser
// accepts only from a secure origin and for the whole host; over plain HTTP
// it is named without the prefix, which a browser would refuse there.
package cookie

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// The session cookie's names.
const (
	// Name is the cookie's name over plain HTTP.
	Name = "mutual_session"
	// SecureName is its name over TLS.
	SecureName = "__Host-mutual_session"
)

// Jar reads and writes the session cookie for one deployment.
type Jar struct {
	// BehindTLSProxy says that a proxy in front terminates TLS: the cookie
	// is then Secure with the __Host- prefix even though the request
	// reached the server in plain HTTP, and ClientAddress trusts the last
	// X-Forwarded-For entry (the one the proxy appended).
	BehindTLSProxy bool
}

// Secure reports whether the request reached the service over TLS.
func (j Jar) Secure(r *http.Request) bool { return j.BehindTLSProxy || r.TLS != nil }

// Name is the session cookie's name for the request.
func (j Jar) Name(r *http.Request) string {
	if j.Secure(r) {
		return SecureName
	}
	return Name
}

// Value returns the session cookie the request carries, or "".
func (j Jar) Value(r *http.Request) string {
	c, err := r.Cookie(j.Name(r))
	if err != nil {
		return ""
	}
	return c.Value
}

// Set gives the browser its session secret. The browser keeps the cookie
// until expires (the session's absolute end); the server decides before
// that whether the session still stands.
func (j Jar) Set(w http.ResponseWriter, r *http.Request, secret string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: j.Name(r), Value: secret, Path: "/", Expires: expires,
		HttpOnly: true, Secure: j.Secure(r), SameSite: http.SameSiteLaxMode})
}

// Clear tells the browser to forget its session cookie.
func (j Jar) Clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: j.Name(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: j.Secure(r), SameSite: http.SameSiteLaxMode})
}

// ClientAddress is the address limits on wrong codes count against: the
// peer's, or behind a TLS proxy the one the proxy appended last to
// X-Forwarded-For (earlier entries are the client's to write).
func (j Jar) ClientAddress(r *http.Request) string {
	if j.BehindTLSProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
