// Command pages takes the screenshots of the main pages and measures how
// fast the server answers them, against a running `mutual serve` loaded
// with the demo (scripts/pages.sh starts one; `make screenshots` and
// `make bench` run it).
//
//	go run ./scripts/pages screenshots -url URL -token-file DIR/admin-token -out docs/screenshots
//	go run ./scripts/pages bench -url URL -token-file DIR/admin-token -users 32 -duration 20s
//
// screenshots writes one PNG per page and width (360 and 1280 CSS px),
// the window's first screen, through Debian's Chromium (chromedp).
//
// bench signs -users members in (a one-time code issued with the admin's
// token, then the sign-in page, as a person would), and each fetches the
// main pages in a loop over real HTTP for -duration, pausing about -think
// between pages as a person reading them does (-think 0 fetches without
// pause, which measures the most the server answers); it prints, per page,
// how many were fetched and the 50th, 90th and 99th percentiles and the
// maximum of the time from sending the request to reading the whole page.
// Clients and server share the machine, so the figures include the
// clients' own scheduling: they bound the server's time from above.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "screenshots" && os.Args[1] != "bench") {
		fmt.Fprintln(os.Stderr, "usage: pages screenshots|bench -url URL -token-file FILE [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	base := fs.String("url", "", "the server's address (required)")
	tokenFile := fs.String("token-file", "", "the file holding the admin's token (required)")
	out := fs.String("out", "docs/screenshots", "screenshots: the folder the PNGs go to")
	users := fs.Int("users", 32, "bench: how many members browse at once")
	duration := fs.Duration("duration", 20*time.Second, "bench: how long they browse")
	serverPID := fs.Int("server-pid", 0, "bench: the server's process id, to report the CPU it and its database used per page (0: not reported)")
	think := fs.Duration("think", time.Second, "bench: the mean pause between a member's pages (0: none, each fetches as fast as it can)")
	fs.Parse(os.Args[2:])
	if *base == "" || *tokenFile == "" {
		fs.Usage()
		os.Exit(2)
	}
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	d, err := discover(ctx, strings.TrimRight(*base, "/"), strings.TrimSpace(string(tok)))
	if err != nil {
		fail(err)
	}
	if mode == "screenshots" {
		err = screenshots(ctx, d, *out)
	} else {
		err = bench(ctx, d, *users, *duration, *think, *serverPID)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pages:", err)
	os.Exit(1)
}

// demo is what the tool found in the demo: its time bank, its members and
// its fund.
type demo struct {
	base, token string
	timebank    string
	members     []string // the time bank's members
	fund        string
}

// pages are the main pages, for signed-in members and visitors alike.
func (d *demo) pages() []page {
	return []page{
		{"home", "/home"},
		{"directory", "/network"},
		{"fund-report", "/funds/" + d.fund},
		{"board", "/orgs/" + d.timebank + "/board"},
	}
}

type page struct{ name, path string }

// api calls the JSON API with the admin's token.
func (d *demo) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func discover(ctx context.Context, base, token string) (*demo, error) {
	d := &demo{base: base, token: token}
	var orgs struct {
		Items []struct{ ID, Name, Kind string } `json:"items"`
	}
	if err := d.api(ctx, http.MethodGet, "/v1/orgs?limit=500", nil, &orgs); err != nil {
		return nil, err
	}
	for _, o := range orgs.Items {
		if o.Kind == "timebank" {
			d.timebank = o.ID
			break
		}
	}
	var funds struct {
		Items []struct{ ID string } `json:"items"`
	}
	if err := d.api(ctx, http.MethodGet, "/v1/funds", nil, &funds); err != nil {
		return nil, err
	}
	if d.timebank == "" || len(funds.Items) == 0 {
		return nil, errors.New("no time bank or no fund: load the demo first (mutual demo)")
	}
	d.fund = funds.Items[0].ID
	if err := d.loadMembers(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *demo) loadMembers(ctx context.Context) error {
	var ms struct {
		Items []struct {
			MemberID string `json:"member_id"`
		} `json:"items"`
	}
	if err := d.api(ctx, http.MethodGet, "/v1/orgs/"+d.timebank+"/members?limit=500", nil, &ms); err != nil {
		return err
	}
	d.members = d.members[:0]
	for _, m := range ms.Items {
		d.members = append(d.members, m.MemberID)
	}
	return nil
}

// ensureMembers admits neighbors to the time bank until it has n members,
// so that each browsing user is a member of their own.
func (d *demo) ensureMembers(ctx context.Context, n int) error {
	for i := len(d.members); i < n; i++ {
		var out struct{ ID string }
		if err := d.api(ctx, http.MethodPost, "/v1/orgs/"+d.timebank+"/members",
			map[string]any{"name": fmt.Sprintf("Neighbor %d", i+1), "role": "member"}, &out); err != nil {
			return err
		}
	}
	return d.loadMembers(ctx)
}

// signIn signs a member in as a person does: a coordinator (here the
// admin) issues a one-time code, and the member types it on the sign-in
// page. It returns a client holding the session cookie.
func (d *demo) signIn(ctx context.Context, member string) (*http.Client, error) {
	var code struct {
		Code string `json:"code"`
	}
	if err := d.api(ctx, http.MethodPost, "/v1/members/"+member+"/signin-codes", map[string]any{}, &code); err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"member": {member}, "code": {code.Code}, "next": {"/home"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/signin/code", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("signing %s in: %d", member, resp.StatusCode)
	}
	return c, nil
}

// bench signs users in and has them browse the main pages at once.
func bench(ctx context.Context, d *demo, users int, duration, think time.Duration, serverPID int) error {
	if err := d.ensureMembers(ctx, users); err != nil {
		return err
	}
	clients := make([]*http.Client, users)
	for i := range clients {
		c, err := d.signIn(ctx, d.members[i])
		if err != nil {
			return err
		}
		clients[i] = c
	}
	pages := d.pages()
	fetch := func(c *http.Client, p page) (time.Duration, error) {
		start := time.Now()
		resp, err := c.Get(d.base + p.path)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %d", p.path, resp.StatusCode)
		}
		return took, err
	}
	// A first round warms the server's caches and connections up; it is
	// not counted.
	for _, c := range clients {
		for _, p := range pages {
			if _, err := fetch(c, p); err != nil {
				return err
			}
		}
	}
	cpuBefore := treeCPU(serverPID)
	var mu sync.Mutex
	times := map[string][]time.Duration{}
	var firstErr error
	var wg sync.WaitGroup
	stop := time.Now().Add(duration)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := map[string][]time.Duration{}
			for n := i; time.Now().Before(stop); n++ {
				p := pages[n%len(pages)]
				took, err := fetch(c, p)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				mine[p.name] = append(mine[p.name], took)
				// A person reads a page before opening the next: a pause
				// of half to one and a half times think.
				if think > 0 {
					time.Sleep(think/2 + rand.N(think))
				}
			}
			mu.Lock()
			for k, v := range mine {
				times[k] = append(times[k], v...)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	cpu := treeCPU(serverPID) - cpuBefore
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("%d signed-in members browsing at once for %s, pausing %s on average between pages (%s)\n", users, duration, think, d.base)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("machine load average (1, 5, 15 min) at the end: %s\n", strings.Join(strings.Fields(string(b))[:3], " "))
	}
	fmt.Printf("%-12s %8s %8s %8s %8s %8s\n", "page", "fetched", "p50", "p90", "p99", "max")
	var all []time.Duration
	worst := time.Duration(0)
	for _, p := range pages {
		ts := times[p.name]
		all = append(all, ts...)
		q := quantiles(ts)
		worst = max(worst, q[2])
		fmt.Printf("%-12s %8d %8s %8s %8s %8s\n", p.name, len(ts), ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]))
	}
	q := quantiles(all)
	fmt.Printf("%-12s %8d %8s %8s %8s %8s\n", "all", len(all), ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]))
	verdict := "under"
	if worst >= 30*time.Millisecond {
		verdict = "OVER"
	}
	fmt.Printf("worst page p99 %s: %s the 30 ms goal\n", ms(worst), verdict)
	if serverPID > 0 && len(all) > 0 {
		// CPU time does not grow with the machine's load as waiting does:
		// it is what a page costs, whoever else runs.
		fmt.Printf("server and database CPU: %s per page on average (%s over %d pages)\n",
			ms(cpu/time.Duration(len(all))), cpu.Round(time.Millisecond), len(all))
	}
	return nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// quantiles returns the 50th, 90th and 99th percentiles and the maximum.
