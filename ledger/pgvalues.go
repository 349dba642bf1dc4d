package ledger

import (
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// Conversions to pgx's own types for statement parameters and results.
// uuid.UUID and decimal.Decimal would otherwise go through database/sql's
// Valuer and Scanner, as text, by reflection: on the write path that was a
// third of the Go side's CPU. Arrays are pgtype.FlatArray, which pgx encodes
// element by element without wrapping the slice in reflection first.

func pgUUIDs(ids []uuid.UUID) pgtype.FlatArray[pgtype.UUID] {
	out := make(pgtype.FlatArray[pgtype.UUID], len(ids))
	for i, id := range ids {
		out[i] = pgtype.UUID{Bytes: id, Valid: true}
	}
	return out
}

func pgUUIDPtrs(ids []*uuid.UUID) pgtype.FlatArray[pgtype.UUID] {
	out := make(pgtype.FlatArray[pgtype.UUID], len(ids))
	for i, id := range ids {
		if id != nil {
			out[i] = pgtype.UUID{Bytes: *id, Valid: true}
		}
	}
	return out
}

func pgNumeric(d decimal.Decimal) pgtype.Numeric {
	return pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}
}

func pgNumerics(ds []decimal.Decimal) pgtype.FlatArray[pgtype.Numeric] {
	out := make(pgtype.FlatArray[pgtype.Numeric], len(ds))
	for i, d := range ds {
		out[i] = pgNumeric(d)
	}
	return out
}

func pgTimePtrs(ts []*time.Time) pgtype.FlatArray[pgtype.Timestamptz] {
	out := make(pgtype.FlatArray[pgtype.Timestamptz], len(ts))
	for i, t := range ts {
		if t != nil {
			out[i] = pgtype.Timestamptz{Time: *t, Valid: true}
		}
	}
	return out
}

// numeric scans a NUMERIC into a decimal.Decimal (NULL is not expected).
type numeric struct{ d *decimal.Decimal }

func (n numeric) ScanNumeric(v pgtype.Numeric) error {
	if !v.Valid || v.NaN || v.InfinityModifier != pgtype.Finite {
		*n.d = decimal.Zero
		return nil
	}
	*n.d = decimal.NewFromBigInt(v.Int, v.Exp)
	return nil
}

// nullNumeric scans a nullable NUMERIC.
type nullNumeric struct{ d *decimal.NullDecimal }

func (n nullNumeric) ScanNumeric(v pgtype.Numeric) error {
	if !v.Valid || v.NaN || v.InfinityModifier != pgtype.Finite {
		*n.d = decimal.NullDecimal{}
		return nil
	}
	*n.d = decimal.NullDecimal{Decimal: decimal.NewFromBigInt(v.Int, v.Exp), Valid: true}
	return nil
}

// flat passes a slice of a type pgx encodes directly as an array parameter.
func flat[T any](s []T) pgtype.FlatArray[T] { return pgtype.FlatArray[T](s) }
