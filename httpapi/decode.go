package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// decode reads a request's JSON body into v and validates it: unknown
// fields, keys that match a field only when case is ignored, a key given
// twice in one object, malformed JSON, a string that is not valid UTF-8 or
// holds NUL, and a body that is not one JSON object are 400 (see
// checkJSON); a body over the size limit is 413; a field of the wrong JSON
// type, free-form text (metadata) the text rule refuses, and every failed
// validation rule are 422, each field named by its JSON path. An empty
// body is 400 unless emptyOK, when v keeps its zero value (and is still
// validated).
func (a *api) decode(r *http.Request, v any, emptyOK bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apiError{kind: kindMediaType, detail: fmt.Sprintf("send the body as application/json, not %q", ct)}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return malformed("", "the request body could not be read whole")
	}
	return a.decodeBody(body, v, emptyOK)
}

// decodeBody is decode's work on a body read whole.
func (a *api) decodeBody(body []byte, v any, emptyOK bool) error {
	// The checks encoding/json does not make come first, on the raw bytes:
	// after decoding, a duplicate key or invalid UTF-8 is gone without a
	// trace.
	checked := a.shapes.checkJSON(body, reflect.TypeOf(v))
	if checked != nil && checked != errSyntax {
		return checked
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case errors.Is(err, io.EOF) && emptyOK:
	case err != nil:
		return decodeError(err)
	default:
		// One JSON value and nothing after it.
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return malformed("", "the body must be a single JSON object with nothing after it")
		}
	}
	if checked == errSyntax {
		// checkJSON found no JSON where the decoder did: never let a body
		// through that was not checked whole.
		return malformed("", "malformed JSON body")
	}
	if fv, ok := v.(fastValidator); ok && fv.validFast() {
		return nil
	}
	return a.check(v)
}

// fastValidator is a request type that also checks its validate tags by
// hand: validFast reports whether every rule holds, true only when the
// validator would say so too (TestFastValidatorsAgree, FuzzDecode). When
// it says false, the validator runs and its field errors are the answer,
// so a refusal reads the same either way. The request types of the busiest
// routes have one: the validator's reflection walk was a tenth of the
// server's CPU per transfer.
type fastValidator interface {
	validFast() bool
}

// isUUIDText reports whether s passes the validator's uuid rule: 36
// characters, hex digits of either case in groups of 8-4-4-4-12 joined by
// dashes.
func isUUIDText(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// decodeError translates encoding/json's errors.
func decodeError(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return malformed("", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("", "the JSON body ends before it is complete")
	case errors.As(err, &syn):
		return malformed("", "malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return malformed("", "the body must be a JSON object")
		}
		field := typ.Field
		return &apiError{kind: kindValidation, detail: fmt.Sprintf("%s must be %s", field, jsonKind(typ.Type)),
			fields: []FieldError{{Field: field, Message: fmt.Sprintf("%s must be %s", leaf(field), jsonKind(typ.Type))}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return malformed(name, "unknown field %q", name)
	}
	return malformed("", "malformed JSON body")
}

// jsonKind names the JSON type a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

func leaf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// check validates v's `validate` tags and turns failures into one 422
// problem listing every field at fault.
func (a *api) check(v any) error {
	err := a.validate.Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("validating a request: %w", err)
	}
	fields := make([]FieldError, 0, len(verrs))
	for _, fe := range verrs {
		path := fe.Namespace()
		if _, rest, ok := strings.Cut(path, "."); ok {
			path = rest // drop the Go name of the request type
		}
		fields = append(fields, FieldError{Field: path, Message: ruleMessage(fe)})
	}
	detail := fields[0].Message
	if len(fields) > 1 {
		detail = fmt.Sprintf("%d fields are invalid; see errors", len(fields))
	}
	return &apiError{kind: kindValidation, detail: detail, fields: fields}
}

// ruleMessage says in words which rule a field broke.
func ruleMessage(fe validator.FieldError) string {
	name := fe.Field()
	kind := fe.Kind()
	switch fe.Tag() {
	case "required":
		return name + " is required"
	case "uuid":
		return name + " must be a UUID"
	case "decimal":
		return name + ` must be a decimal string, such as "2.50"`
	case "rfc3339":
		return name + ` must be an RFC 3339 time, such as "2026-03-01T09:00:00Z"`
	case "oneof":
		return name + " must be one of: " + strings.Join(strings.Fields(fe.Param()), ", ")
	case "max", "min":
		bound := "at most"
		if fe.Tag() == "min" {
			bound = "at least"
		}
		switch kind {
		case reflect.String:
			return fmt.Sprintf("%s must be %s %s characters long", name, bound, fe.Param())
		case reflect.Slice, reflect.Map:
			return fmt.Sprintf("%s must have %s %s items", name, bound, fe.Param())
		}
		return fmt.Sprintf("%s must be %s %s", name, bound, fe.Param())
	case "line", "text":
		return textRuleMessage(name, fe.Tag())
	case "hhmm":
		return name + ` must be a time of day as "HH:MM", from "00:00" to "24:00"`
	case "gt", "lt", "lte", "gte":
		return fmt.Sprintf("%s must be %s %s", name, map[string]string{"gt": "more than", "lt": "less than", "lte": "at most", "gte": "at least"}[fe.Tag()], fe.Param())
	case "excluded_with":
		return fmt.Sprintf("%s must not be given together with %s", name, strings.ToLower(fe.Param()))
	}
	return fmt.Sprintf("%s is not valid (%s)", name, fe.Tag())
}

// newValidator returns the validator of request bodies: fields are named by
// their JSON names, and five rules are added: decimal (a JSON string
// holding a plain decimal number), rfc3339 (an RFC 3339 time), line and
// text (the text rule of text.go, for one-line and multi-line text), and
// hhmm (a time of day, "09:30", up to "24:00").
func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		if name == "" {
			return f.Name
		}
		return name
	})
	// A decimalString is validated as its raw JSON text, "" when absent.
	v.RegisterCustomTypeFunc(func(f reflect.Value) any {
		d := f.Interface().(decimalString)
		return string(d.raw)
	}, decimalString{})
	v.RegisterValidation("decimal", func(fl validator.FieldLevel) bool {
		_, ok := decimalText(fl.Field().String())
		return ok
	})
	// line and text are the text rule (text.go): one line, or several.
	v.RegisterValidation("hhmm", func(fl validator.FieldLevel) bool { return hhmm.MatchString(fl.Field().String()) })
	v.RegisterValidation("line", func(fl validator.FieldLevel) bool {
		return safeText(fl.Field().String(), false)
	})
	v.RegisterValidation("text", func(fl validator.FieldLevel) bool {
		return safeText(fl.Field().String(), true)
	})
	v.RegisterValidation("rfc3339", func(fl validator.FieldLevel) bool {
		_, err := time.Parse(time.RFC3339Nano, fl.Field().String())
		return err == nil
	})
	return v
}