func quantiles(ts []time.Duration) [4]time.Duration {
	if len(ts) == 0 {
		return [4]time.Duration{}
	}
	s := slices.Clone(ts)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return [4]time.Duration{at(0.50), at(0.90), at(0.99), s[len(s)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// screenshots takes each main page at 360 and 1280 CSS px, signed in as a
// demo neighbor (the public pages look the same to a visitor but for the
// menu).
func screenshots(ctx context.Context, d *demo, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	c, err := d.signIn(ctx, d.members[0])
	if err != nil {
		return err
	}
	u, _ := url.Parse(d.base)
	var session *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasSuffix(ck.Name, "mutual_session") {
			session = ck
		}
	}
	if session == nil {
		return errors.New("no session cookie after signing in")
	}
	dir, err := os.MkdirTemp("", "mutual-shots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium()), chromedp.UserDataDir(dir), chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("lang", "en"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil {
		return fmt.Errorf("starting Chromium: %w", err)
	}
	httpOnly := true
	if _, err := chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: session.Name, Value: session.Value,
		URL: d.base, HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax}); err != nil {
		return err
	}
	for _, width := range []int64{360, 1280} {
		height := int64(800)
		if width < 600 {
			height = 740
		}
		if _, err := chromedp.Call(bctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: width < 600}); err != nil {
			return err
		}
		for _, p := range d.pages() {
			path := p.path
			if width < 600 && p.name == "fund-report" {
				// On a phone the chart is below the first screen: show it.
				path += "#months-heading"
			}
			if _, err := chromedp.Run(bctx, chromedp.Navigate(d.base+path)); err != nil {
				return fmt.Errorf("%s: %w", p.path, err)
			}
			png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
			if err != nil {
				return fmt.Errorf("%s: %w", p.path, err)
			}
			name := filepath.Join(out, fmt.Sprintf("%s-%d.png", p.name, width))
			if err := os.WriteFile(name, png, 0o644); err != nil {
				return err
			}
			fmt.Printf("%s (%d KB)\n", name, (len(png)+1023)/1024)
		}
	}
	return nil
}

// chromium is Debian's Chromium, or the one MUTUAL_CHROMIUM names.
func chromium() string {
	if p := os.Getenv("MUTUAL_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// treeCPU returns the CPU time (user and system) used so far by a process
// and all its descendants (the server and the PostgreSQL it started), from
// /proc; 0 when pid is 0 or /proc cannot be read.
func treeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: the fields
		// are counted after its closing one.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[id] = proc{ppid: ppid, ticks: ut + st}
	}
	in := func(id int) bool {
		for range 64 {
			if id == pid {
				return true
			}
			p, ok := procs[id]
			if !ok || p.ppid == 0 {
				return false
			}
			id = p.ppid
		}
		return false
	}
	var ticks int64
	for id, p := range procs {
		if in(id) {
			ticks += p.ticks
		}
	}
	// Linux counts in USER_HZ, 100 a second on every common platform.
	return time.Duration(ticks) * 10 * time.Millisecond
}
