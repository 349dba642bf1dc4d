package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mutual-ledger/mutual/httpapi"
)

// The OpenAPI document is JSON Schema 2020-12 in its schemas (OpenAPI 3.1),
// so a JSON Schema validator checks responses against it directly. Every
// response of every test passes through checkingTransport, which checks it
// against the operation the request matched: its status must be documented,
// its content type too, and a JSON body must validate against the
// documented schema. A successful request's JSON body must also validate
// against the documented request schema.

const specURL = "https://mutual.example/openapi.json"

type spec struct {
	doc       map[string]any
	compiler  *jsonschema.Compiler
	mu        sync.Mutex
	schemas   map[string]*jsonschema.Schema
	templates []string
}

var (
	specOnce   sync.Once
	loadedSpec *spec
	specErr    error
)

// theSpec returns the OpenAPI document, parsed once per test binary.
func theSpec(t *testing.T) *spec {
	t.Helper()
	specOnce.Do(func() { loadedSpec, specErr = loadSpec(httpapi.OpenAPI()) })
	if specErr != nil {
		t.Fatalf("the OpenAPI document: %v", specErr)
	}
	return loadedSpec
}

func loadSpec(raw []byte) (*spec, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(specURL, inst); err != nil {
		return nil, err
	}
	s := &spec{doc: doc, compiler: c, schemas: make(map[string]*jsonschema.Schema)}
	for p := range doc["paths"].(map[string]any) {
		s.templates = append(s.templates, p)
	}
	sort.Strings(s.templates)
	return s, nil
}

// schema compiles the schema at a JSON pointer of the document.
func (s *spec) schema(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(specURL + "#" + ptr)
	if err != nil {
		return nil, err
	}
	s.schemas[ptr] = sch
	return sch, nil
}

// lookup returns the value at a JSON pointer.
func (s *spec) lookup(ptr string) any {
	var v any = s.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[tok]
	}
	return v
}

func escape(tok string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok) }

// follow resolves a local $ref, returning the pointer of what it names.
func (s *spec) follow(ptr string) string {
	for range 10 {
		m, ok := s.lookup(ptr).(map[string]any)
		if !ok {
			return ptr
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return ptr
		}
		ptr = strings.TrimPrefix(ref, "#")
	}
	return ptr
}

// match finds the operation of a request as the server's mux does: the path
// templates that match the path and have the method, the most literal one.
func (s *spec) match(method, path string) (template string, ok bool) {
	segs := strings.Split(path, "/")
	best := -1
	for _, tmpl := range s.templates {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literal := 0
		fits := true
		for i := range ts {
			switch {
			case strings.HasPrefix(ts[i], "{"):
				fits = fits && segs[i] != ""
			case ts[i] == segs[i]:
				literal++
			default:
				fits = false
			}
		}
		ops, _ := s.doc["paths"].(map[string]any)[tmpl].(map[string]any)
		if _, has := ops[strings.ToLower(method)]; fits && has && literal > best {
			template, best = tmpl, literal
		}
	}
	return template, best >= 0
}

// operations lists the document's operations as "METHOD /path".
func (s *spec) operations() []string {
	var out []string
	for _, tmpl := range s.templates {
		for m := range s.doc["paths"].(map[string]any)[tmpl].(map[string]any) {
			out = append(out, strings.ToUpper(m)+" "+tmpl)
		}
	}
	sort.Strings(out)
	return out
}

// sqlText matches what must never reach a client: SQL, driver errors, stack
// traces.
var sqlText = regexp.MustCompile(`(?i)\b(select|insert|update|delete)\b.*\b(from|into|set|where)\b|sqlstate|pgx|pgconn|goroutine \d|\.go:\d+|violates|constraint "`)

