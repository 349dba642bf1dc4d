// Package journal exports the ledger's books: the posted transfers, in the
// order they took effect, as a plain-text accounting journal that hledger and
// ledger-cli read, or as CSV, one row per account movement. An export covers
// everything or a Scope: a period, with the opening balances of its accounts
// as balance assertions, and/or one owner's accounts (an organization's
// books) with the accounts they dealt with. The whole export is read in one
// snapshot, so its transactions balance and its balances are the ledger's at
// one instant.
//
// It reads the ledger's tables directly, which only package ledger should
// do; it lives here until the ledger lists its journal itself.
package journal

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Scope selects what an export covers. The zero Scope is everything.
type Scope struct {
	// From and To, when not zero, bound the period [From, To): the
	// transfers posted at or after From and before To. With From, the
	// journal opens with each account's balance just before From, so that
	// the balances of a period's journal are the ledger's just before To.
	From, To time.Time
	// Owner, when not empty, limits the export to the accounts of that
	// owner (such as "org:<id>") and the postings that touch them: each
	// such posting's other side appears as a counterparty account, whose
	// balance in the journal is only its dealings with the owner.
	Owner string
}

// Exporter writes the ledger's journal. It is safe for concurrent use.
type Exporter struct {
	db  *pgtx.DB
	now func() time.Time
}

// New returns an Exporter that reads through db. now stamps the export's
// header; nil means time.Now.
func New(db *pgtx.DB, now func() time.Time) *Exporter {
	if now == nil {
		now = time.Now
	}
	return &Exporter{db: db, now: now}
}

type account struct {
	id                      uuid.UUID
	unit, owner, kind, name string
	counterparty            bool // not in the scope's owner's books: only its dealings with them
}

type posting struct {
	From   uuid.UUID `json:"from"`
	To     uuid.UUID `json:"to"`
	Amount string    `json:"amount"`
	Unit   string    `json:"unit"`
}

type transaction struct {
	id         uuid.UUID
	postedAt   time.Time
	memo       string
	postings   []posting
	obligation string // the obligation the transfer pays, from its metadata
}

// obligation is an obligation open at the export, off the ledger.
type obligation struct {
	id                  uuid.UUID
	debtor, creditor    string // the organizations' names
	unit                string
	amount, outstanding decimal.Decimal
	dueDate             time.Time
	reference, status   string
}

// clearingRun is a clearing run, for the record.
type clearingRun struct {
	id                 uuid.UUID
	at                 time.Time
	group, unit        string
	totalDebt, cleared decimal.Decimal
	obligations        int64
}

// book is what the export knows before the first transaction.
type book struct {
	scope    Scope
	scales   map[string]int32
	units    []string // in code order
	accounts map[uuid.UUID]account
	order    []uuid.UUID // accounts in creation order
	// opening is each account's balance just before scope.From, for the
	// accounts of the scope that had one other than zero, in order.
	opening []balance
	// ranges bounds the period on each of the owner's accounts: the seqs
	// of its last entry before From and before To.
	ranges map[uuid.UUID][2]int64
	// names are the accounts' hledger names (AccountNames).
	names map[uuid.UUID]string
}

// name is an account's hledger name.
func (b *book) name(a account) string { return b.names[a.id] }

type balance struct {
	id  uuid.UUID
	amt decimal.Decimal
}

// inScope reports whether a posting belongs to the export: with an owner,
// only postings touching one of the owner's accounts do.
func (b *book) inScope(p posting) bool {
	if b.scope.Owner == "" {
		return true
	}
	from, to := b.accounts[p.From], b.accounts[p.To]
	return (from.id != uuid.Nil && !from.counterparty) || (to.id != uuid.Nil && !to.counterparty)
}

func (b *book) amount(p posting) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(p.Amount)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("journal: stored amount %q: %w", p.Amount, err)
	}
	return d, nil
}

func (b *book) format(d decimal.Decimal, unit string) string {
	return d.StringFixed(b.scales[unit])
}

