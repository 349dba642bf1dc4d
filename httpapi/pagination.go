package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
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

// idPage reads ?limit= and ?after= of a list the exchange keeps in id order
// (organizations, an organization's members): the page to ask it for. The
// exchange serves at most exchange.MaxLimit items a page, so a larger limit
// gets pages of that size, each with its next cursor as usual.
func idPage(r *http.Request, kind string) (exchange.Page, error) {
	limit, after, err := pageQuery(r, kind)
	if err != nil {
		return exchange.Page{}, err
	}
	p := exchange.Page{Limit: min(limit, exchange.MaxLimit)}
	if after != "" {
		id, err := uuid.Parse(after)
		if err != nil {
			return exchange.Page{}, malformed("after", "after is not a cursor of this list; pass the next value of the previous page")
		}
		p.After = id
	}
	return p, nil
}

// idCursor is the cursor of the page after next, "" when there is none.
func idCursor(kind string, next uuid.UUID) string {
	if next == uuid.Nil {
		return ""
	}
	return cursor(kind, next.String())
}