// check returns what is wrong with a response.
func (s *spec) check(req *http.Request, reqBody []byte, res *http.Response, body []byte) []string {
	var bad []string
	if res.Header.Get("X-Request-Id") == "" {
		bad = append(bad, "no X-Request-Id header")
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if mt == "application/problem+json" {
		var p httpapi.Problem
		if err := json.Unmarshal(body, &p); err != nil {
			bad = append(bad, "problem body: "+err.Error())
		} else {
			if res.Header.Get("Idempotent-Replayed") == "" && p.RequestID != res.Header.Get("X-Request-Id") {
				bad = append(bad, fmt.Sprintf("problem request_id %q is not the X-Request-Id %q", p.RequestID, res.Header.Get("X-Request-Id")))
			}
			if p.Status != res.StatusCode {
				bad = append(bad, fmt.Sprintf("problem status %d in a %d response", p.Status, res.StatusCode))
			}
			if sqlText.MatchString(string(body)) {
				bad = append(bad, "problem leaks SQL, driver or stack text")
			}
		}
	} else if res.StatusCode >= 400 && res.StatusCode != http.StatusServiceUnavailable {
		bad = append(bad, fmt.Sprintf("error response of type %q, not application/problem+json", mt))
	}

	tmpl, ok := s.match(req.Method, req.URL.Path)
	if !ok {
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			bad = append(bad, fmt.Sprintf("no documented operation, yet status %d", res.StatusCode))
		}
		if sch, err := s.schema("/components/schemas/Problem"); err != nil {
			bad = append(bad, err.Error())
		} else {
			bad = append(bad, validate(sch, body, "Problem")...)
		}
		return bad
	}
	opPtr := "/paths/" + escape(tmpl) + "/" + strings.ToLower(req.Method)
	respPtr := s.follow(opPtr + "/responses/" + strconv.Itoa(res.StatusCode))
	r, ok := s.lookup(respPtr).(map[string]any)
	if !ok {
		return append(bad, fmt.Sprintf("status %d is not documented for %s %s", res.StatusCode, req.Method, tmpl))
	}
	if len(body) > 0 {
		content, _ := r["content"].(map[string]any)
		if _, ok := content[mt]; !ok {
			return append(bad, fmt.Sprintf("content type %q is not documented for %d of %s %s", mt, res.StatusCode, req.Method, tmpl))
		}
		if mt == "application/json" || strings.HasSuffix(mt, "+json") {
			ptr := respPtr + "/content/" + escape(mt) + "/schema"
			if sch, err := s.schema(ptr); err != nil {
				bad = append(bad, err.Error())
			} else {
				bad = append(bad, validate(sch, body, fmt.Sprintf("%d of %s %s", res.StatusCode, req.Method, tmpl))...)
			}
		}
	}
	if res.StatusCode < 300 && len(bytes.TrimSpace(reqBody)) > 0 {
		ptr := s.follow(opPtr+"/requestBody") + "/content/application~1json/schema"
		if s.lookup(ptr) == nil {
			bad = append(bad, fmt.Sprintf("%s %s took a body the document does not describe", req.Method, tmpl))
		} else if sch, err := s.schema(ptr); err != nil {
			bad = append(bad, err.Error())
		} else {
			bad = append(bad, validate(sch, reqBody, "request body of "+req.Method+" "+tmpl)...)
		}
	}
	return bad
}

func validate(sch *jsonschema.Schema, body []byte, what string) []string {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []string{what + ": not JSON: " + err.Error()}
	}
	if err := sch.Validate(inst); err != nil {
		return []string{fmt.Sprintf("%s does not match the document: %v\n%s", what, err, body)}
	}
	return nil
}

// checkingTransport checks every response against the document, failing
// the test for each mismatch.
type checkingTransport struct {
	t    *testing.T
	spec *spec
	next http.RoundTripper
}

func (c *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	for _, b := range c.spec.check(req, reqBody, res, body) {
		c.t.Errorf("%s %s → %d: %s", req.Method, req.URL.Path, res.StatusCode, b)
	}
	return res, nil
}

// TestOpenAPIListsExactlyTheRoutes holds the document and the route table
// together: every route is documented and every documented operation is
// served.
func TestOpenAPIListsExactlyTheRoutes(t *testing.T) {
	s := theSpec(t)
	routes := httpapi.Routes()
	sort.Strings(routes)
	ops := s.operations()
	if strings.Join(routes, "\n") != strings.Join(ops, "\n") {
		t.Errorf("the route table and the OpenAPI document differ\nroutes:\n  %s\ndocument:\n  %s",
			strings.Join(routes, "\n  "), strings.Join(ops, "\n  "))
	}
	if v := s.doc["openapi"]; v != "3.1.0" {
		t.Errorf("openapi %v, want 3.1.0", v)
	}
	// Every schema and response the document names compiles.
	for _, group := range []string{"schemas", "responses"} {
		for name := range s.doc["components"].(map[string]any)[group].(map[string]any) {
			ptr := "/components/" + group + "/" + name
			if group == "responses" {
				ptr += "/content/application~1problem+json/schema"
			}
			if _, err := s.schema(ptr); err != nil {
				t.Errorf("%s: %v", ptr, err)
			}
		}
	}
	// Every path parameter of a template is declared.
	for _, tmpl := range s.templates {
		for m, op := range s.doc["paths"].(map[string]any)[tmpl].(map[string]any) {
			declared := map[string]bool{}
			for _, p := range op.(map[string]any)["parameters"].([]any) {
				pm := p.(map[string]any)
				if ref, ok := pm["$ref"].(string); ok {
					pm = s.lookup(strings.TrimPrefix(ref, "#")).(map[string]any)
				}
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
				}
			}
			for _, seg := range strings.Split(tmpl, "/") {
				if strings.HasPrefix(seg, "{") && !declared[strings.Trim(seg, "{}")] {
					t.Errorf("%s %s does not declare path parameter %s", m, tmpl, seg)
				}
			}
		}
	}
}

// TestOpenAPIServed checks that /openapi.json serves the document.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.call("GET", "/openapi.json", "", nil)
	if r.status != 200 || !bytes.Equal(r.body, httpapi.OpenAPI()) {
		t.Fatalf("GET /openapi.json: %d, %d bytes; want the embedded document", r.status, len(r.body))
	}
}
