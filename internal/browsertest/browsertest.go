// Package browsertest drives Debian's Chromium from Go tests, through the
// DevTools protocol (github.com/chromedp/chromedp): one browser process
// per test binary, shared by its tests; each test's people are isolated
// browser contexts (their own cookies and storage), with or without
// JavaScript; axe-core checks a page's accessibility; Chromium's virtual
// authenticator stands in for a phone or a security key.
//
// A missing Chromium or axe-core fails the test with what to install: the
// browser tests never skip.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Env variables that point at a Chromium and at axe-core elsewhere than
// their usual places.
const (
	EnvChromium = "MUTUAL_CHROMIUM"
	EnvAxe      = "MUTUAL_AXE"
)

// Browser is a Chromium started on first use and shared by a test
// binary's tests. Declare one in the test package, and Close it in
// TestMain after the tests ran.
type Browser struct {
	once    sync.Once
	err     error
	dir     string
	cancels []context.CancelFunc
	ctx     context.Context // the browser's first tab, parent of every user
	axe     string
}

// New returns a Browser that starts when a test first asks for a user.
func New() *Browser { return &Browser{} }

// Close stops the browser and removes its profile folder.
func (b *Browser) Close() {
	for i := len(b.cancels) - 1; i >= 0; i-- {
		b.cancels[i]()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// chromium finds the browser: EnvChromium, else Debian's /usr/bin/chromium,
// else chromium or chromium-browser on PATH.
func chromium() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("browsertest: %s=%s is not a program: %v", EnvChromium, p, err)
		}
		return p, nil
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("browsertest: Chromium is not installed: install Debian's package (apt-get install chromium; .ci/run does), or set " + EnvChromium + " to its path")
}

func (b *Browser) start() error {
	path, err := chromium()
	if err != nil {
		return err
	}
	if b.axe, err = loadAxe(); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "mutual-chromium-"); err != nil {
		return err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(b.dir),
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900),
	)
	// As root, Chromium refuses to start inside its sandbox.
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	b.cancels = append(b.cancels, cancelAlloc, cancelBrowser)
	// The first Run starts the browser and must not carry a deadline (it
	// would stop the browser with it).
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(bctx) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("browsertest: starting Chromium (%s): %w", path, err)
		}
	case <-time.After(time.Minute):
		return fmt.Errorf("browsertest: Chromium (%s) did not start within a minute", path)
	}
	b.ctx = bctx
	return nil
}

// Option changes a user's browser.
type Option func(*userOptions)

type userOptions struct {
	noScript bool
	width    int64
}

// NoScript turns JavaScript off for the user's pages, as for a person who
// disabled it or whose browser has none.
func NoScript() Option { return func(o *userOptions) { o.noScript = true } }

// Width sets the width of the user's window in CSS pixels (a phone: 360).
func Width(px int64) Option { return func(o *userOptions) { o.width = px } }

// User returns a new person's browser: a tab in a browser context of its
// own (cookies, storage and authenticators apart from every other user's),
// closed when the test ends. Its actions must finish within five minutes
// (a generous bound: a loaded CI machine is slow, a hung browser is not).
func (b *Browser) User(t testing.TB, opts ...Option) context.Context {
	t.Helper()
	b.once.Do(func() { b.err = b.start() })
	if b.err != nil {
		t.Fatal(b.err)
	}
	var o userOptions
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	// The tab opens without a deadline, then every action has one.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("browsertest: opening a user's browser: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	if o.noScript {
		ctx = context.WithValue(ctx, noScriptKey{}, true)
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("browsertest: turning JavaScript off: %v", err)
		}
	}
	if o.width > 0 {
		if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: o.width, Height: 800, DeviceScaleFactor: 1, Mobile: o.width < 600}); err != nil {
			t.Fatalf("browsertest: setting the width: %v", err)
		}
	}
	return ctx
}

// noScriptKey marks the context of a user made with NoScript.
type noScriptKey struct{}

// repoRoot is the folder of go.mod above the working directory (a test
// runs in its package's folder).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browsertest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// AxeDir is where axe-core is installed from the npm registry, pinned by
// its package-lock.json, relative to the repository's root.
const AxeDir = "web/testdata/axe"

func loadAxe() (string, error) {
	path := os.Getenv(EnvAxe)
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, AxeDir, "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("browsertest: axe-core is not installed (%v): run `npm ci` in %s (make test does), or set %s to axe.min.js", err, AxeDir, EnvAxe)
	}
	return string(b), nil
}

// Violation is one rule axe-core found broken, with the elements breaking it.
type Violation struct {
	ID          string `json:"id"`
	Impact      string `json:"impact"`
	Description string `json:"description"`
	HelpURL     string `json:"helpUrl"`
	Nodes       []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeRun runs axe-core with the rules the pages are held to: WCAG 2.0, 2.1
// and 2.2 at levels A and AA, and axe's best practices.
const axeRun = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}, resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`

// Axe runs axe-core on the page the user's browser shows and fails the
// test for each violation, naming the rule and the elements.
func (b *Browser) Axe(t testing.TB, ctx context.Context) {
	t.Helper()
	vs, err := b.AxeViolations(ctx)
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	url, _ := chromedp.Run(ctx, chromedp.Location())
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v %s", n.Target, n.HTML))
		}
		t.Errorf("axe-core on %s: %s (%s): %s\n\t%s", url, v.ID, v.Impact, v.Description, strings.Join(where, "\n\t"))
	}
}

// AxeViolations runs axe-core on the current page and returns what it
// found broken. For a NoScript user it turns script on for axe alone (the
// page's own scripts do not run again) and off again after.
func (b *Browser) AxeViolations(ctx context.Context) ([]Violation, error) {
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		return nil, err
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
		return nil, fmt.Errorf("loading axe-core into the page: %w", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("running axe-core: %w", err)
	}
	if ctx.Value(noScriptKey{}) != nil {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			return nil, err
		}
	}
	var vs []Violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, err
	}
	return vs, nil
}

// Authenticator gives the user's browser a virtual authenticator that
// works as a phone's built-in one: CTAP2, internal transport, holding
// discoverable (resident) credentials, verifying the user and confirming
// presence at once. It returns its id.
func Authenticator(ctx context.Context) (webauthn.AuthenticatorID, error) {
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		return "", err
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		return "", err
	}
	return res.AuthenticatorID, nil
}
