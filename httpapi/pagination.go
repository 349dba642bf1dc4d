package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// Page sizes of lists.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// list is the body of every list response: a page of items and the cursor
// of the next page, null on the last.
type list[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

func newList[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	l := list[T]{Items: items}
	if next != "" {
		l.Next = &next
	}
	return l
}

// pageQuery reads ?limit= and ?after= of a list of the given kind: the
// limit (1 to maxLimit, defaultLimit when absent) and the position the
// cursor stands for ("" for the first page). A cursor is opaque to clients:
// base64url of the kind and the position, so that one list's cursor is
// refused by another.
func pageQuery(r *http.Request, kind string) (limit int, after string, err error) {
	q := r.URL.Query()
	limit = defaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return 0, "", malformed("limit", "limit must be an integer from 1 to %d", maxLimit)
		}
		limit = n
	}
	if s := q.Get("after"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		k, pos, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok || k != kind || pos == "" {
			return 0, "", malformed("after", "after is not a cursor of this list; pass the next value of the previous page")
		}
		after = pos
	}
	return limit, after, nil
}

func cursor(kind, pos string) string {
	if pos == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + pos))
}
