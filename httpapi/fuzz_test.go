package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math/big"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// requestBodies makes a value of every type the API decodes a request body
// into, by name (TestRequestBodiesListed keeps the list whole).
var requestBodies = map[string]func() any{
	"ownerRequest":             func() any { return new(ownerRequest) },
	"createAccountRequest":     func() any { return new(createAccountRequest) },
	"recordObligationRequest":  func() any { return new(recordObligationRequest) },
	"disputeObligationRequest": func() any { return new(disputeObligationRequest) },
	"payObligationRequest":     func() any { return new(payObligationRequest) },
	"clearingRunRequest":       func() any { return new(clearingRunRequest) },
	"creditLineRequest":        func() any { return new(creditLineRequest) },
	"fundRulesRequest":         func() any { return new(fundRulesRequest) },
	"fundRulesChangeRequest":   func() any { return new(fundRulesChangeRequest) },
	"proposeAgreementRequest":  func() any { return new(proposeAgreementRequest) },
	"acceptAgreementRequest":   func() any { return new(acceptAgreementRequest) },
	"quantityRequest":          func() any { return new(quantityRequest) },
	"reasonRequest":            func() any { return new(reasonRequest) },
	"disputeRequest":           func() any { return new(disputeRequest) },
	"resolveRequest":           func() any { return new(resolveRequest) },
	"markReadRequest":          func() any { return new(markReadRequest) },
	"createFundRequest":        func() any { return new(createFundRequest) },
	"contributionRequest":      func() any { return new(contributionRequest) },
	"grantRequest":             func() any { return new(grantRequest) },
	"decisionRequest":          func() any { return new(decisionRequest) },
	"votesRequest":             func() any { return new(votesRequest) },
	"createCategoryRequest":    func() any { return new(createCategoryRequest) },
	"placeRequest":             func() any { return new(placeRequest) },
	"windowRequest":            func() any { return new(windowRequest) },
	"createListingRequest":     func() any { return new(createListingRequest) },
	"addMemberRequest":         func() any { return new(addMemberRequest) },
	"createOrgRequest":         func() any { return new(createOrgRequest) },
	"orgRegionRequest":         func() any { return new(orgRegionRequest) },
	"proposalRequest":          func() any { return new(proposalRequest) },
	"sendProposalRequest":      func() any { return new(sendProposalRequest) },
	"sendPairRequest":          func() any { return new(sendPairRequest) },
	"timebankRulesRequest":     func() any { return new(timebankRulesRequest) },
	"donationRequest":          func() any { return new(donationRequest) },
	"hoursGrantRequest":        func() any { return new(hoursGrantRequest) },
	"settlementRequest":        func() any { return new(settlementRequest) },
	"createTokenRequest":       func() any { return new(createTokenRequest) },
	"tradeLegRequest":          func() any { return new(tradeLegRequest) },
	"proposeTradeRequest":      func() any { return new(proposeTradeRequest) },
	"postingRequest":           func() any { return new(postingRequest) },
	"transferRequest":          func() any { return new(transferRequest) },
	"batchRequest":             func() any { return new(batchRequest) },
	"postHoldRequest":          func() any { return new(postHoldRequest) },
	"reverseRequest":           func() any { return new(reverseRequest) },
	"createUnitRequest":        func() any { return new(createUnitRequest) },
	"emptyRequest":             func() any { return new(struct{}) }, // the bodies of void, withdraw, disburse, decide
	"inviteRequest":            func() any { return new(inviteRequest) },
	"acceptInvitationRequest":  func() any { return new(acceptInvitationRequest) },
	"signinCodeRequest":        func() any { return new(signinCodeRequest) },
	"signinEmailRequest":       func() any { return new(signinEmailRequest) },
	"weeklyRequest":            func() any { return new(weeklyRequest) },
	"categoryRelationRequest":  func() any { return new(categoryRelationRequest) },
	"orgMatchingRequest":       func() any { return new(orgMatchingRequest) },
	"reachRequest":             func() any { return new(reachRequest) },
}

