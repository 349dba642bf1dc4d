package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// checkJSON is the pass over a request's raw body that runs before
// encoding/json decodes it, for what encoding/json lets through silently:
//
//   - a key given twice in one object (encoding/json keeps the last, so
//     {"amount":"-5","amount":"0.01"} would move 0.01), at every level,
//     metadata included;
//   - a key that names a field of the request only when case is ignored
//     (encoding/json takes "ORG_ID" for org_id), or no field at all;
//   - a string, key or value, that is not valid UTF-8, or that holds NUL
//     (raw or as \u0000) or a lone UTF-16 surrogate escape: encoding/json
//     would turn the invalid bytes and surrogates into U+FFFD and keep the
//     NUL, which PostgreSQL then refuses;
//   - in free-form JSON (metadata), keys and string values the text rule
//     (text.go) refuses, and, in JSON stored as given (json.RawMessage), a
//     number beyond what every reader of it can hold: an exponent beyond
//     ±308 (a float64's range, past which PostgreSQL's JSONB also fails
//     with "value overflows numeric format") or more than 1000 digits after
//     the point.
//
// The first three are 400 malformed-request, the last 422
// validation-failed, each naming the JSON path at fault
// ("postings[1].memo", "metadata.channel"). Syntax errors are not its
// business: it returns errSyntax and leaves encoding/json to describe them.
//
// It walks the bytes once, guided by the request type's shape (which keys
// an object may hold, and what each holds), and allocates only for keys
// with escapes, large objects and errors.

// errSyntax is checkJSON's answer to a body that is not JSON: the decoder
// then says what is wrong with it.
var errSyntax = errors.New("json syntax error")

// maxDepth is the deepest nesting checkJSON follows, as encoding/json's own
// limit: anything deeper is refused by the decoder.
const maxDepth = 10000

// shapeKind is what a JSON value decodes into.
type shapeKind uint8

const (
	shapeScalar shapeKind = iota // a string, number or bool field: its strings are checked for encoding only
	shapeStruct                  // a request struct: keys must be its fields' JSON names, exactly
	shapeList                    // a slice or array of elem
	shapeMap                     // a map of elem: any keys
	shapeFree                    // an Unmarshaler, any: any JSON, its text checked by the text rule
	shapeRaw                     // json.RawMessage: as shapeFree, and stored as given, so its numbers are bounded too
)

// shape is what checkJSON knows of a Go type.
type shape struct {
	kind   shapeKind
	fields map[string]*shape // shapeStruct: JSON name → the field's shape
	elem   *shape            // shapeList, shapeMap
}

var freeShape = &shape{kind: shapeFree}
var rawShape = &shape{kind: shapeRaw}
var scalarShape = &shape{kind: shapeScalar}

// shapes caches the shapes of request types; its zero value is ready.
type shapes struct{ m sync.Map }

// of returns the shape of t, building it on first use.
func (c *shapes) of(t reflect.Type) *shape {
	if s, ok := c.m.Load(t); ok {
		return s.(*shape)
	}
	s := buildShape(t, map[reflect.Type]*shape{})
	c.m.Store(t, s)
	return s
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
)

// buildShape returns t's shape; seen holds the structs being built, for
// types that contain themselves.
func buildShape(t reflect.Type, seen map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return rawShape
	}
	if t.Kind() == reflect.Interface ||
		t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return freeShape
	}
	switch t.Kind() {
	case reflect.Struct:
		if s, ok := seen[t]; ok {
			return s
		}
		s := &shape{kind: shapeStruct, fields: map[string]*shape{}}
		seen[t] = s
		addFields(s, t, seen)
		return s
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return scalarShape // []byte is a base64 string
		}
		return &shape{kind: shapeList, elem: buildShape(t.Elem(), seen)}
	case reflect.Map:
		return &shape{kind: shapeMap, elem: buildShape(t.Elem(), seen)}
	}
	return scalarShape
}

