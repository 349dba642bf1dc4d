package cookie

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		proxy, tls bool
		name       string
		secure     bool
	}{
		{false, false, Name, false},
		{true, false, SecureName, true},
		{false, true, SecureName, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		j := Jar{BehindTLSProxy: tc.proxy}
		j.Set(w, r, "s3cret", time.Now().Add(time.Hour))
		cs := w.Result().Cookies()
		if len(cs) != 1 {
			t.Fatalf("%+v: %d cookies", tc, len(cs))
		}
		c := cs[0]
		if c.Name != tc.name || c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Value != "s3cret" {
			t.Errorf("%+v: cookie %+v", tc, c)
		}
		r.AddCookie(c)
		if got := j.Value(r); got != "s3cret" {
			t.Errorf("%+v: Value = %q", tc, got)
		}
	}
}

func TestClientAddress(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.9:5555"
	r.Header.Add("X-Forwarded-For", "1.2.3.4, 203.0.113.7")
	if got := (Jar{}).ClientAddress(r); got != "10.0.0.9" {
		t.Errorf("without a proxy: %q, want the peer", got)
	}
	if got := (Jar{BehindTLSProxy: true}).ClientAddress(r); got != "203.0.113.7" {
		t.Errorf("behind a proxy: %q, want the last X-Forwarded-For entry", got)
	}
}
