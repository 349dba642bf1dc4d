package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// templates are the pages: each page file (templates/NAME.html, defining
// "content") parsed together with the shared pieces (templates/_*.html:
// the layout and the form fields).
type templates map[string]*template.Template

func parseTemplates() (templates, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var shared, pages []string
	for _, n := range names {
		if strings.HasPrefix(n, "templates/_") {
			shared = append(shared, n)
		} else {
			pages = append(pages, n)
		}
	}
	out := templates{}
	for _, p := range pages {
		t, err := template.ParseFS(templateFiles, append(append([]string{}, shared...), p)...)
		if err != nil {
			return nil, fmt.Errorf("web: parsing %s: %w", p, err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")] = t
	}
	return out, nil
}

// Page is what every template sees: who is asking, in which language,
// the flash message left by the previous request, the form being shown,
// and the page's own data. Templates translate with {{.T "key"}} (or
// {{$.T "key"}} inside a range), plurals with {{.N "key" .Count}}, and
// format with {{.Lang.Decimal x}}, {{.Lang.Date t}}.
type Page struct {
	*Lang
	// Title is the page's title, translated.
	Title string
	// Principal is who is signed in, nil for a visitor.
	Principal *exchange.Principal
	// Name is the signed-in member's name, "" for a visitor.
	Name string
	// Flash is a message from the request before (POST-redirect-GET),
	// translated, or "".
	Flash string
	// Form holds what was typed and the refusals, when the page shows a
	// form; never nil (an empty form for a page without one).
	Form *Form
	// Data is the page's own data.
	Data any
	// Path is the request's path and query, for links back to it (the
	// language chooser).
	Path string
	// Assets is the version of the embedded assets, for URLs that change
	// when they do.
	Assets string
	// ActingFor is the name of the member a coordinator acts for, and
	// Agent the coordinator's, "" when none.
	ActingFor, Agent string
	// Languages are the chooser's entries.
	Languages []LangLink
}

// LangLink is one entry of the language chooser.
type LangLink struct {
	Code, Name, URL string
	Current         bool
}

// Coordinates reports whether the signed-in member coordinates an
// organization, for the link to the coordinators' pages (which ask the
// exchange for everything they show).
func (p *Page) Coordinates() bool {
	if p.Principal == nil || p.ActingFor != "" {
		return false
	}
	for _, r := range p.Principal.Roles {
		if r == exchange.RoleCoordinator || r == exchange.RoleAdmin {
			return true
		}
	}
	return false
}

// Choice is one option of a select field (the coordinators' pages' name
// for Option).
type Choice = Option

// SignedIn reports whether a member is signed in.
func (p *Page) SignedIn() bool { return p.Principal != nil }

// Field is a form field's view: its label and hint translated, what was
// typed, and its refusal.
type Field struct {
	Name, Label, Hint, Value, Error, Type, Autocomplete, Inputmode string
	Required                                                       bool
}

// ID is the field's element id; its error and hint have ids derived from
// it, which aria-describedby names.
func (f Field) ID() string { return "f-" + f.Name }

// Describedby lists the ids of the field's hint and error, "" when none.
func (f Field) Describedby() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID()+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID()+"-error")
	}
	return strings.Join(ids, " ")
}

// Field returns a field of the page's form for {{template "field" ...}}.
// opts are "required", "type=email", "hint=message.key",
// "autocomplete=name", "inputmode=numeric".
func (p *Page) Field(name, labelKey string, opts ...string) Field {
	f := Field{Name: name, Label: p.T(labelKey), Type: "text", Value: p.Form.Get(name), Error: p.Form.Errors[name]}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "required":
			f.Required = true
		case "type":
			f.Type = v
		case "hint":
			f.Hint = p.T(v)
		case "autocomplete":
			f.Autocomplete = v
		case "inputmode":
			f.Inputmode = v
		}
	}
	return f
}

// Form is a submitted form: what was typed, kept to show again, and the
// refusals by field, translated.
type Form struct {
	Values url.Values
	Errors map[string]string
	// Order lists the refused fields in the order refused, for the summary
	// at the top of the form.
	Order []string
}

// NewForm returns the form of a POST request (parsed), or an empty one.
func NewForm(r *http.Request) *Form {
	f := &Form{Values: url.Values{}, Errors: map[string]string{}}
	if r != nil && r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			f.Values = r.PostForm
		}
	}
	return f
}

// Get returns what was typed in a field, trimmed of surrounding spaces.
func (f *Form) Get(name string) string { return strings.TrimSpace(f.Values.Get(name)) }

// Refuse records a field's refusal with its message (translated).
func (f *Form) Refuse(name, message string) {
	if _, ok := f.Errors[name]; !ok {
		f.Order = append(f.Order, name)
	}
	f.Errors[name] = message
}

// OK reports whether no field was refused.
func (f *Form) OK() bool { return len(f.Errors) == 0 }

// maxPooledPage bounds the buffers render keeps for the next page: a rare
// huge page's buffer is left to the garbage collector.
const maxPooledPage = 256 << 10

// render writes a page with status.
func (s *Server) render(w http.ResponseWriter, r *Request, status int, name, titleKey string, form *Form, data any) error {
	t, ok := s.tmpl[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	if form == nil {
		form = NewForm(nil)
	}
	p := &Page{Lang: r.Lang, Title: r.Lang.T(titleKey), Principal: r.Principal, Name: r.Name, Flash: r.Flash,
		Form: form, Data: data, Path: r.URL.RequestURI(), Assets: s.assetVersion,
		ActingFor: r.ActingFor, Agent: r.Agent}
	for _, tag := range Languages {
		code := tag.String()
		p.Languages = append(p.Languages, LangLink{Code: code, Name: r.Lang.T("language." + code),
			URL: "/language?lang=" + code + "&next=" + url.QueryEscape(p.Path), Current: code == r.Lang.Code()})
	}
	// A page is made whole in a buffer before anything is sent, so that a
	// template's error is an error page, not half a page; the buffers are
	// reused, a page's worth of memory not being made anew each time.
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledPage {
			buf.Reset()
			s.bufs.Put(buf)
		}
	}()
	if err := t.ExecuteTemplate(buf, "layout", p); err != nil {
		return fmt.Errorf("web: rendering %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", r.Lang.Code())
	h.Set("Vary", "Cookie, Accept-Language")
	if r.Principal != nil || status != http.StatusOK {
		h.Set("Cache-Control", "no-store")
	}
	serverTiming(h, r)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// serverTiming tells how long the server took to make the page, from
// the request reaching its handler to the page ready to send
// (`Server-Timing: page;dur=1.84`, in milliseconds), so that a browser's
// developer tools and the pages' benchmark (scripts/pages) see the
// server's own time apart from the network and the client.
func serverTiming(h http.Header, r *Request) {
	if !r.start.IsZero() {
		h.Set("Server-Timing", fmt.Sprintf("page;dur=%.2f", float64(time.Since(r.start).Microseconds())/1000))
	}
}

// assetsVersion is a short hash of the embedded assets, so that their URLs
// change with them and browsers may cache them for long.
func assetsVersion() string {
	h := sha256.New()
	fs.WalkDir(assetFiles, "assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(assetFiles, p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}
