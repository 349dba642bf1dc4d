package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mutual-ledger/mutual/internal/dbtest"
)

// TestDemoBenchAndVerify loads the demo into a running server through its
// API, drives it briefly with the load generator, and checks the books.
func TestDemoBenchAndVerify(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	dir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, environ("DATABASE_URL", dbURL), "--addr", "127.0.0.1:0", "--data-dir", dir)
	url := "http://" + s.addr
	for range 100 {
		if _, err := os.Stat(filepath.Join(dir, adminTokenFile)); err == nil {
			break
		}
		s.get(t, "/healthz")
	}

	out, _, err := runCmd(t, environ(), "demo", "--url", url, "--data-dir", dir)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`loaded the demo network: (\d+) organizations, (\d+) members, (\d+) accounts, (\d+) transfers`).FindStringSubmatch(out)
	if m == nil || m[1] != "8" || m[2] != "16" || m[3] != "24" || len(m[4]) < 3 {
		t.Fatalf("demo output:\n%s", out)
	}
	if !strings.Contains(out, "40 listings, 8 agreements, 15 trades, a fund with 2 contributions and a grant") ||
		!strings.Contains(out, "/timebank/donations") {
		t.Errorf("demo output:\n%s", out)
	}
	// The fund's report, read without a token, agrees with the ledger.
	report := regexp.MustCompile(`curl (\S+/v1/funds/\S+/report)`).FindStringSubmatch(out)
	if report == nil {
		t.Fatalf("demo shows no fund report:\n%s", out)
	}
	resp, err := http.Get(report[1])
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Reconciled bool `json:"reconciled"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !body.Reconciled {
		t.Errorf("fund report without a token: %d, reconciled %v, %v", resp.StatusCode, body.Reconciled, err)
	}
	checkDemoListings(t, url, dir)
	// The sign-in codes it prints work, once each, for the neighbor and
	// the coordinator.
	signins := regexp.MustCompile(`(?m)^    ([^:\n]+): \S+/signin\?member=(\S+)  code (\S+)$`).FindAllStringSubmatch(out, -1)
	if len(signins) != 2 {
		t.Fatalf("demo prints %d sign-in links, want 2:\n%s", len(signins), out)
	}
	for _, m := range signins {
		body := strings.NewReader(`{"member_id":"` + m[2] + `","code":"` + m[3] + `"}`)
		resp, err := http.Post(url+"/v1/signin/code", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated || len(resp.Cookies()) == 0 {
			t.Errorf("signing in as %s with the demo's code: %d, cookies %v", m[1], resp.StatusCode, resp.Cookies())
		}
	}
	again, _, err := runCmd(t, environ(), "demo", "--url", url, "--data-dir", dir)
	if err != nil || !strings.Contains(again, "already loaded") {
		t.Errorf("second demo: %v\n%s", err, again)
	}

	out, _, err = runCmd(t, environ(), "bench", "--url", url, "--data-dir", dir, "--workers", "4", "--duration", "1s", "--accounts", "20", "--hot",
		"--server-pid", strconv.Itoa(os.Getpid())) // the server runs in this process
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`hot account transfers: \d+ ok, 0 failed`).MatchString(out) || !strings.Contains(out, "p99") ||
		!strings.Contains(out, "server resident memory") ||
		!regexp.MustCompile(`CPU per transfer: server [1-9]\d* µs, its PostgreSQL \d+ µs, load generator \d+ µs, machine [1-9]\d* µs; stolen by the hypervisor \d+\.\d% of the machine's time`).MatchString(out) {
		t.Errorf("bench output:\n%s", out)
	}
	s.stop(t)

	out, _, err = runCmd(t, environ("DATABASE_URL", dbURL), "verify")
	if err != nil || !strings.Contains(out, "sound") {
		t.Errorf("verify after demo and bench: %v\n%s", err, out)
	}
}

// checkDemoListings checks that the demo's offers and needs look like a
// real time bank's: many categories, and a need matched only by offers of
// its own kind of help first (a bike repair is never the best match for a
// Spanish lesson).
func checkDemoListings(t *testing.T, url, dir string) {
	t.Helper()
	c := adminClient(t, url, dir, 1)
	ctx := t.Context()
	type listing struct {
		ID, Kind, Title, Category, Neighborhood string
	}
	var all []listing
	for cursor := ""; ; {
		var page struct {
			Items []listing `json:"items"`
			Next  *string   `json:"next"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/listings?limit=100&cursor="+cursor, nil, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.Next == nil {
			break
		}
		cursor = *page.Next
	}
	categories, places := map[string]bool{}, map[string]bool{}
	for _, l := range all {
		categories[l.Category], places[l.Neighborhood] = true, true
	}
	// Of the 40 listings, the 24 posted to wait for a match are open; so are
	// some of the others, whose agreements did not take all they asked.
	if len(all) < 24 || len(categories) < 10 || len(places) < 4 {
		t.Fatalf("demo listings: %d open listings in %d categories and %d neighborhoods; want at least 24, 10 and 4", len(all), len(categories), len(places))
	}
	checked := 0
	for _, need := range all {
		if need.Kind != "need" {
			continue
		}
		var matches struct {
			Items []struct {
				Listing listing `json:"listing"`
			} `json:"items"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/listings/"+need.ID+"/matches", nil, &matches); err != nil {
			t.Fatalf("matches of %q: %v", need.Title, err)
		}
		if len(matches.Items) == 0 {
			continue
		}
		if best := matches.Items[0].Listing; best.Category != need.Category {
			t.Errorf("need %q (%s): best match is %q (%s)", need.Title, need.Category, best.Title, best.Category)
		}
		checked++
	}
	if checked == 0 {
		t.Error("no open demo need has a match")
	}
}
