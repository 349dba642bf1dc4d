// Package journal exports the ledger's books: every posted transfer, in the
// order it took effect, as a plain-text accounting journal that hledger and
// ledger-cli read, or as CSV, one row per account movement. The whole export
// is read in one snapshot, so its transactions balance and its balances are
// the ledger's at one instant.
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
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

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
	scales   map[string]int32
	units    []string // in code order
	accounts map[uuid.UUID]account
	order    []uuid.UUID // accounts in creation order
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
	selectUnits     = `SELECT code, scale FROM units ORDER BY code`
	selectAccounts  = `SELECT id, unit, owner, kind, name FROM accounts ORDER BY created_at, id`
	selectTransfers = `
SELECT id, created_at, memo, postings, COALESCE(metadata ->> 'obligation', '') FROM transfers
WHERE state = 'posted' AND resolved_at IS NULL
ORDER BY created_at, id`
	selectObligations = `
SELECT o.id, d.name, c.name, o.unit, o.amount, o.outstanding, o.due_date, o.reference, o.status
FROM obligations o JOIN orgs d ON d.id = o.debtor_org JOIN orgs c ON c.id = o.creditor_org
WHERE o.status IN ('pending', 'confirmed')
ORDER BY o.unit, o.due_date, o.id`
	selectClearingRuns = `
SELECT r.id, r.created_at, g.name, r.unit, r.total_debt, r.cleared, r.obligations
FROM clearing_runs r JOIN orgs g ON g.id = r.group_org
ORDER BY r.created_at, r.id`
)

// errRetried stops an export whose read transaction would run a second time
// after output was written: the output cannot be taken back.
var errRetried = errors.New("journal: the export's read was interrupted after output began; export again")

// read reads the books in one read-only snapshot: start gets the units and
// accounts, then each gets every posted transfer in order.
func (x *Exporter) read(ctx context.Context, start func(*book) error, each func(*book, transaction) error) error {
	return x.readAll(ctx, start, each, nil)
}

// readAll is read, then finish with the open obligations and the clearing
// runs, in the same snapshot.
func (x *Exporter) readAll(ctx context.Context, start func(*book) error, each func(*book, transaction) error,
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
		rows, err = tx.Query(ctx, selectAccounts)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a account
			if err := rows.Scan(&a.id, &a.unit, &a.owner, &a.kind, &a.name); err != nil {
				rows.Close()
				return err
			}
			b.accounts[a.id] = a
			b.order = append(b.order, a.id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		began = true
		if err := start(b); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, selectTransfers)
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
			if err := each(b, t); err != nil {
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || finish == nil {
			return err
		}
		rows, err = tx.Query(ctx, selectObligations)
		if err != nil {
			return err
		}
		obls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (obligation, error) {
			var o obligation
			err := r.Scan(&o.id, &o.debtor, &o.creditor, &o.unit, &o.amount, &o.outstanding, &o.dueDate, &o.reference, &o.status)
			return o, err
		})
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, selectClearingRuns)
		if err != nil {
			return err
		}
		runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (clearingRun, error) {
			var c clearingRun
			err := r.Scan(&c.id, &c.at, &c.group, &c.unit, &c.totalDebt, &c.cleared, &c.obligations)
			return c, err
		})
		if err != nil {
			return err
		}
		return finish(b, obls, runs)
	})
}

// WriteHledger writes the journal in hledger's format (which ledger-cli also
// reads): a header with a decimal-mark directive, a commodity directive per
// unit with its scale and an account directive per account, then one
// transaction per posted transfer, dated in UTC, whose description is the
// memo and whose comment tags the transfer's id and instant:
//
//	2026-03-01 * bike repair  ; id:0193…, posted_at:2026-03-01T09:00:00Z
//	    member:0193…:HOUR:0193…  -2.00 HOUR
//	    member:0194…:HOUR:0194…  2.00 HOUR
//
// A transfer that pays an obligation carries its id as a tag
// (obligation:0195…), so that `hledger reg tag:obligation=0195…` lists its
// payments. Obligations themselves are not movements of the ledger: what is
// still owed between organizations (pending or confirmed, with what is
// outstanding) and each clearing run that cancelled some of it close the
// journal as comments, which no balance includes, so that hledger's
// balances stay the ledger's.
//
// Each posting gives two lines, the debit then the credit. Account names are
// AccountName's; amounts have their unit's scale, so that hledger's balances
// are the ledger's digit for digit.
func (x *Exporter) WriteHledger(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	err := x.readAll(ctx, func(b *book) error {
		fmt.Fprintf(bw, "; Mutual journal: every posted transfer, exported %s.\n", x.now().UTC().Format(time.RFC3339))
		fmt.Fprintf(bw, "; Accounts are named OWNER:UNIT:ACCOUNT_ID; amounts carry each unit's scale.\n\n")
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
			fmt.Fprintf(bw, "account %s  ; kind:%s, name:%s\n", AccountName(a.owner, a.unit, a.id), a.kind, tagValue(a.name))
		}
		return nil
	}, func(b *book, t transaction) error {
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
			fmt.Fprintf(bw, "    %s  %s %s\n", AccountName(from.owner, from.unit, from.id), b.format(amt.Neg(), p.Unit), sym)
			fmt.Fprintf(bw, "    %s  %s %s\n", AccountName(to.owner, to.unit, to.id), b.format(amt, p.Unit), sym)
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
func (x *Exporter) WriteCSV(ctx context.Context, w io.Writer) error {
	cw := csv.NewWriter(w)
	err := x.read(ctx, func(*book) error {
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

// AccountName is the hledger account name of a ledger account:
// OWNER:UNIT:ACCOUNT_ID, e.g. member:0193…:HOUR:0194…, so that hledger's
// tree sums by owner, then by unit. Characters hledger would misread in the
// owner are replaced by '_'; an account with no owner is under "unowned".
func AccountName(owner, unit string, id uuid.UUID) string {
	var parts []string
	for _, part := range strings.Split(owner, ":") {
		part = strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@':
				return r
			}
			return '_'
		}, part)
		if part != "" {
			parts = append(parts, part)
		}
	}
	if len(parts) == 0 {
		parts = []string{"unowned"}
	}
	return strings.Join(parts, ":") + ":" + unit + ":" + id.String()
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
