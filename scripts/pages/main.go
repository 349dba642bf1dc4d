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
// token, then the sign-in page, as a person would), and each browses for
// -duration what a neighbor opens, in turn: home, offers and needs, a
// search by a word, a listing's page with its matches, agreements, history,
// and the public pages (the network's directory, the fund's report, the
// time bank's board), over real HTTP with one kept-alive connection each.
// Between pages a member pauses about -think, as a person reading does
// (uniformly 0.5 to 1.5 times it, each member starting at a random point of
// the first pause, so that they do not all click at once): with 32 members
// and 1 s that is about 32 pages a second, the realistic load. -think 0
// fetches without pause, which measures saturation (the most the server
// answers), a different figure.
//
// For each page it prints how many were fetched and the 50th, 90th and
// 99th percentiles and the maximum of the server's own time (the page's
// Server-Timing header: from the request reaching the handler to the page
// ready to send), and the 50th and 99th percentiles of the round trip the
// client saw (sending the request to reading the whole page, on the same
// machine, so it includes the client's own scheduling). With -server-pid it
// also prints the CPU the server and its PostgreSQL used per page, and the
// client's own.
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
	"syscall"
	"time"
	"unicode"

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
	coordinator string   // a coordinator of the time bank
	fund        string
	listings    []string // the time bank's listings
	words       []string // a word of each listing's title, to search for
}

// pages are the main pages the screenshots show, for signed-in members
// and visitors alike.
func (d *demo) pages() []page {
	return []page{
		{"home", "/home", ""},
		{"directory", "/network", ""},
		{"fund-report", "/funds/" + d.fund, "months-heading"},
		{"board", "/orgs/" + d.timebank + "/board", ""},
	}
}

// coordPages are the pages the screenshots show of a coordinator's work.
func (d *demo) coordPages() []page {
	return []page{{"proposals", "/coord/" + d.timebank + "/proposals", "served"}}
}

// A page is one the screenshots show or the benchmark reads; on a phone
// its screenshot starts at the element phoneAt names, when the page's
// point is below the first screen.
type page struct{ name, path, phoneAt string }

// visit is what the n-th browsing member opens, in turn: a neighbor's
// pages (each member searching for a word and opening a listing of their
// own pick) and the public ones.
func (d *demo) visit(n int) []page {
	l := d.listings[n%len(d.listings)]
	w := d.words[(n*7)%len(d.words)]
	return []page{
		{"home", "/home", ""},
		{"listings", "/listings", ""},
		{"search", "/listings?q=" + url.QueryEscape(w) + "&sort=distance", ""},
		{"listing", "/listings/" + l, ""},
		{"agreements", "/agreements", ""},
		{"history", "/history", ""},
		{"directory", "/network", ""},
		{"fund-report", "/funds/" + d.fund, ""},
		{"board", "/orgs/" + d.timebank + "/board", ""},
	}
}

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
	var ls struct {
		Items []struct{ ID, Title string } `json:"items"`
	}
	if err := d.api(ctx, http.MethodGet, "/v1/listings?org="+d.timebank+"&limit=500", nil, &ls); err != nil {
		return nil, err
	}
	for _, l := range ls.Items {
		d.listings = append(d.listings, l.ID)
		// The title's longest word: what a person would type.
		long := ""
		for _, w := range strings.FieldsFunc(l.Title, func(r rune) bool { return !unicode.IsLetter(r) }) {
			if len(w) > len(long) {
				long = w
			}
		}
		if long != "" {
			d.words = append(d.words, strings.ToLower(long))
		}
	}
	if len(d.listings) == 0 || len(d.words) == 0 {
		return nil, errors.New("the time bank has no listings: load the demo first (mutual demo)")
	}
	return d, nil
}