// addFields adds t's fields to s under their JSON names, as encoding/json
// names them (embedded structs' fields promoted).
func addFields(s *shape, t reflect.Type, seen map[reflect.Type]*shape) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(s, ft, seen)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := s.fields[name]; !ok {
			s.fields[name] = buildShape(f.Type, seen)
		}
	}
}

// checkJSON checks body for a value of type t (see above).
func (c *shapes) checkJSON(body []byte, t reflect.Type) error {
	s := &scanner{body: body}
	s.path = s.pathBuf[:0]
	s.skipSpace()
	if s.pos == len(body) {
		return nil // empty: the decoder says whether that will do
	}
	return s.value(c.of(t), 0)
}

// scanner walks one JSON body. path is the JSON path of the value being
// read, as segments; it becomes a string only for an error.
type scanner struct {
	body []byte
	pos  int
	path []segment
	// pathBuf holds the path of bodies nested up to its size without
	// allocating.
	pathBuf [8]segment
}

// segment is one step of a JSON path: a key, or an index when key is nil.
type segment struct {
	key   []byte
	index int
}

// pathString is the JSON path of the current value ("postings[1].memo").
func (s *scanner) pathString() string {
	var b strings.Builder
	for _, seg := range s.path {
		if seg.key == nil {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(seg.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(printable(string(seg.key)))
	}
	return b.String()
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.body) {
		switch s.body[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one value whose Go type has shape sh.
func (s *scanner) value(sh *shape, depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	s.skipSpace()
	if s.pos >= len(s.body) {
		return errSyntax
	}
	switch s.body[s.pos] {
	case '{':
		return s.object(sh, depth)
	case '[':
		return s.array(sh, depth)
	case '"':
		mode := textNone
		if sh.kind == shapeFree || sh.kind == shapeRaw {
			mode = textMulti
		}
		_, err := s.str(mode, false)
		return err
	}
	// A number, true, false or null: the decoder checks which.
	start := s.pos
	for s.pos < len(s.body) {
		c := s.body[s.pos]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '{' || c == '[' || c == ':' {
			return errSyntax
		}
		s.pos++
	}
	if s.pos == start {
		return errSyntax
	}
	if sh.kind == shapeRaw {
		return s.number(s.body[start:s.pos])
	}
	return nil
}

// Bounds of the numbers of JSON stored as given.
const (
	maxExponent = 308
	maxFraction = 1000
)

// number checks a number of JSON stored as given (see checkJSON); lit is
// the literal's text, true, false and null included, which pass.
func (s *scanner) number(lit []byte) error {
	if len(lit) == 0 || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) {
		return nil
	}
	i := 0
	if lit[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(lit) && '0' <= lit[i] && lit[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return errSyntax
	}
	frac := 0
	if i < len(lit) && lit[i] == '.' {
		i++
		if frac = digits(); frac == 0 {
			return errSyntax
		}
	}
	exp := 0
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		neg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			neg = lit[i] == '-'
			i++
		}
		start := i
		if digits() == 0 {
			return errSyntax
		}
		for _, c := range lit[start:i] {
			exp = exp*10 + int(c-'0')
			if exp > maxExponent {
				break
			}
		}
		if neg {
			exp = -exp
		}
	}
	if i != len(lit) {
		return errSyntax
	}
	if exp > maxExponent || exp < -maxExponent || frac > maxFraction {
		p := s.pathString()
		msg := fmt.Sprintf("%s must be a number with an exponent from -%d to %d and at most %d digits after the point", p, maxExponent, maxExponent, maxFraction)
		return &apiError{kind: kindValidation, detail: msg, fields: []FieldError{{Field: p, Message: msg}}}
	}
	return nil
}

func (s *scanner) array(sh *shape, depth int) error {
	elem := scalarShape
	switch sh.kind {
	case shapeList:
		elem = sh.elem
	case shapeFree, shapeRaw:
		elem = sh
	}
	s.pos++ // [
	s.skipSpace()
	if s.pos < len(s.body) && s.body[s.pos] == ']' {
		s.pos++
		return nil
	}
	s.path = append(s.path, segment{})
	for i := 0; ; i++ {
		s.path[len(s.path)-1] = segment{index: i}
		if err := s.value(elem, depth+1); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.body) {
			return errSyntax
		}
		switch s.body[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.path = s.path[:len(s.path)-1]
			return nil
		default:
			return errSyntax
		}
	}
}

// smallObject is the number of keys up to which duplicates are found by
// comparing with each earlier key; larger objects use a map.
const smallObject = 16

func (s *scanner) object(sh *shape, depth int) error {
	s.pos++ // {
	s.skipSpace()
	if s.pos < len(s.body) && s.body[s.pos] == '}' {
		s.pos++
		return nil
	}
	keyMode := textNone
	if sh.kind == shapeFree || sh.kind == shapeRaw {
		keyMode = textLine
	}
	var small [smallObject][]byte
	var seen map[string]bool
	n := 0
	s.path = append(s.path, segment{})
	for {
		s.skipSpace()
		if s.pos >= len(s.body) || s.body[s.pos] != '"' {
			return errSyntax
		}
		key, err := s.str(keyMode, true)
		if err != nil {
			return err
		}
		s.path[len(s.path)-1] = segment{key: key}
		// A duplicate?
		dup := false
		if n < smallObject {
			for _, k := range small[:n] {
				if string(k) == string(key) {
					dup = true
					break
				}
			}
			small[n] = key
		} else {
			if seen == nil {
				seen = make(map[string]bool, 2*smallObject)
				for _, k := range small {
					seen[string(k)] = true
				}
			}
			dup = seen[string(key)]
			seen[string(key)] = true
		}
		n++
		if dup {
			p := s.pathString()
			return malformed(p, "the key %s is given twice; give each key once", p)
		}
		// A field of the request?
		elem := scalarShape
		switch sh.kind {
		case shapeStruct:
			f, ok := sh.fields[string(key)]
			if !ok {
				return s.unknownKey(sh, key)
			}
			elem = f
		case shapeMap:
			elem = sh.elem
		case shapeFree, shapeRaw:
			elem = sh
		}
		s.skipSpace()
		if s.pos >= len(s.body) || s.body[s.pos] != ':' {
			return errSyntax
		}
		s.pos++
		if err := s.value(elem, depth+1); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.body) {
			return errSyntax
		}
		switch s.body[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.path = s.path[:len(s.path)-1]
			return nil
		default:
			return errSyntax
		}
	}
}