const (
	selectUnits    = `SELECT code, scale FROM units ORDER BY code`
	selectAccounts = `SELECT id, unit, owner, kind, name FROM accounts ORDER BY created_at, id`
	// The period's bounds are $1 and $2 (NULL for none); a transfer's
	// created_at is the posted_at of its entries.
	selectTransfers = `
SELECT id, created_at, memo, postings, COALESCE(metadata ->> 'obligation', '') FROM transfers
WHERE state = 'posted' AND resolved_at IS NULL
  AND ($1::TIMESTAMPTZ IS NULL OR created_at >= $1) AND ($2::TIMESTAMPTZ IS NULL OR created_at < $2)
ORDER BY created_at, id`

	// An owner's accounts.
	selectOwnerAccounts = `SELECT id, unit, owner, kind, name FROM accounts WHERE owner = $1 ORDER BY created_at, id`

	// ownerTransfers are the transfers with an entry on the owner's
	// accounts $1 between the seqs $2 (exclusive) and $3 (inclusive) of
	// each: the period's, found through the journal's primary key.
	ownerTransfers = `
SELECT DISTINCT e.transfer_id FROM unnest($1::UUID[], $2::BIGINT[], $3::BIGINT[]) AS r(account_id, lo, hi)
JOIN entries e ON e.account_id = r.account_id AND e.seq > r.lo AND e.seq <= r.hi`

	selectOwnerTransfers = `
SELECT id, created_at, memo, postings, COALESCE(metadata ->> 'obligation', '') FROM transfers WHERE id IN (` + ownerTransfers + `)
ORDER BY created_at, id`

	// The other sides of the postings of those transfers that touch the
	// owner's accounts.
	selectCounterparties = `
SELECT DISTINCT a.id, a.unit, a.owner, a.kind, a.name, a.created_at
FROM transfers t
CROSS JOIN LATERAL jsonb_array_elements(t.postings) AS p(v)
JOIN accounts a ON a.id = (p.v->>'from')::UUID OR a.id = (p.v->>'to')::UUID
WHERE t.id IN (` + ownerTransfers + `)
  AND ((p.v->>'from')::UUID = ANY($1) OR (p.v->>'to')::UUID = ANY($1))
  AND a.owner <> $4
ORDER BY a.created_at, a.id`

	// The obligations still open and the clearing runs, all of them or,
	// for an owner's books ($1, "org:<id>"), those of that organization.
	selectObligations = `
SELECT o.id, d.name, c.name, o.unit, o.amount, o.outstanding, o.due_date, o.reference, o.status
FROM obligations o JOIN orgs d ON d.id = o.debtor_org JOIN orgs c ON c.id = o.creditor_org
WHERE o.status IN ('pending', 'confirmed')
  AND ($1::TEXT = '' OR 'org:' || o.debtor_org::TEXT = $1 OR 'org:' || o.creditor_org::TEXT = $1)
ORDER BY o.unit, o.due_date, o.id`
	selectClearingRuns = `
SELECT r.id, r.created_at, g.name, r.unit, r.total_debt, r.cleared, r.obligations
FROM clearing_runs r JOIN orgs g ON g.id = r.group_org
WHERE $1::TEXT = '' OR EXISTS (
    SELECT 1 FROM obligation_settlements x JOIN obligations o ON o.id = x.obligation_id
    WHERE x.clearing_run_id = r.id AND ('org:' || o.debtor_org::TEXT = $1 OR 'org:' || o.creditor_org::TEXT = $1))
ORDER BY r.created_at, r.id`
)

// errRetried stops an export whose read transaction would run a second time
// after output was written: the output cannot be taken back.
var errRetried = errors.New("journal: the export's read was interrupted after output began; export again")

// read reads the books in one read-only snapshot: start gets the units,
// accounts and opening balances, then each gets every posted transfer of
// the scope in order.
func (x *Exporter) read(ctx context.Context, scope Scope, start func(*book) error, each func(*book, transaction) error) error {
	return x.readAll(ctx, scope, start, each, nil)
}

