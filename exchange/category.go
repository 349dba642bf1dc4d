package exchange

import (
	"context"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
)

// Category is one entry of the shared taxonomy listings are filed under
// ("childcare", "food", "transport", …). The migration seeds it; admins
// extend it with CreateCategory. Categories are never removed.
type Category struct {
	Code      string  // lower-case letters, digits and underscores, starting with a letter
	Name      string  // what people read
	Parent    *string // the broader category, or nil
	CreatedAt time.Time
}

var categoryCode = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// CreateCategory adds a category to the taxonomy. It returns
// ledger.ErrInvalidRequest (with Field set) for a code that is not 1 to 32
// lower-case letters, digits or underscores starting with a letter, or a name
// that is not 1 to 200 characters; ErrUnknownCategory when the parent does
// not exist; and ErrCategoryExists when the code is taken. Every
// organization shares the taxonomy, so only the network admin may extend
// it: ErrForbidden for anyone else, ErrUnauthenticated for a zero Principal,
// decided before anything else.
func (s *Store) CreateCategory(ctx context.Context, p Principal, in Category) (Category, error) {
	if err := requireAdmin(p, "create categories"); err != nil {
		return Category{}, err
	}
	if !categoryCode.MatchString(in.Code) {
		return Category{}, invalid("code", "category code %q must be 1-32 lower-case letters, digits or underscores, starting with a letter", in.Code)
	}
	name, err := checkText("name", in.Name, 1, 200)
	if err != nil {
		return Category{}, err
	}
	c := Category{Code: in.Code, Name: name, CreatedAt: s.clock()}
	if in.Parent != nil {
		p := *in.Parent
		if p == c.Code {
			return Category{}, invalid("parent", "a category cannot be its own parent")
		}
		c.Parent = &p
	}
	err = s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO categories (code, name, parent, created_at) VALUES ($1, $2, $3, $4)`,
			c.Code, c.Name, c.Parent, c.CreatedAt)
		switch pgCode(err) {
		case uniqueViolation:
			return newError(ErrCategoryExists.Code, ReasonCategoryExists, "category %q already exists", c.Code)
		case foreignKeyViolation:
			e := unknownCategory(*c.Parent)
			e.Field = "parent"
			return e
		}
		record(tx, p, c.CreatedAt, auditEvent{kind: "category.created", details: map[string]any{"code": c.Code}})
		return err
	})
	s.taxonomy.forget() // even on an error: a lost COMMIT answer may have committed
	if err != nil {
		return Category{}, err
	}
	return c, nil
}

// Categories returns the whole taxonomy in code order. It is small (tens of
// rows), so it is not paginated. Anyone may read it, p the zero Principal
// too: a public board names its listings' categories.
func (s *Store) Categories(ctx context.Context, p Principal) ([]Category, error) {
	c := s.taxonomy
	return cached(c, &c.categories, &c.categoriesUntil, func() ([]Category, error) {
		rows, err := s.db.Pool.Query(ctx, `SELECT code, name, parent, created_at FROM categories ORDER BY code`)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Category, error) {
			var c Category
			err := r.Scan(&c.Code, &c.Name, &c.Parent, &c.CreatedAt)
			return c, err
		})
	})
}