func (d *demo) loadMembers(ctx context.Context) error {
	var ms struct {
		Items []struct {
			MemberID string `json:"member_id"`
			Role     string `json:"role"`
		} `json:"items"`
	}
	if err := d.api(ctx, http.MethodGet, "/v1/orgs/"+d.timebank+"/members?limit=500", nil, &ms); err != nil {
		return err
	}
	d.members = d.members[:0]
	for _, m := range ms.Items {
		d.members = append(d.members, m.MemberID)
		if m.Role == "coordinator" && d.coordinator == "" {
			d.coordinator = m.MemberID
		}
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

// sample is one page fetched: the server's time (its Server-Timing
// header) and the round trip the client saw.
type sample struct{ server, trip time.Duration }

// bench signs users in and has them browse at once.
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
	fetch := func(c *http.Client, p page) (sample, error) {
		start := time.Now()
		resp, err := c.Get(d.base + p.path)
		if err != nil {
			return sample{}, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		trip := time.Since(start)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %d", p.path, resp.StatusCode)
		}
		if err != nil {
			return sample{}, err
		}
		server, err := serverTime(resp.Header.Get("Server-Timing"))
		if err != nil {
			return sample{}, fmt.Errorf("%s: %w", p.path, err)
		}
		return sample{server: server, trip: trip}, nil
	}
	// A first round warms the server's caches and connections up; it is
	// not counted.
	for i, c := range clients {
		for _, p := range d.visit(i) {
			if _, err := fetch(c, p); err != nil {
				return err
			}
		}
	}
	names := []string{}
	for _, p := range d.visit(0) {
		names = append(names, p.name)
	}
	serverBefore, dbBefore := treeCPU(serverPID)
	selfBefore := selfCPU()
	var mu sync.Mutex
	got := map[string][]sample{}
	var firstErr error
	var wg sync.WaitGroup
	stop := time.Now().Add(duration)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pages := d.visit(i)
			mine := map[string][]sample{}
			// Members start at a random point of a first pause, and each
			// at a different page, as people arriving at any moment.
			if think > 0 {
				time.Sleep(rand.N(think))
			}
			for n := i; time.Now().Before(stop); n++ {
				p := pages[n%len(pages)]
				sm, err := fetch(c, p)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				mine[p.name] = append(mine[p.name], sm)
				// A person reads a page before opening the next: a pause
				// of half to one and a half times think.
				if think > 0 {
					time.Sleep(think/2 + rand.N(think))
				}
			}
			mu.Lock()
			for k, v := range mine {
				got[k] = append(got[k], v...)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	serverAfter, dbAfter := treeCPU(serverPID)
	self := selfCPU() - selfBefore
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("%d signed-in members browsing at once for %s, pausing %s on average between pages (%s)\n", users, duration, think, d.base)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("machine load average (1, 5, 15 min) at the end: %s\n", strings.Join(strings.Fields(string(b))[:3], " "))
	}
	fmt.Printf("%-12s %7s | %-35s | %-17s\n", "", "", "server time (Server-Timing)", "round trip")
	fmt.Printf("%-12s %7s | %8s %8s %8s %8s | %8s %8s\n", "page", "fetched", "p50", "p90", "p99", "max", "p50", "p99")
	var all []sample
	worst, worstName := time.Duration(0), ""
	line := func(name string, ss []sample) [4]time.Duration {
		q := quantiles(ss, func(s sample) time.Duration { return s.server })
		t := quantiles(ss, func(s sample) time.Duration { return s.trip })
		fmt.Printf("%-12s %7d | %8s %8s %8s %8s | %8s %8s\n", name, len(ss), ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]), ms(t[0]), ms(t[2]))
		return q
	}
	for _, name := range names {
		ss := got[name]
		all = append(all, ss...)
		if q := line(name, ss); q[2] > worst {
			worst, worstName = q[2], name
		}
	}
	q := line("all", all)
	t := quantiles(all, func(s sample) time.Duration { return s.trip })
	verdict := func(d time.Duration) string {
		if d < 30*time.Millisecond {
			return "under"
		}
		return "OVER"
	}
	if think == 0 {
		// Without pauses the members queue behind each other: this run
		// measures how many pages the machine makes, and its latency is
		// mostly that queue, not what the 30 ms goal is read on.
		fmt.Printf("%.1f pages a second at saturation; server time p50 %s, p99 %s over all pages (the 30 ms goal is read on the run with pauses)\n",
			float64(len(all))/duration.Seconds(), ms(q[0]), ms(q[2]))
	} else {
		fmt.Printf("%.1f pages a second; server time p99 %s over all pages: %s the 30 ms goal (round trip p99 %s: %s; worst page's own p99 %s, %s)\n",
			float64(len(all))/duration.Seconds(), ms(q[2]), verdict(q[2]), ms(t[2]), verdict(t[2]), ms(worst), worstName)
	}
	if n := time.Duration(len(all)); n > 0 {
		if serverPID > 0 {
			// CPU time does not grow with the machine's load as waiting
			// does: it is what a page costs, whoever else runs.
			fmt.Printf("CPU per page: server %s, its PostgreSQL %s, this client %s\n",
				ms((serverAfter-serverBefore)/n), ms((dbAfter-dbBefore)/n), ms(self/n))
		} else {
			fmt.Printf("CPU per page: this client %s\n", ms(self/n))
		}
	}
	return nil
}

