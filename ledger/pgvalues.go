package ledger

import (
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// Conversions to pgx's own types for statement parameters and results.
// uuid.UUID and decimal.Decimal would otherwise go through database/sql's
// Valuer and Scanner, as text, by reflection: on the write path that was a
// third of the Go side's CPU.
//
// Array parameters are an array[T] of pgx value types, whose elements pgx
// reaches through a pointer: pgtype.FlatArray hands each element over as an
// interface value, which for a UUID, a NUMERIC or a time is one allocation
// per element. A large batch's write has thousands of elements, and the
// collector's work grows with what is allocated. NUMERIC arrays go as text
// (numericArray), which pgx sends as given.

// array is a one-dimensional array parameter of T, a pgx value type that
// encodes itself (pgtype.UUID, pgtype.Int8, pgtype.Text, pgtype.Timestamptz).
type array[T any] []T

func (a array[T]) Dimensions() []pgtype.ArrayDimension {
	if a == nil {
		return nil
	}
	return []pgtype.ArrayDimension{{Length: int32(len(a)), LowerBound: 1}}
}

// Index returns a pointer to the element: a pointer fits in an interface
// value without an allocation.
func (a array[T]) Index(i int) any { return &a[i] }

func (a array[T]) IndexType() any { return new(T) }

func pgUUIDs(ids []uuid.UUID) array[pgtype.UUID] {
	out := make(array[pgtype.UUID], len(ids))
	for i, id := range ids {
		out[i] = pgtype.UUID{Bytes: id, Valid: true}
	}
	return out
}

func pgUUIDPtrs(ids []*uuid.UUID) array[pgtype.UUID] {
	out := make(array[pgtype.UUID], len(ids))
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

// numericArray returns a NUMERIC[] parameter in PostgreSQL's text form,
// "{1.50,-2,0.003}", each value written with its own exponent (1.50 keeps
// its scale of 2, as the binary form would). pgx sends a string parameter
// as text, as is. pgx's binary NUMERIC encoder divides a copy of each
// coefficient by 10,000 in math/big, several allocations per value.
func numericArray(ds []decimal.Decimal) string {
	b := make([]byte, 0, 2+len(ds)*8)
	b = append(b, '{')
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDecimal(b, d)
	}
	return string(append(b, '}'))
}

// appendDecimal appends d as PostgreSQL's numeric_in reads it: its
// coefficient's digits with the point placed by its exponent.
func appendDecimal(b []byte, d decimal.Decimal) []byte {
	var buf [20]byte
	var digits []byte
	if d.NumDigits() <= 18 {
		c := d.CoefficientInt64()
		if c < 0 {
			b, c = append(b, '-'), -c
		}
		digits = strconv.AppendInt(buf[:0], c, 10)
	} else {
		c := d.Coefficient()
		if c.Sign() < 0 {
			b = append(b, '-')
			c.Neg(c)
		}
		digits = c.Append(nil, 10)
	}
	switch exp := int(d.Exponent()); {
	case exp >= 0:
		b = append(b, digits...)
		for range exp {
			b = append(b, '0')
		}
	case len(digits) > -exp:
		point := len(digits) + exp
		b = append(b, digits[:point]...)
		b = append(b, '.')
		b = append(b, digits[point:]...)
	default:
		b = append(b, '0', '.')
		for range -exp - len(digits) {
			b = append(b, '0')
		}
		b = append(b, digits...)
	}
	return b
}

func pgInt8s(vs []int64) array[pgtype.Int8] {
	out := make(array[pgtype.Int8], len(vs))
	for i, v := range vs {
		out[i] = pgtype.Int8{Int64: v, Valid: true}
	}
	return out
}

func pgTexts(ss []string) array[pgtype.Text] {
	out := make(array[pgtype.Text], len(ss))
	for i, s := range ss {
		out[i] = pgtype.Text{String: s, Valid: true}
	}
	return out
}

func pgTextPtrs(ss []*string) array[pgtype.Text] {
	out := make(array[pgtype.Text], len(ss))
	for i, s := range ss {
		if s != nil {
			out[i] = pgtype.Text{String: *s, Valid: true}
		}
	}
	return out
}

func pgTimes(ts []time.Time) array[pgtype.Timestamptz] {
	out := make(array[pgtype.Timestamptz], len(ts))
	for i, t := range ts {
		out[i] = pgtype.Timestamptz{Time: t, Valid: true}
	}
	return out
}

func pgTimePtrs(ts []*time.Time) array[pgtype.Timestamptz] {
	out := make(array[pgtype.Timestamptz], len(ts))
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