// decimalString is an amount in a request body. Amounts are JSON strings
// ("2.50"), never numbers, which JSON tools read as floats: a number, or any
// other JSON value, is kept as given and refused by the decimal rule with a
// field error, rather than failing the whole decode.
type decimalString struct {
	raw []byte // the JSON text; nil when absent or null
}

func (d *decimalString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		d.raw = nil
		return nil
	}
	d.raw = bytes.Clone(b)
	return nil
}

// set reports whether the amount was given.
func (d decimalString) set() bool { return d.raw != nil }

// value returns the amount; call it only after validation.
func (d decimalString) value() decimal.Decimal {
	v, _ := parseDecimalJSON(string(d.raw))
	return v
}

// ptr returns the amount, or nil when it was not given.
func (d decimalString) ptr() *decimal.Decimal {
	if !d.set() {
		return nil
	}
	v := d.value()
	return &v
}

// plainDecimal reports whether s is what an amount may look like: an
// optional minus sign, 1 to 40 digits, and optionally a point and 1 to 40
// more digits. No exponents, no spaces, no plus sign. (Written out rather
// than as a regular expression, which cost more than the rest of an
// amount's parsing; FuzzParseDecimal holds it to the expression
// ^-?[0-9]{1,40}(\.[0-9]{1,40})?$.)
func plainDecimal(s string) bool {
	s, _ = strings.CutPrefix(s, "-")
	whole, frac, point := strings.Cut(s, ".")
	return digits40(whole) && (!point || digits40(frac))
}

// digits40 reports whether s is 1 to 40 ASCII digits.
func digits40(s string) bool {
	if len(s) < 1 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decimalText returns the amount a JSON string holds, and whether it is
// one (a plain decimal): the validator's decimal rule, without the
// parsing into a decimal that only a valid body's handler needs.
func decimalText(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// The usual amount has no escapes: its text between the quotes is the
	// string, as strconv.Unquote would give it.
	s := raw[1 : len(raw)-1]
	if raw[len(raw)-1] != '"' || !plainDecimal(s) {
		var err error
		if s, err = strconv.Unquote(raw); err != nil || !plainDecimal(s) {
			return "", false
		}
	}
	return s, true
}

func parseDecimalJSON(raw string) (decimal.Decimal, bool) {
	s, ok := decimalText(raw)
	if !ok {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(s)
	return d, err == nil
}

// parseID parses a path's {id}, 404 when it is not a UUID: no resource has
// such an id.
func parseID(r *http.Request, name string, notFound func(string) error) (uuid.UUID, error) {
	raw := r.PathValue(name)
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, notFound(raw)
	}
	return id, nil
}

// writeJSON writes a success response.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n')) // a client gone away is no error of the request's
	return nil
}