// readAll is read, then finish with the open obligations and the clearing
// runs of the scope, in the same snapshot.
func (x *Exporter) readAll(ctx context.Context, scope Scope, start func(*book) error, each func(*book, transaction) error,
	finish func(*book, []obligation, []clearingRun) error) error {
	began := false
	return x.db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, func(tx *pgtx.Tx) error {
		if began {
			return errRetried
		}
		b := &book{scales: make(map[string]int32), accounts: make(map[uuid.UUID]account)}
		rows, err := tx.Query(ctx, selectUnits)
		if err != nil {
			return err
		}
		for rows.Next() {
			var code string
			var scale int32
			if err := rows.Scan(&code, &scale); err != nil {
				rows.Close()
				return err
			}
			b.scales[code] = scale
			b.units = append(b.units, code)
		}
		rows.Close() // the transaction's connection is free only once closed
		if err := rows.Err(); err != nil {
			return err
		}
		b.scope = scope
		if err := readAccounts(ctx, tx, b); err != nil {
			return err
		}
		var ids []uuid.UUID // nil: every account's name
		if scope.Owner != "" {
			ids = b.order
		}
		if b.names, err = AccountNames(ctx, tx, ids); err != nil {
			return err
		}
		began = true
		if err := start(b); err != nil {
			return err
		}
		if scope.Owner == "" {
			rows, err = tx.Query(ctx, selectTransfers, timeOrNil(scope.From), timeOrNil(scope.To))
		} else {
			ids, lo, hi := b.seqRanges()
			rows, err = tx.Query(ctx, selectOwnerTransfers, ids, lo, hi)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t transaction
			var raw []byte
			if err := rows.Scan(&t.id, &t.postedAt, &t.memo, &raw, &t.obligation); err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &t.postings); err != nil {
				return fmt.Errorf("journal: postings of transfer %s: %w", t.id, err)
			}
			if scope.Owner != "" {
				kept := t.postings[:0]
				for _, p := range t.postings {
					if b.inScope(p) {
						kept = append(kept, p)
					}
				}
				t.postings = kept
			}
			if err := each(b, t); err != nil {
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || finish == nil {
			return err
		}
		obls, err := collect(ctx, tx, selectObligations, scope.Owner, func(r pgx.CollectableRow) (o obligation, err error) {
			err = r.Scan(&o.id, &o.debtor, &o.creditor, &o.unit, &o.amount, &o.outstanding, &o.dueDate, &o.reference, &o.status)
			return o, err
		})
		if err != nil {
			return err
		}
		runs, err := collect(ctx, tx, selectClearingRuns, scope.Owner, func(r pgx.CollectableRow) (c clearingRun, err error) {
			err = r.Scan(&c.id, &c.at, &c.group, &c.unit, &c.totalDebt, &c.cleared, &c.obligations)
			return c, err
		})
		if err != nil {
			return err
		}
		return finish(b, obls, runs)
	})
}

