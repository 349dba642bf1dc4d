package journal

import (
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Readable account names. An account is named after its owner, then what
// it is for:
//
//	members:Ana Pérez (3f2a):Barrio Norte      a member's account in a time bank
//	orgs:Barrio Norte:pool                     the time bank's community pool
//	orgs:Red Mutual:fund:external              an account with a name of its own
//
// Members are told apart by the start of their id in parentheses, at least
// four hex digits and as many more as it takes to differ from every other
// member of the same name; organizations get one only when another shares
// their name. Under the owner comes the account's name (for a pool, a fund
// or an external account, its kind), then, when the owner has several
// accounts of that name, the unit, and when that is not enough either, the
// start of the account's id. The names are computed from the whole
// database, not from what an export covers, so the same account has the
// same name in every export and statement; a name changes only when its
// owner's name does (after an erasure, say).
//
// hledger reads an account name up to two spaces or a tab, splits it at
// ':', and takes a name in parentheses or brackets for a virtual posting:
// so every part is one line with single spaces, ':' becomes '-', ';'
// becomes ',' (it starts comments), and no name starts with '(' or '['.

// Querier is what AccountNames reads through: a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const (
	// The accounts asked for and every other account of their owners.
	selectNamedAccounts = `
SELECT id, owner, unit, kind, name FROM accounts
WHERE $1::UUID[] IS NULL OR owner IN (SELECT owner FROM accounts WHERE id = ANY($1))
ORDER BY id`
	// The members and organizations that own them, with every other of the
	// same name.
	selectNamedMembers = `
SELECT id, name FROM members WHERE name IN (SELECT name FROM members WHERE id = ANY($1)) ORDER BY id`
	selectNamedOrgs = `
SELECT id, name FROM orgs WHERE name IN (SELECT name FROM orgs WHERE id = ANY($1)) ORDER BY id`
)

// AccountNames returns the readable name of each account in ids (see
// above), unique among all accounts; with ids nil, of every account. An id
// that is not an account has no entry.
func AccountNames(ctx context.Context, q Querier, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	rows, err := q.Query(ctx, selectNamedAccounts, ids)
	if err != nil {
		return nil, err
	}
	accts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (account, error) {
		var a account
		err := r.Scan(&a.id, &a.owner, &a.unit, &a.kind, &a.name)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	var memberIDs, orgIDs []uuid.UUID
	for _, a := range accts {
		switch kind, id, ok := parseOwner(a.owner); {
		case ok && kind == "member":
			memberIDs = append(memberIDs, id)
		case ok && kind == "org":
			orgIDs = append(orgIDs, id)
		}
	}
	members, err := namesOf(ctx, q, selectNamedMembers, memberIDs)
	if err != nil {
		return nil, err
	}
	orgs, err := namesOf(ctx, q, selectNamedOrgs, orgIDs)
	if err != nil {
		return nil, err
	}
	all := nameAccounts(accts, members, orgs)
	if ids == nil {
		return all, nil
	}
	out := make(map[uuid.UUID]string, len(ids))
	for _, id := range ids {
		if n, ok := all[id]; ok {
			out[id] = n
		}
	}
	return out, nil
}

// namesOf reads the id and name of the members or organizations q selects.
func namesOf(ctx context.Context, q Querier, sql string, ids []uuid.UUID) ([]holder, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, sql, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (holder, error) {
		var h holder
		err := r.Scan(&h.id, &h.name)
		return h, err
	})
}

// holder is a member or an organization, by id and name.
type holder struct {
	id   uuid.UUID
	name string
}