// serverTime reads the page's time from a Server-Timing header
// ("page;dur=1.84", in milliseconds).
func serverTime(h string) (time.Duration, error) {
	for _, m := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(m), ";")
		if name != "page" {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "dur="); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, fmt.Errorf("Server-Timing %q: %w", h, err)
				}
				return time.Duration(f * float64(time.Millisecond)), nil
			}
		}
	}
	return 0, fmt.Errorf("no page time in the Server-Timing header %q (a server older than the benchmark?)", h)
}

// selfCPU returns the CPU time (user and system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// quantiles returns the 50th, 90th and 99th percentiles and the maximum
// of one figure of the samples.
func quantiles(ss []sample, of func(sample) time.Duration) [4]time.Duration {
	if len(ss) == 0 {
		return [4]time.Duration{}
	}
	s := make([]time.Duration, len(ss))
	for i, x := range ss {
		s[i] = of(x)
	}
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return [4]time.Duration{at(0.50), at(0.90), at(0.99), s[len(s)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// screenshots takes each main page at 360 and 1280 CSS px, signed in as a
// demo neighbor (the public pages look the same to a visitor but for the
// menu), and the coordinator's pages signed in as the time bank's
// coordinator.
func screenshots(ctx context.Context, d *demo, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if d.coordinator == "" {
		return errors.New("the time bank has no coordinator: load the demo first (mutual demo)")
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
	for _, who := range []struct {
		member string
		pages  []page
	}{{d.members[0], d.pages()}, {d.coordinator, d.coordPages()}} {
		if err := d.browseAs(ctx, bctx, who.member); err != nil {
			return err
		}
		if err := shoot(bctx, d.base, who.pages, out); err != nil {
			return err
		}
	}
	return nil
}

// browseAs signs member in and gives the browser their session.
func (d *demo) browseAs(ctx, bctx context.Context, member string) error {
	c, err := d.signIn(ctx, member)
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
	httpOnly := true
	_, err = chromedp.Call(bctx, network.SetCookie, network.SetCookieParams{Name: session.Name, Value: session.Value,
		URL: d.base, HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax})
	return err
}

// shoot takes each of pages at 360 and 1280 CSS px into out.
func shoot(bctx context.Context, base string, pages []page, out string) error {
	for _, width := range []int64{360, 1280} {
		height := int64(800)
		if width < 600 {
			height = 740
		}
		if _, err := chromedp.Call(bctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: width < 600}); err != nil {
			return err
		}
		for _, p := range pages {
			path := p.path
			if width < 600 && p.phoneAt != "" {
				path += "#" + p.phoneAt
			}
			if _, err := chromedp.Run(bctx, chromedp.Navigate(base+path)); err != nil {
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
// and, apart, by all its descendants (the server, and the PostgreSQL it
// started), from /proc; 0 when pid is 0 or /proc cannot be read.
func treeCPU(pid int) (own, descendants time.Duration) {
	if pid <= 0 {
		return 0, 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
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
		if id != pid && in(id) {
			ticks += p.ticks
		}
	}
	// Linux counts in USER_HZ, 100 a second on every common platform.
	const tick = 10 * time.Millisecond
	return time.Duration(procs[pid].ticks) * tick, time.Duration(ticks) * tick
}
