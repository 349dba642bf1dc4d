package web

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/exchange/matching"
	"github.com/mutual-ledger/mutual/internal/cookie"
	"github.com/mutual-ledger/mutual/ledger"
)

// Exchange is what the pages ask of the exchange; *exchange.Store
// implements it. Each page file declares the small interface it uses,
// and Exchange gathers them so Config takes one value.
type Exchange interface {
	sessionReader
	signinService
	homeService
	publicService
	coordService
	passkeyService
	listingService
	agreementService
	historyService
	poolService
	accountService
	proposalsService
	zoneService
}

// sessionReader is what every page needs: who the session cookie stands
// for, and their name.
type sessionReader interface {
	// AuthenticateSessionNamed returns the principal of a session
	// cookie's value and the member's name, or an error matching
	// exchange.ErrUnauthenticated.
	AuthenticateSessionNamed(ctx context.Context, secret string) (exchange.Principal, string, error)
	// Member returns a member p may read.
	Member(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Member, error)
	// MemberNames returns the names of the members among ids that p may
	// see, by id.
	MemberNames(ctx context.Context, p exchange.Principal, ids []uuid.UUID) (map[uuid.UUID]string, error)
}

// Config is what the pages are built from. Exchange is required.
type Config struct {
	Exchange Exchange
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BehindTLSProxy: see httpapi.Config.BehindTLSProxy (the same cookie
	// rules, from internal/cookie).
	BehindTLSProxy bool
	// PublicURL is the address people reach the pages at
	// ("https://mutual.example.org"): its host is the passkeys' relying
	// party id, and its origin the only one passkey answers may come
	// from. "" turns passkeys off (the code sign-in still works).
	PublicURL string
	// Matching scores a listing's matches; zero means
	// matching.DefaultConfig(), as the JSON API's.
	Matching matching.Config
}

// Server serves the pages.
type Server struct {
	ex           Exchange
	log          *slog.Logger
	now          func() time.Time
	jar          cookie.Jar
	cat          *catalogue
	tmpl         templates
	assetVersion string
	mux          *http.ServeMux
	cop          *http.CrossOriginProtection
	wa           *webauthn.WebAuthn // nil: passkeys are off
	matching     matching.Config
	zones        zones     // the organizations' time zones, kept a minute
	bufs         sync.Pool // of *bytes.Buffer, for render
}

// New returns the pages as a handler. It returns an error when the
// embedded catalogues or templates do not load (a build's bug, caught by
// the package's tests), or when PublicURL is not an http(s) URL.
func New(cfg Config) (*Server, error) {
	if cfg.Exchange == nil {
		return nil, errors.New("web.New: Config.Exchange is required")
	}
	cat, err := newCatalogue()
	if err != nil {
		return nil, err
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s := &Server{ex: cfg.Exchange, log: cfg.Logger, now: cfg.Now, jar: cookie.Jar{BehindTLSProxy: cfg.BehindTLSProxy},
		cat: cat, tmpl: tmpl, assetVersion: assetsVersion(), mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.PublicURL != "" {
		if s.wa, err = newWebAuthn(cfg.PublicURL); err != nil {
			return nil, err
		}
	}
	if s.matching = cfg.Matching; s.matching.MaxKm <= 0 {
		s.matching = matching.DefaultConfig()
	}
	s.cop.SetDenyHandler(http.HandlerFunc(s.crossOrigin))
	s.routes()
	return s, nil
}

// routes registers every page, one file's pages at a time.
func (s *Server) routes() {
	assets, _ := fs.Sub(assetFiles, "assets")
	files := http.FileServerFS(assets)
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The URLs carry the assets' version (?v=...): a changed asset has a
		// new URL, so a browser may keep one for a day.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})))
	s.public("GET /{$}", s.index)
	s.public("GET /language", s.chooseLanguage)
	s.registerSigninPages()
	s.registerHomePages()
	s.registerPublicPages()
	s.registerCoordPages()
	s.registerPasskeyPages()
	s.registerListingPages()
	s.registerAgreementPages()
	s.registerHistoryPages()
	s.registerPoolPages()
	s.registerAccountPages()
	s.registerProposalPages()
	s.public("/", func(w http.ResponseWriter, r *Request) error { return errNotFound })
}

// Request is a page request: the HTTP request, with who is asking and in
// which language.
type Request struct {
	*http.Request
	Lang *Lang
	// Principal is who is signed in (from the session cookie), nil for a
	// visitor.
	Principal *exchange.Principal
	// Name is the signed-in member's name.
	Name string
	// Flash is the message the request before left (translated), or "".
	Flash string
	// ActingFor is the name of the member a coordinator acts for (then
	// Principal and Name are that member's), and Agent the coordinator's
	// own name; both "" otherwise.
	ActingFor, Agent string
	// start is when the page began, for the Server-Timing header.
	start time.Time
}

// handlerFunc is a page: it writes its answer itself (render or
// redirect) and returns an error for everything else, which becomes an
// error page in the person's language.
type handlerFunc func(w http.ResponseWriter, r *Request) error

// public adds a page anyone may see.
func (s *Server) public(pattern string, h handlerFunc) { s.mux.Handle(pattern, s.wrap(h, false)) }

// member adds a page for signed-in members: a visitor is sent to sign in,
// and back here after.
func (s *Server) member(pattern string, h handlerFunc) { s.mux.Handle(pattern, s.wrap(h, true)) }

// ServeHTTP serves the pages: every request first passes the cross-origin
// check (a state-changing request from another site is refused, whatever
// it carries), then gets the security headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Pages load only their own assets; nothing frames them. The invitation
	// links carry a secret in their path: no Referer tells it to anyone.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.cop.Handler(s.mux).ServeHTTP(w, r)
}

func (s *Server) wrap(h handlerFunc, signedIn bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		r := &Request{Request: hr, Lang: s.cat.choose(hr), start: time.Now()}
		if err := s.identify(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		if signedIn && r.Principal == nil {
			http.Redirect(w, hr, "/signin?next="+url.QueryEscape(hr.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		r.Flash = s.takeFlash(w, r)
		s.inZone(r)
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// identify reads the session cookie: a session that stands makes the
// request the member's; one that ended is forgotten (its cookie cleared).
func (s *Server) identify(w http.ResponseWriter, r *Request) error {
	secret := s.jar.Value(r.Request)
	if secret == "" {
		return nil
	}
	// The session is read on every request, never cached: one ended
	// (signed out, here or elsewhere) stops working at once.
	p, name, err := s.ex.AuthenticateSessionNamed(r.Context(), secret)
	if errors.Is(err, exchange.ErrUnauthenticated) {
		s.jar.Clear(w, r.Request)
		return nil
	}
	if err != nil {
		return err
	}
	r.Principal, r.Name = &p, name
	return s.acting(w, r)
}

// memberName returns the name of a member p may read (one a coordinator
// acts for), in one round trip.
func (s *Server) memberName(ctx context.Context, p exchange.Principal, id uuid.UUID) (string, error) {
	names, err := s.ex.MemberNames(ctx, p, []uuid.UUID{id})
	if err != nil {
		return "", err
	}
	name, ok := names[id]
	if !ok {
		return "", exchange.ErrUnknownMember
	}
	return name, nil
}

// Errors a page returns to get the matching error page.
var (
	errNotFound  = errors.New("web: not found")
	errForbidden = errors.New("web: forbidden")
)

// fail answers an error with an error page: not found, forbidden (what
// the exchange refused to show is "not found", as in the API), or an
// internal error, logged with the path but never shown.
func (s *Server) fail(w http.ResponseWriter, r *Request, err error) {
	status, msg := http.StatusInternalServerError, "error.internal"
	var le *ledger.Error
	switch {
	case errors.Is(err, errNotFound), errors.Is(err, exchange.ErrNotVisible):
		status, msg = http.StatusNotFound, "error.not_found"
	case errors.Is(err, errForbidden), errors.Is(err, exchange.ErrForbidden):
		status, msg = http.StatusForbidden, "error.forbidden"
	case errors.As(err, &le) && le.Code == ledger.ENOTFOUND:
		status, msg = http.StatusNotFound, "error.not_found"
	default:
		s.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if rerr := s.render(w, r, status, "error", "error.title", nil, r.Lang.T(msg)); rerr != nil {
		s.log.Error("rendering the error page", "err", rerr)
		http.Error(w, http.StatusText(status), status)
	}
}

// crossOrigin answers a state-changing request from another site: refused,
// nothing changed.
func (s *Server) crossOrigin(w http.ResponseWriter, hr *http.Request) {
	r := &Request{Request: hr, Lang: s.cat.choose(hr)}
	if err := s.render(w, r, http.StatusForbidden, "error", "error.title", nil, r.Lang.T("error.cross_origin")); err != nil {
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
	}
}

// flashCookie carries a message id from a POST to the page it redirects
// to, which shows it once.
const flashCookie = "mutual_flash"

// redirect ends a POST: the browser is sent (303) to a page that shows
// flash (a message id of the catalogues, or "" for none).
func (s *Server) redirect(w http.ResponseWriter, r *Request, to, flash string) error {
	if flash != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: flash, Path: "/", MaxAge: 60, HttpOnly: true,
			Secure: s.jar.Secure(r.Request), SameSite: http.SameSiteLaxMode})
	}
	serverTiming(w.Header(), r)
	http.Redirect(w, r.Request, to, http.StatusSeeOther)
	return nil
}

// takeFlash returns the flash message the request carries, translated,
// and clears it. Only ids of flash messages are shown: a cookie set by
// anyone else shows nothing.
func (s *Server) takeFlash(w http.ResponseWriter, r *Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.jar.Secure(r.Request), SameSite: http.SameSiteLaxMode})
	if !strings.HasPrefix(c.Value, "flash.") || !r.Lang.Has(c.Value) {
		return ""
	}
	return r.Lang.T(c.Value)
}

// localPath returns next when it is a path on this site, else fallback:
// a redirect after sign-in never leads elsewhere.
func localPath(next, fallback string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return fallback
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return fallback
	}
	return next
}

// index is the front page: what Mutual is, and the way in.
func (s *Server) index(w http.ResponseWriter, r *Request) error {
	if r.Principal != nil {
		http.Redirect(w, r.Request, "/home", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, "index", "index.title", nil, nil)
}

// chooseLanguage remembers the language chosen (a year) and goes back to
// the page the chooser was on. A link, not a form: it works without
// script, and changing it from another site changes nothing but the
// language.
func (s *Server) chooseLanguage(w http.ResponseWriter, r *Request) error {
	code := r.URL.Query().Get("lang")
	if _, ok := s.cat.langs[code]; ok {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: code, Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: s.jar.Secure(r.Request), SameSite: http.SameSiteLaxMode, HttpOnly: true})
	}
	http.Redirect(w, r.Request, localPath(r.URL.Query().Get("next"), "/"), http.StatusSeeOther)
	return nil
}
