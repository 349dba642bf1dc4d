package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// TestServeBehindTLSProxy: with --behind-tls-proxy the session cookie is
// Secure and named with the __Host- prefix, and it authenticates.
func TestServeBehindTLSProxy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, environ("DATABASE_URL", dbtest.URL(t)), "--addr", "127.0.0.1:0", "--data-dir", dir, "--behind-tls-proxy")
	var admin string
	for deadline := time.Now().Add(10 * time.Second); admin == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dir, adminTokenFile))
		admin = strings.TrimSpace(string(b))
	}
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path string, body any, header ...string) (*http.Response, map[string]any) {
		t.Helper()
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res, m
	}
	_, me := call("GET", "/v1/me", nil, "Authorization", "Bearer "+admin)
	id, _ := me["id"].(string)
	res, code := call("POST", "/v1/members/"+id+"/signin-codes", nil, "Authorization", "Bearer "+admin)
	if res.StatusCode != 201 {
		t.Fatalf("issuing a code: %d %v", res.StatusCode, code)
	}
	res, _ = call("POST", "/v1/signin/code", map[string]any{"member_id": id, "code": code["code"]}, "X-Forwarded-For", "203.0.113.9")
	if res.StatusCode != 200 {
		t.Fatalf("signing in: %d", res.StatusCode)
	}
	cookies := res.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-mutual_session" || !cookies[0].Secure || !cookies[0].HttpOnly ||
		cookies[0].SameSite != http.SameSiteLaxMode || cookies[0].Path != "/" {
		t.Fatalf("cookie behind a TLS proxy: %v", res.Header.Values("Set-Cookie"))
	}
	res, me = call("GET", "/v1/me", nil, "Cookie", cookies[0].Name+"="+cookies[0].Value)
	if res.StatusCode != 200 || me["id"] != id {
		t.Fatalf("the cookie does not authenticate: %d %v", res.StatusCode, me)
	}
	s.stop(t)
}