// nameAccounts names accts, which hold every account of each of their
// owners, given the owners with every other member or organization of the
// same names.
func nameAccounts(accts []account, members, orgs []holder) map[uuid.UUID]string {
	memberLabel := labels("members", members, true)
	orgLabel := labels("orgs", orgs, false)
	ownerLabel := func(owner string) string {
		kind, id, ok := parseOwner(owner)
		switch {
		case ok && kind == "member" && memberLabel[id] != "":
			return memberLabel[id]
		case ok && kind == "org" && orgLabel[id] != "":
			return orgLabel[id]
		case owner == "":
			return "unowned"
		}
		return "other:" + part(owner)
	}
	// The leaf of each account, then whatever it takes to tell apart the
	// accounts of one owner that share it.
	leaf := make(map[uuid.UUID]string, len(accts))
	byOwner := map[string][]account{}
	for _, a := range accts {
		byOwner[a.owner] = append(byOwner[a.owner], a)
		leaf[a.id] = leafOf(a)
	}
	names := make(map[uuid.UUID]string, len(accts))
	for owner, as := range byOwner {
		prefix := ownerLabel(owner)
		same := map[string][]account{}
		for _, a := range as {
			same[leaf[a.id]] = append(same[leaf[a.id]], a)
		}
		for l, group := range same {
			units := map[string]int{}
			for _, a := range group {
				units[a.unit]++
			}
			ids := make([]uuid.UUID, len(group))
			for i, a := range group {
				ids[i] = a.id
			}
			short := shortIDs(ids)
			for _, a := range group {
				n := l
				if len(group) > 1 {
					n += " " + part(a.unit)
					if units[a.unit] > 1 {
						n += " (" + short[a.id] + ")"
					}
				}
				names[a.id] = prefix + ":" + n
			}
		}
	}
	// Two owners whose names differ only in what a name may not hold
	// ("Ana:Pérez" and "Ana-Pérez") could still meet: the full id settles it.
	seen := map[string][]uuid.UUID{}
	for id, n := range names {
		seen[n] = append(seen[n], id)
	}
	for n, ids := range seen {
		if len(ids) > 1 {
			for _, id := range ids {
				names[id] = n + ":" + id.String()
			}
		}
	}
	return names
}

// leafOf is what an account is for, under its owner: its name, or its kind
// for the accounts an organization has by kind (a pool, a fund, an external
// account) and for an account without a name.
func leafOf(a account) string {
	kind, _, _ := parseOwner(a.owner)
	if kind == "org" && (a.kind == "pool" || a.kind == "fund" || a.kind == "external") {
		return a.kind
	}
	if n := part(a.name); n != "" {
		return n
	}
	return a.kind
}

// labels names each holder "<root>:<name>", with the start of its id in
// parentheses when always is set or another holder shares the name.
func labels(root string, hs []holder, always bool) map[uuid.UUID]string {
	byName := map[string][]uuid.UUID{}
	for _, h := range hs {
		n := part(h.name)
		byName[n] = append(byName[n], h.id)
	}
	out := make(map[uuid.UUID]string, len(hs))
	for n, ids := range byName {
		if n == "" {
			n = "unnamed"
		}
		if len(ids) == 1 && !always {
			out[ids[0]] = root + ":" + n
			continue
		}
		short := shortIDs(ids)
		for _, id := range ids {
			out[id] = root + ":" + n + " (" + short[id] + ")"
		}
	}
	return out
}

// shortIDs gives each id the shortest start of its hex digits, at least
// four, that no other of ids shares: one more digit than it shares with its
// nearest neighbours in sorted order.
func shortIDs(ids []uuid.UUID) map[uuid.UUID]string {
	hex := make([]string, len(ids))
	for i, id := range ids {
		hex[i] = strings.ReplaceAll(id.String(), "-", "")
	}
	slices.Sort(hex)
	common := func(a, b string) int {
		n := 0
		for n < len(a) && n < len(b) && a[n] == b[n] {
			n++
		}
		return n
	}
	out := make(map[uuid.UUID]string, len(ids))
	for i, h := range hex {
		n := 4
		if i > 0 {
			n = max(n, common(h, hex[i-1])+1)
		}
		if i+1 < len(hex) {
			n = max(n, common(h, hex[i+1])+1)
		}
		out[uuid.MustParse(h)] = h[:min(n, len(h))]
	}
	return out
}

// part makes text one part of an hledger account name: one line, single
// spaces, no ':' (which would split it) or ';' (which starts a comment),
// and not starting with '(' or '[' (which would make a posting virtual).
func part(s string) string {
	s = oneLine(s)
	s = strings.NewReplacer(":", "-", ";", ",").Replace(s)
	if strings.HasPrefix(s, "(") || strings.HasPrefix(s, "[") {
		s = "-" + s[1:]
	}
	return s
}

// parseOwner splits "member:<uuid>" or "org:<uuid>" (the exchange's
// spelling of owners).
func parseOwner(owner string) (kind string, id uuid.UUID, ok bool) {
	kind, rest, found := strings.Cut(owner, ":")
	if !found || (kind != "member" && kind != "org") {
		return "", uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	if err != nil || id.String() != rest {
		return "", uuid.Nil, false
	}
	return kind, id, true
}
