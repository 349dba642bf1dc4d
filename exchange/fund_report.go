package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// The fund's public report.

// ReportPeriod is the length of the periods a fund report groups movements by.
type ReportPeriod string

// The report periods, in UTC.
const (
	PeriodMonth   ReportPeriod = "month"
	PeriodQuarter ReportPeriod = "quarter"
	PeriodYear    ReportPeriod = "year"
)

// start returns the start of the period t falls in, and the start of the
// next one.
func (p ReportPeriod) start(t time.Time) (time.Time, time.Time) {
	t = t.UTC()
	switch p {
	case PeriodYear:
		s := time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(1, 0, 0)
	case PeriodQuarter:
		s := time.Date(t.Year(), (t.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(0, 3, 0)
	}
	s := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return s, s.AddDate(0, 1, 0)
}

// label names the period starting at s: "2026-03", "2026-Q1" or "2026".
func (p ReportPeriod) label(s time.Time) string {
	switch p {
	case PeriodYear:
		return s.Format("2006")
	case PeriodQuarter:
		return fmt.Sprintf("%d-Q%d", s.Year(), (int(s.Month())-1)/3+1)
	}
	return s.Format("2006-01")
}

// MaxReportMovements bounds the movements one report lists; a longer
// history is reported a range (From, To) at a time.
const MaxReportMovements = 10000

// ReportQuery asks for a fund's report.
type ReportQuery struct {
	FundID uuid.UUID
	// From and To, when set, bound the movements reported: From <= at < To.
	From, To *time.Time
	Period   ReportPeriod // "" means PeriodMonth
}

// FundReport is a fund's public report: where its money came from and went, by
// organization and period. It names no member but those who decided grants,
// since a decision is a public act.
type FundReport struct {
	Fund   Fund
	Period ReportPeriod
	From   *time.Time
	To     *time.Time
	// Balance is the fund account's posted balance in the ledger now.
	// Recorded is all the fund's recorded inflows minus its outflows;
	// Reconciled says they are equal, as they are unless value reached the
	// fund's account other than through the fund (a plain transfer to it).
	Balance    decimal.Decimal
	Recorded   decimal.Decimal
	Reconciled bool
	// In and Out total the movements reported (within From and To).
	In, Out   decimal.Decimal
	Periods   []FundPeriod
	Movements []FundReportMovement // every movement reported, oldest first
}

// FundPeriod is one period of a report, with its inflows and outflows
// grouped by whom they are attributed to (largest first).
type FundPeriod struct {
	Label      string // "2026-03", "2026-Q1" or "2026"
	Start, End time.Time
	In, Out    decimal.Decimal
	Inflows    []FundAttribution
	Outflows   []FundAttribution
}

// FundAttribution is the money one organization (or, for money from outside
// the network, one source) brought or received in a period.
type FundAttribution struct {
	OrgID  *uuid.UUID // nil for a source outside the network
	Name   string     // the organization's name, or the source as given
	Amount decimal.Decimal
	Count  int
	Grants []PaidGrant // for outflows: the grants paid
}

// PaidGrant is a disbursed grant as the report shows it.
type PaidGrant struct {
	GrantID      uuid.UUID
	TransferID   uuid.UUID
	Purpose      string
	Amount       decimal.Decimal
	DecidedBy    string // the name of the member who recorded the decision
	DecidedAt    time.Time
	DecisionNote string
	Votes        *GrantVotes
	// FirstApprovedBy names the governor whose approval was the first of
	// two, when the fund needed two; DisbursedBy who paid it ("" when not
	// recorded). Both are public acts, like the decision.
	FirstApprovedBy string
	DisbursedBy     string
	PaidAt          time.Time
}

// FundReportMovement is a movement with the name it is attributed to.
type FundReportMovement struct {
	FundMovement
	Name string
}

// FundReport returns a fund's report. It reads one snapshot of the
// database, so the balance and the movements agree. It returns
// ErrUnknownFund, and ledger.ErrInvalidRequest for an unknown period, To
// not after From, or more than MaxReportMovements movements in the range.
// Reports are public: anyone may read them, p the zero Principal too (the
// route needs no token).
func (s *Store) FundReport(ctx context.Context, p Principal, q ReportQuery) (FundReport, error) {
	if q.Period == "" {
		q.Period = PeriodMonth
	}
	if q.Period != PeriodMonth && q.Period != PeriodQuarter && q.Period != PeriodYear {
		return FundReport{}, invalid("period", "period must be month, quarter or year, not %q", q.Period)
	}
	if q.From != nil && q.To != nil && !q.To.After(*q.From) {
		return FundReport{}, invalid("to", "to must be after from")
	}
	r := FundReport{Period: q.Period, From: q.From, To: q.To}
	var paid map[uuid.UUID]PaidGrant
	// One snapshot: REPEATABLE READ (SERIALIZABLE on CockroachDB), read only.
	err := s.db.Run(ctx, pgtx.Options{Isolation: pgx.RepeatableRead, ReadOnly: true}, func(tx *pgtx.Tx) error {
		var err error
		r.Fund, err = scanFund(tx.QueryRow(ctx, `SELECT `+fundColumns+` FROM funds f WHERE f.id = $1`, q.FundID))
		if errors.Is(err, pgx.ErrNoRows) {
			return unknownFund(q.FundID)
		}
		if err != nil {
			return err
		}
		// The balance is the ledger's own column: read here, in the same
		// snapshot as the movements, rather than through ledger.Store.
		err = tx.QueryRow(ctx, `
SELECT a.balance, COALESCE((SELECT sum(CASE WHEN m.direction = 'in' THEN m.amount ELSE -m.amount END)
                            FROM fund_movements m WHERE m.fund_id = $2), 0)
FROM accounts a WHERE a.id = $1`, r.Fund.AccountID, r.Fund.ID).Scan(&r.Balance, &r.Recorded)
		if err != nil {
			return err
		}
		r.Movements, paid, err = reportMovements(ctx, tx, q)
		return err
	})
	if err != nil {
		return FundReport{}, err
	}
	r.Reconciled = r.Balance.Equal(r.Recorded)
	r.In, r.Out = decimal.Zero, decimal.Zero
	for _, m := range r.Movements {
		if m.Direction == Inflow {
			r.In = r.In.Add(m.Amount)
		} else {
			r.Out = r.Out.Add(m.Amount)
		}
	}
	r.Periods = groupByPeriod(q.Period, r.Movements, paid)
	return r, nil
}

// reportMovements reads the movements of a report, with the grants the
// outflows paid.
func reportMovements(ctx context.Context, tx *pgtx.Tx, q ReportQuery) ([]FundReportMovement, map[uuid.UUID]PaidGrant, error) {
	rows, err := tx.Query(ctx, `
SELECT `+movementColumns+`, COALESCE(o.name, m.source),
       g.purpose, g.decided_at, COALESCE(d.name, ''), g.decision_note, g.votes_for, g.votes_against, g.votes_abstain,
       COALESCE(fa.name, ''), COALESCE(pb.name, '')
FROM fund_movements m
LEFT JOIN orgs o ON o.id = m.org_id
LEFT JOIN grant_requests g ON g.id = m.grant_id
LEFT JOIN members d ON d.id = g.decided_by
LEFT JOIN members fa ON fa.id = g.first_approved_by
LEFT JOIN members pb ON pb.id = g.disbursed_by
WHERE m.fund_id = $1 AND ($2::TIMESTAMPTZ IS NULL OR m.at >= $2) AND ($3::TIMESTAMPTZ IS NULL OR m.at < $3)
ORDER BY m.at, m.id
LIMIT $4`, q.FundID, q.From, q.To, MaxReportMovements+1)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ms []FundReportMovement
	paid := make(map[uuid.UUID]PaidGrant)
	for rows.Next() {
		var rm FundReportMovement
		var purpose, decider, note, first, payer *string
		var decidedAt *time.Time
		var vf, va, vx *int64
		rm.FundMovement, err = scanMovement(rows, &rm.Name, &purpose, &decidedAt, &decider, &note, &vf, &va, &vx, &first, &payer)
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, rm)
		if rm.GrantID != nil && purpose != nil && decidedAt != nil {
			pg := PaidGrant{GrantID: *rm.GrantID, TransferID: rm.TransferID, Purpose: *purpose, Amount: rm.Amount,
				DecidedBy: *decider, DecidedAt: decidedAt.UTC(), DecisionNote: *note, FirstApprovedBy: *first, DisbursedBy: *payer, PaidAt: rm.At}
			if vf != nil && va != nil && vx != nil {
				pg.Votes = &GrantVotes{For: *vf, Against: *va, Abstain: *vx}
			}
			paid[rm.TransferID] = pg
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(ms) > MaxReportMovements {
		return nil, nil, invalid("to", "the fund has more than %d movements in this range; narrow it with from and to", MaxReportMovements)
	}
	return ms, paid, nil
}

// groupByPeriod groups movements (oldest first) into periods, and each
// period's inflows and outflows by organization or source.
func groupByPeriod(p ReportPeriod, ms []FundReportMovement, paid map[uuid.UUID]PaidGrant) []FundPeriod {
	out := []FundPeriod{}
	for i := 0; i < len(ms); {
		start, end := p.start(ms[i].At)
		pr := FundPeriod{Label: p.label(start), Start: start, End: end, In: decimal.Zero, Out: decimal.Zero}
		in, outs := map[string]*FundAttribution{}, map[string]*FundAttribution{}
		for ; i < len(ms) && ms[i].At.Before(end); i++ {
			m := ms[i]
			groups, total := in, &pr.In
			if m.Direction == Outflow {
				groups, total = outs, &pr.Out
			}
			*total = total.Add(m.Amount)
			key := "source:" + m.Source
			if m.OrgID != nil {
				key = "org:" + m.OrgID.String()
			}
			a := groups[key]
			if a == nil {
				a = &FundAttribution{OrgID: m.OrgID, Name: m.Name, Amount: decimal.Zero}
				groups[key] = a
			}
			a.Amount, a.Count = a.Amount.Add(m.Amount), a.Count+1
			if g, ok := paid[m.TransferID]; ok {
				a.Grants = append(a.Grants, g)
			}
		}
		pr.Inflows, pr.Outflows = sortedAttributions(in), sortedAttributions(outs)
		out = append(out, pr)
	}
	return out
}

// sortedAttributions returns the groups largest first, then by name.
func sortedAttributions(groups map[string]*FundAttribution) []FundAttribution {
	out := make([]FundAttribution, 0, len(groups))
	for _, a := range groups {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b FundAttribution) int {
		if c := b.Amount.Cmp(a.Amount); c != 0 {
			return c
		}
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return slices.Compare(keyBytes(a.OrgID), keyBytes(b.OrgID))
	})
	return out
}

func keyBytes(id *uuid.UUID) []byte {
	if id == nil {
		return nil
	}
	return id[:]
}