// bodyNames is requestBodies' names in order, so that a fuzz input's
// index means the same type from run to run.
func bodyNames() []string {
	names := make([]string, 0, len(requestBodies))
	for n := range requestBodies {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestRequestBodiesListed reads the package's source: every struct type
// whose name ends in Request is in requestBodies, so that the fuzz target
// and the text-rule check below see each request body.
func TestRequestBodiesListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !strings.HasSuffix(ts.Name.Name, "Request") {
				return true
			}
			if _, ok := ts.Type.(*ast.StructType); !ok {
				return true
			}
			found++
			if _, ok := requestBodies[ts.Name.Name]; !ok {
				t.Errorf("%s: request body type %s is not in requestBodies", name, ts.Name.Name)
			}
			return true
		})
	}
	if found+1 != len(requestBodies) {
		t.Errorf("%d request body types in the source, %d in requestBodies", found, len(requestBodies)-1)
	}
}

// TestTextFieldsFollowTheTextRule holds every string field of every request
// body to a rule of its own: line or text, or a format that admits no
// control character (a UUID, one of a list, a time, a decimal).
func TestTextFieldsFollowTheTextRule(t *testing.T) {
	formats := []string{"line", "text", "uuid", "oneof", "rfc3339", "decimal"}
	for name, mk := range requestBodies {
		typ := reflect.TypeOf(mk()).Elem()
		for i := range typ.NumField() {
			f := typ.Field(i)
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() != reflect.String {
				continue
			}
			tag := f.Tag.Get("validate")
			ok := false
			for _, rule := range strings.Split(tag, ",") {
				rule, _, _ = strings.Cut(rule, "=")
				for _, want := range formats {
					ok = ok || rule == want
				}
			}
			if !ok {
				t.Errorf("%s.%s (validate:%q) follows neither the line nor the text rule nor a format", name, f.Name, tag)
			}
		}
	}
}

// fuzzAPI is the part of the API that decoding needs: the validator and
// the shapes of request bodies.
func fuzzAPI() *api { return &api{validate: newValidator()} }