// unknownKey is the error for a key no field of sh has: field names are
// case-sensitive, which the error says when only case differs.
func (s *scanner) unknownKey(sh *shape, key []byte) error {
	p := s.pathString()
	for name := range sh.fields {
		if strings.EqualFold(name, string(key)) {
			return malformed(p, "unknown field %q: field names are case-sensitive; did you mean %q?", printable(string(key)), name)
		}
	}
	return malformed(p, "unknown field %q", printable(string(key)))
}

// textMode is how the text rule applies to a string.
type textMode uint8

const (
	textNone  textMode = iota // encoding only: the validator's tags apply the rule
	textLine                  // one line (free-form keys)
	textMulti                 // several lines (free-form values)
)

// str reads a string at s.pos (its opening quote). It refuses invalid
// UTF-8, NUL, raw controls and lone surrogates, and, by mode, what the text
// rule refuses. With wantKey it returns the string's content, unescaped:
// a slice of the body when it has no escapes.
func (s *scanner) str(mode textMode, wantKey bool) ([]byte, error) {
	s.pos++ // "
	start := s.pos
	escaped := false
	for s.pos < len(s.body) {
		c := s.body[s.pos]
		switch {
		case c == '"':
			end := s.pos
			s.pos++
			if !wantKey {
				return nil, nil
			}
			if !escaped {
				return s.body[start:end:end], nil
			}
			return s.unescape(start, end), nil
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.body) {
				return nil, errSyntax
			}
			e := s.body[s.pos+1]
			if e != 'u' {
				if !strings.ContainsRune(`"\/bfnrt`, rune(e)) {
					return nil, errSyntax
				}
				s.pos += 2
				if mode != textNone {
					r := rune(e)
					switch e {
					case 'b':
						r = '\b'
					case 'f':
						r = '\f'
					case 'n':
						r = '\n'
					case 'r':
						r = '\r'
					case 't':
						r = '\t'
					}
					if unsafeRune(r, mode == textMulti) {
						return nil, s.textError(mode)
					}
				}
				continue
			}
			r, ok := s.hex4(s.pos + 2)
			if !ok {
				return nil, errSyntax
			}
			s.pos += 6
			switch {
			case r == 0:
				return nil, s.encodingError(wantKey, "holds NUL (\\u0000)")
			case utf16.IsSurrogate(r):
				r2, ok := rune(0), false
				if r < 0xdc00 && s.pos+1 < len(s.body) && s.body[s.pos] == '\\' && s.body[s.pos+1] == 'u' {
					r2, ok = s.hex4(s.pos + 2)
				}
				if !ok || r2 < 0xdc00 || r2 > 0xdfff {
					return nil, s.encodingError(wantKey, "holds a lone UTF-16 surrogate escape, which is no character")
				}
				s.pos += 6
				r = utf16.DecodeRune(r, r2)
			}
			if mode != textNone && unsafeRune(r, mode == textMulti) {
				return nil, s.textError(mode)
			}
		case c < 0x20:
			if c == 0 {
				return nil, s.encodingError(wantKey, "holds a NUL byte")
			}
			return nil, s.encodingError(wantKey, "holds a raw control character, which JSON does not allow in a string")
		case c < utf8.RuneSelf:
			if c == 0x7f && mode != textNone {
				return nil, s.textError(mode)
			}
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.body[s.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, s.encodingError(wantKey, "is not valid UTF-8")
			}
			if mode != textNone && unsafeRune(r, mode == textMulti) {
				return nil, s.textError(mode)
			}
			s.pos += size
		}
	}
	return nil, errSyntax
}