// collect runs the query q with arg and scans its rows with scan.
func collect[T any](ctx context.Context, tx *pgtx.Tx, q string, arg any, scan pgx.RowToFunc[T]) ([]T, error) {
	rows, err := tx.Query(ctx, q, arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// readAccounts reads the accounts of the scope into b: every account, or the
// owner's and their counterparties; and, for a period, the opening balances
// and the seqs that bound it on each of the owner's accounts.
func readAccounts(ctx context.Context, tx *pgtx.Tx, b *book) error {
	q, args := selectAccounts, []any{}
	if b.scope.Owner != "" {
		q, args = selectOwnerAccounts, []any{b.scope.Owner}
	}
	if err := scanAccounts(ctx, tx, b, false, q, args...); err != nil {
		return err
	}
	if b.scope.From.IsZero() && b.scope.Owner == "" {
		return nil
	}
	// Each account's balance just before From, and its last seq before From
	// and before To: a binary search of its entries each, all in one round
	// trip (ledger.EntriesBefore).
	ids := slices.Clone(b.order)
	lo, hi := make([]int64, len(ids)), make([]int64, len(ids))
	for i := range hi {
		hi[i] = 1 << 62
	}
	if !b.scope.From.IsZero() {
		var bals []decimal.Decimal
		var err error
		if lo, bals, err = ledger.EntriesBefore(ctx, tx, ids, b.scope.From); err != nil {
			return err
		}
		for i, bal := range bals {
			if !bal.IsZero() {
				b.opening = append(b.opening, balance{ids[i], bal})
			}
		}
	}
	if !b.scope.To.IsZero() && b.scope.Owner != "" {
		var err error
		if hi, _, err = ledger.EntriesBefore(ctx, tx, ids, b.scope.To); err != nil {
			return err
		}
	}
	b.ranges = make(map[uuid.UUID][2]int64, len(ids))
	for i, id := range ids {
		b.ranges[id] = [2]int64{lo[i], hi[i]}
	}
	if b.scope.Owner == "" {
		return nil
	}
	ids, lo, hi = b.seqRanges()
	return scanAccounts(ctx, tx, b, true, selectCounterparties, ids, lo, hi, b.scope.Owner)
}

// scanAccounts adds the accounts q selects to b.
func scanAccounts(ctx context.Context, tx *pgtx.Tx, b *book, counterparty bool, q string, args ...any) error {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a := account{counterparty: counterparty}
		dest := []any{&a.id, &a.unit, &a.owner, &a.kind, &a.name}
		if counterparty {
			dest = append(dest, new(time.Time))
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		b.accounts[a.id] = a
		b.order = append(b.order, a.id)
	}
	return rows.Err()
}

// seqRanges lists the owner's accounts with the seqs that bound the period
// on each, as ownerTransfers takes them.
func (b *book) seqRanges() (ids []uuid.UUID, lo, hi []int64) {
	for _, id := range b.order {
		r, ok := b.ranges[id]
		if !ok || b.accounts[id].counterparty {
			continue
		}
		ids, lo, hi = append(ids, id), append(lo, r[0]), append(hi, r[1])
	}
	return ids, lo, hi
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// WriteHledger writes the journal in hledger's format (which ledger-cli also
// reads): a header with a decimal-mark directive, a commodity directive per
// unit with its scale and an account directive per account, then one
// transaction per posted transfer, dated in UTC, whose description is the
// memo and whose comment tags the transfer's id and instant:
//
//	2026-03-01 * bike repair  ; id:0193…, posted_at:2026-03-01T09:00:00Z
//	    members:Ana Pérez (3f2a):Barrio Norte  -2.00 HOUR
//	    members:Ben Ruiz (0194):Barrio Norte  2.00 HOUR
//
// A transfer that pays an obligation carries its id as a tag
// (obligation:0195…), so that `hledger reg tag:obligation=0195…` lists its
// payments. Obligations themselves are not movements of the ledger: what is
// still owed between organizations (pending or confirmed, with what is
// outstanding) and each clearing run that cancelled some of it close the
// journal as comments, which no balance includes, so that hledger's
// balances stay the ledger's. An organization's books list its own.
//
// Each posting gives two lines, the debit then the credit. Account names are
// AccountNames' (after their owners, unique), and each account directive
// tags the account's id, unit and kind; amounts have their unit's scale, so that hledger's balances
// are the ledger's digit for digit.
//
// For a scope with a period, the journal opens, dated From, with a
// transaction that gives each account its balance just before From, each
// posting with a balance assertion (hledger checks it as it reads); for an
// owner's books, whose balances do not sum to zero, an equity account
// (OpeningAccount) balances it. The balances hledger then reports are the
// ledger's just before To.
func (x *Exporter) WriteHledger(ctx context.Context, w io.Writer, scope Scope) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	err := x.readAll(ctx, scope, func(b *book) error {
		fmt.Fprintf(bw, "; Mutual journal: %s, exported %s.\n", scope.describe(), x.now().UTC().Format(time.RFC3339))
		fmt.Fprintf(bw, "; Accounts are named after their owners (members:NAME (ID START), orgs:NAME), then what they are for;\n; each account directive tags the account's id. Amounts carry each unit's scale.\n\n")
		fmt.Fprintf(bw, "decimal-mark .\n\n")
		for _, code := range b.units {
			// hledger wants a decimal mark in a commodity directive, even
			// for a unit without decimals ("1.").
			one := "1." + strings.Repeat("0", int(b.scales[code]))
			fmt.Fprintf(bw, "commodity %s %s\n", one, Commodity(code))
		}
		if len(b.units) > 0 {
			bw.WriteString("\n")
		}
		for _, id := range b.order {
			a := b.accounts[id]
			role := ""
			if a.counterparty {
				role = ", counterparty:"
			}
			fmt.Fprintf(bw, "account %s  ; id:%s, unit:%s, kind:%s, name:%s%s\n", b.name(a), a.id, a.unit, a.kind, tagValue(a.name), role)
		}
		return b.writeOpening(bw)
	}, func(b *book, t transaction) error {
		if len(t.postings) == 0 {
			return nil
		}
		desc := description(t.memo)
		tags := ""
		if t.obligation != "" {
			tags = ", obligation:" + tagValue(t.obligation)
		}
		fmt.Fprintf(bw, "\n%s * %s  ; id:%s, posted_at:%s%s\n", t.postedAt.UTC().Format("2006-01-02"), desc, t.id, t.postedAt.UTC().Format(time.RFC3339Nano), tags)
		for _, p := range t.postings {
			amt, err := b.amount(p)
			if err != nil {
				return err
			}
			from, ok1 := b.accounts[p.From]
			to, ok2 := b.accounts[p.To]
			if !ok1 || !ok2 {
				return fmt.Errorf("journal: transfer %s names an account that does not exist", t.id)
			}
			sym := Commodity(p.Unit)
			fmt.Fprintf(bw, "    %s  %s %s\n", b.name(from), b.format(amt.Neg(), p.Unit), sym)
			fmt.Fprintf(bw, "    %s  %s %s\n", b.name(to), b.format(amt, p.Unit), sym)
		}
		return nil
	}, func(b *book, obls []obligation, runs []clearingRun) error {
		if len(obls) > 0 {
			bw.WriteString("\n; Obligations open at the export: owed between organizations, off the ledger\n; (in no balance above). Outstanding is what is left after payments and clearings.\n")
			for _, o := range obls {
				fmt.Fprintf(bw, "; obligation:%s  %s owes %s  %s %s outstanding of %s, due %s, invoice %s, %s\n",
					o.id, oneLine(o.debtor), oneLine(o.creditor), b.format(o.outstanding, o.unit), Commodity(o.unit),
					b.format(o.amount, o.unit), o.dueDate.Format("2006-01-02"), oneLine(o.reference), o.status)
			}
		}
		if len(runs) > 0 {
			bw.WriteString("\n; Clearing runs: debts cancelled by multilateral set-off; no value moved.\n")
			for _, c := range runs {
				fmt.Fprintf(bw, "; %s clearing_run:%s  group %s: %s %s cancelled of %s over %d obligations\n",
					c.at.UTC().Format("2006-01-02"), c.id, oneLine(c.group), b.format(c.cleared, c.unit), Commodity(c.unit),
					b.format(c.totalDebt, c.unit), c.obligations)
			}
		}
		return nil
	})
	if err != nil {
		bw.Flush()
		return err
	}
	return bw.Flush()
}

// CSVHeader is the first row of WriteCSV's output.
var CSVHeader = []string{"transfer_id", "posted_at", "account_id", "unit", "amount", "memo"}

// WriteCSV writes the journal as CSV: CSVHeader, then one row per movement
// of an account (two per posting: the debit, negative, then the credit), in
// the order the transfers took effect. Times are RFC 3339 UTC; amounts carry
// their unit's scale. A memo that a spreadsheet would take for a formula
// (starting with =, +, - or @) is prefixed with a single quote.
//
// A scope limits the rows to its period and its owner's postings; CSV has no
// opening balances (ask for the balances at From through the API).
func (x *Exporter) WriteCSV(ctx context.Context, w io.Writer, scope Scope) error {
	cw := csv.NewWriter(w)
	err := x.read(ctx, scope, func(*book) error {
		return cw.Write(CSVHeader)
	}, func(b *book, t transaction) error {
		at := t.postedAt.UTC().Format(time.RFC3339Nano)
		memo := csvText(t.memo)
		for _, p := range t.postings {
			amt, err := b.amount(p)
			if err != nil {
				return err
			}
			if err := cw.Write([]string{t.id.String(), at, p.From.String(), p.Unit, b.format(amt.Neg(), p.Unit), memo}); err != nil {
				return err
			}
			if err := cw.Write([]string{t.id.String(), at, p.To.String(), p.Unit, b.format(amt, p.Unit), memo}); err != nil {
				return err
			}
		}
		return nil
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

// OpeningAccount is the equity account that balances the opening balances
// of an owner's books in a period's journal.
const OpeningAccount = "equity:opening balances"

// describe says in words what a scope covers, for the journal's header.
func (s Scope) describe() string {
	what := "every posted transfer"
	if s.Owner != "" {
		what = "the posted transfers touching the accounts of " + oneLine(s.Owner)
	}
	switch {
	case !s.From.IsZero() && !s.To.IsZero():
		what += fmt.Sprintf(" from %s to before %s", s.From.UTC().Format(time.RFC3339Nano), s.To.UTC().Format(time.RFC3339Nano))
	case !s.From.IsZero():
		what += " from " + s.From.UTC().Format(time.RFC3339Nano)
	case !s.To.IsZero():
		what += " before " + s.To.UTC().Format(time.RFC3339Nano)
	}
	return what
}

// writeOpening writes the opening transaction of a period: each account's
// balance just before From, asserted. The ledger's balances sum to zero in
// every unit, so for the whole ledger the postings balance by themselves; an
// owner's do not, and OpeningAccount takes the rest.
func (b *book) writeOpening(w *bufio.Writer) error {
	if b.scope.From.IsZero() {
		return nil
	}
	if b.scope.Owner != "" {
		fmt.Fprintf(w, "account %s  ; kind:equity\n", OpeningAccount)
	}
	if len(b.opening) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n%s * opening balances  ; posted_at:%s\n", b.scope.From.UTC().Format("2006-01-02"), b.scope.From.UTC().Format(time.RFC3339Nano))
	rest := map[string]decimal.Decimal{}
	for _, o := range b.opening {
		a := b.accounts[o.id]
		amt := b.format(o.amt, a.unit)
		sym := Commodity(a.unit)
		fmt.Fprintf(w, "    %s  %s %s = %s %s\n", b.name(a), amt, sym, amt, sym)
		rest[a.unit] = rest[a.unit].Sub(o.amt)
	}
	for _, unit := range b.units {
		if r, ok := rest[unit]; ok && !r.IsZero() {
			if b.scope.Owner == "" {
				return fmt.Errorf("journal: unit %s's balances sum to %s before %s, not zero", unit, r.Neg(), b.scope.From)
			}
			fmt.Fprintf(w, "    %s  %s %s\n", OpeningAccount, b.format(r, unit), Commodity(unit))
		}
	}
	return nil
}

// Commodity is a unit's commodity symbol in hledger: the code itself when it
// is letters only, quoted otherwise (hledger requires quotes around a symbol
// with digits or underscores, such as "KG_PRODUCE").
func Commodity(code string) string {
	for _, r := range code {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return `"` + code + `"`
		}
	}
	return code
}

// description makes a memo safe as a transaction description: one line, no
// ';' (which starts a comment) or '|' (which splits payee and note), and not
// starting with '(' (which hledger reads as a transaction code).
func description(memo string) string {
	s := oneLine(memo)
	s = strings.NewReplacer(";", ",", "|", "/").Replace(s)
	if strings.HasPrefix(s, "(") {
		s = "[" + s[1:]
	}
	if s == "" {
		s = "no memo"
	}
	return s
}

// tagValue makes text safe as the value of a comment tag, which ends at a
// comma or the end of the line.
func tagValue(s string) string {
	return strings.ReplaceAll(oneLine(s), ",", " ")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}