// FuzzDecode decodes arbitrary bodies into every request body type. It
// must never panic; every error must be a 4xx problem through the problem
// table, never a 500; and whatever it accepts must hold no duplicate key at
// any level and only valid UTF-8 without NUL in every string, keys
// included, which a reference walk with encoding/json's tokenizer checks.
func FuzzDecode(f *testing.F) {
	names := bodyNames()
	index := func(name string) uint8 {
		return uint8(sort.SearchStrings(names, name))
	}
	seeds := map[string][]string{
		"transferRequest": {
			typicalTransfer,
			`{"postings":[{"from":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b","to":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7c","amount":"-5","amount":"0.01","unit":"HOUR"}]}`,
			`{"postings":[],"memo":"a\u0000b","metadata":{"k":"\ud800","k":1}}`,
			`{"POSTINGS":[{"From":"x"}],"Memo":"\u202e"}`,
			"{\"memo\":\"\xff\xfe\",\"metadata\":{\"\x00\":[[[{}]]]}}",
			`{"metadata":{"a":{"b":[1,2,{"c":"\u001b[2J"}]}},"pending":true,"expires_at":"2026-03-01T09:00:00Z"}`,
			`{"postings":[{"amount":1e400}]}`, `[]`, `null`, ``, ` `, `{}{}`, `{"memo":"a"}x`,
		},
		"batchRequest":         {`{"atomic":true,"transfers":[` + typicalTransfer + `,{"memo":"\t"}]}`},
		"createListingRequest": {`{"org_id":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b","kind":"offer","title":"Bikes\n","description":"a\nb","category":"repairs","tags":["a","\u0007"],"quantity":"2.5","place":{"lat":40,"Lat":1,"lon":-3},"window":{"start":"2026-03-01T09:00:00Z","end":"x"},"urgency":9}`},
		"createOrgRequest":     {`{"name":"Riverside","kind":"council","parent_id":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b","city":"\u0085"}`},
		"proposeTradeRequest":  {`{"counterparty_org":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b","legs":[{"from_account":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b","to_account":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7c","amount":"1","unit":"HOUR"}]}`},
		"decisionRequest":      {`{"decision":"approve","note":"ok","votes":{"for":3,"against":-1,"abstain":99999999999999999999}}`},
		"createUnitRequest":    {`{"code":"KG","scale":2,"name":"Kilograms"}`, `{"code":"KG","scale":2.5}`},
		"postHoldRequest":      {`{"amounts":["1",null,2],"memo":"m","metadata":{}}`},
		"emptyRequest":         {``, `{}`, `{"x":1}`},
	}
	for name, bodies := range seeds {
		for _, b := range bodies {
			f.Add(index(name), []byte(b))
		}
	}
	for _, name := range names {
		f.Add(index(name), []byte(`{}`))
	}
	a := fuzzAPI()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		name := names[int(which)%len(names)]
		v := requestBodies[name]()
		r := httptest.NewRequest("POST", "/v1/fuzz", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		err := a.decode(r, v, name == "emptyRequest")
		// Whatever was decoded, a hand-written check never lets through
		// what the validator would refuse.
		if fv, ok := v.(fastValidator); ok && fv.validFast() {
			if verr := a.check(v); verr != nil {
				t.Fatalf("%s: %q: validFast took what the validator refuses: %v", name, body, verr)
			}
		}
		if err != nil {
			p, _, internal := a.problem(r, err)
			if internal || p.Status < 400 || p.Status >= 500 {
				t.Fatalf("%s: %q: error %v answered %d %s", name, body, err, p.Status, p.Type)
			}
			return
		}
		if err := referenceCheck(body); err != nil {
			t.Fatalf("%s: accepted %q: %v", name, body, err)
		}
		if err := stringsValid(reflect.ValueOf(v)); err != nil {
			t.Fatalf("%s: accepted %q, decoded: %v", name, body, err)
		}
	})
}

// referenceCheck walks body with encoding/json's tokenizer: no object
// holds a key twice, and no string or key holds NUL or U+FFFD (which the
// tokenizer puts in place of invalid UTF-8 and lone surrogates; a body that
// means U+FFFD itself is refused here too, which only costs the fuzzer a
// false alarm it would show).
func referenceCheck(body []byte) error {
	if bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(body, []byte(`\ufffd`)) || bytes.Contains(body, []byte(`\uFFFD`)) {
		return nil // the reference cannot tell such a body apart
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object    bool
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // the decoder accepted what the tokenizer refuses: not this check's concern
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && (strings.ContainsRune(s, 0) || strings.ContainsRune(s, utf8.RuneError)) {
			return errors.New("a string holds NUL or invalid UTF-8: " + strconv.Quote(s))
		}
		if top != nil && top.object && top.expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return errors.New("duplicate key " + strconv.Quote(k))
			}
			top.keys[k] = true
			top.expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
		}
		if top != nil && top.object {
			top.expectKey = true
		}
	}
}