// hex4 reads the four hex digits of a \u escape at i.
func (s *scanner) hex4(i int) (rune, bool) {
	if i+4 > len(s.body) {
		return 0, false
	}
	var r rune
	for _, c := range s.body[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape returns the content of the string body[start:end], which has
// escapes and was checked by str.
func (s *scanner) unescape(start, end int) []byte {
	var v string
	if err := json.Unmarshal(s.body[start-1:end+1], &v); err != nil {
		return append([]byte(nil), s.body[start:end]...) // cannot happen: str checked it
	}
	return []byte(v)
}

// encodingError is a string's invalid encoding: 400, naming the value's
// path, or for a key the object that holds it.
func (s *scanner) encodingError(key bool, what string) error {
	p := s.pathString()
	if key {
		if len(s.path) > 0 {
			s.path = s.path[:len(s.path)-1]
		}
		p = s.pathString()
		if p == "" {
			return malformed("", "a key of the body %s", what)
		}
		return malformed(p, "a key of %s %s", p, what)
	}
	return malformed(p, "%s %s", p, what)
}

// textError is free-form text the text rule refuses: 422, naming its
// path.
func (s *scanner) textError(mode textMode) error {
	if mode == textLine { // a key: name the object that holds it
		if len(s.path) > 0 {
			s.path = s.path[:len(s.path)-1]
		}
		p := s.pathString()
		msg := "the keys of " + p + " must be one line of text, without control, bidirectional-override or invisible format characters"
		return &apiError{kind: kindValidation, detail: msg, fields: []FieldError{{Field: p, Message: msg}}}
	}
	p := s.pathString()
	msg := textRuleMessage(p, "text")
	return &apiError{kind: kindValidation, detail: msg, fields: []FieldError{{Field: p, Message: msg}}}
}