// stringsValid checks every string a decoded request holds, and the
// strings and keys of its raw JSON (metadata).
func stringsValid(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return stringsValid(v.Elem())
		}
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return errors.New("decoded string " + strconv.Quote(s))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				if err := stringsValid(v.Field(i)); err != nil {
					return err
				}
			}
		}
	case reflect.Slice:
		if raw, ok := v.Interface().(json.RawMessage); ok {
			if len(raw) == 0 {
				return nil
			}
			var any any
			if err := json.Unmarshal(raw, &any); err != nil {
				return err
			}
			return stringsValid(reflect.ValueOf(&any))
		}
		for i := range v.Len() {
			if err := stringsValid(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if err := stringsValid(k); err != nil {
				return err
			}
			if err := stringsValid(v.MapIndex(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// plainDecimalRE is the rule plainDecimal writes out, as a regular
// expression: the reference FuzzParseDecimal holds it to.
var plainDecimalRE = regexp.MustCompile(`^-?[0-9]{1,40}(\.[0-9]{1,40})?$`)

// FuzzParseDecimal feeds amounts' JSON text to parseDecimalJSON: an amount
// it takes is a quoted plain decimal (digits, at most one point, an
// optional minus), and its value is exactly the decimal written, never
// rounded; plainDecimal agrees with its regular expression on every
// string.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{`"2.50"`, `"-0.01"`, `"0"`, `"1e3"`, `2.5`, `"+1"`, `" 1"`, `"1."`, `".5"`, `"١٢"`,
		`"99999999999999999999999999999999999999.9999999999999999999999999999999999999999"`, `"\u0031"`, `""`, `"`, `null`,
		`-12.5`, `-`, `.`, `-.5`, `1.2.3`, `--1`, `1.5\n`, `12345678901234567890123456789012345678901`, `1.12345678901234567890123456789012345678901`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if plainDecimal(raw) != plainDecimalRE.MatchString(raw) {
			t.Fatalf("plainDecimal(%q) = %v, the expression says otherwise", raw, plainDecimal(raw))
		}
		d, ok := parseDecimalJSON(raw)
		s, err := strconv.Unquote(raw)
		if !ok {
			if err == nil && raw[0] == '"' && plainDecimalRE.MatchString(s) {
				t.Fatalf("%s refused", raw)
			}
			return
		}
		if err != nil || !plainDecimalRE.MatchString(s) {
			t.Fatalf("%s taken as %s", raw, d)
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok || want.Cmp(d.Rat()) != 0 {
			t.Fatalf("%s taken as %s", raw, d)
		}
	})
}

// FuzzCursor feeds ?limit= and ?after= to pageQuery and idPage: every
// refusal is a 400 naming the parameter, and a cursor made by cursor()
// reads back as the position it was made from, for its own list only.
func FuzzCursor(f *testing.F) {
	f.Add("listings", "0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "", "10")
	f.Add("entries", "42", "ZW50cmllczo0Mg", "1000")
	f.Add("orgs", "", "%%%", "-1")
	f.Add("a", "b:c", "YTpiOmM", "1001")
	f.Add("orgs", "x", "b3Jnczp4", "0x10")
	a := fuzzAPI()
	f.Fuzz(func(t *testing.T, kind, pos, after, limit string) {
		r := httptest.NewRequest("GET", "/v1/fuzz?"+url.Values{"after": {after}, "limit": {limit}}.Encode(), nil)
		n, got, err := pageQuery(r, kind)
		if err != nil {
			p, _, internal := a.problem(r, err)
			if internal || p.Status != 400 || len(p.Errors) != 1 || (p.Errors[0].Field != "after" && p.Errors[0].Field != "limit") {
				t.Fatalf("after %q limit %q: %+v", after, limit, p)
			}
		} else if n < 1 || n > maxLimit || (after == "") != (got == "") {
			t.Fatalf("after %q limit %q: limit %d position %q", after, limit, n, got)
		}
		if _, err := idPage(r, kind); err != nil {
			if p, _, internal := a.problem(r, err); internal || p.Status != 400 {
				t.Fatalf("idPage: after %q limit %q: %+v", after, limit, p)
			}
		}
		if pos == "" || strings.Contains(kind, ":") {
			return // no cursor, or a kind no list has
		}
		c := cursor(kind, pos)
		r = httptest.NewRequest("GET", "/v1/fuzz?after="+url.QueryEscape(c), nil)
		if _, got, err := pageQuery(r, kind); err != nil || got != pos {
			t.Fatalf("cursor(%q, %q) = %q read back as %q, %v", kind, pos, c, got, err)
		}
		if _, _, err := pageQuery(r, kind+"x"); err == nil {
			t.Fatalf("cursor of %q taken by list %q", kind, kind+"x")
		}
	})
}
