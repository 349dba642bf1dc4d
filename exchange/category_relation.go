package exchange

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// CategoryRelation says that offers of OfferCategory can also serve needs of
// NeedCategory, at Fit in (0, 1) (an offer of the need's own category fits
// at 1). Relations have a direction: a tutor may mind a child, a babysitter
// does not tutor. The migration seeds the common ones; the network admin
// edits them, since every organization shares the taxonomy.
type CategoryRelation struct {
	NeedCategory  string
	OfferCategory string
	Fit           float64
	UpdatedAt     time.Time
}

// The reason of ErrUnknownCategoryRelation.
const ReasonUnknownCategoryRelation ledger.Reason = "unknown_category_relation"

// ErrUnknownCategoryRelation: the two categories are not related that way.
var ErrUnknownCategoryRelation = &ledger.Error{Code: ledger.ENOTFOUND, Reason: ReasonUnknownCategoryRelation}

// CategoryRelations returns every relation, by need category and then offer
// category, to any member. It is small (tens of rows), so it is not
// paginated. It returns ErrUnauthenticated for a zero Principal.
func (s *Store) CategoryRelations(ctx context.Context, p Principal) ([]CategoryRelation, error) {
	if err := requireMember(p); err != nil {
		return nil, err
	}
	return s.categoryRelations(ctx)
}

func (s *Store) categoryRelations(ctx context.Context) ([]CategoryRelation, error) {
	c := s.taxonomy
	return cached(c, &c.relations, &c.relationsUntil, func() ([]CategoryRelation, error) {
		rows, err := s.db.Pool.Query(ctx, `
SELECT need_category, offer_category, fit, updated_at FROM category_relations ORDER BY need_category, offer_category`)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CategoryRelation, error) {
			var c CategoryRelation
			err := r.Scan(&c.NeedCategory, &c.OfferCategory, &c.Fit, &c.UpdatedAt)
			c.UpdatedAt = c.UpdatedAt.UTC()
			return c, err
		})
	})
}

// RelatedCategories returns the relations as matching.Config.Related wants
// them: for each need category, the fit of each related offer category.
// Anyone may have them: they say nothing about anyone.
func (s *Store) RelatedCategories(ctx context.Context) (map[string]map[string]float64, error) {
	rs, err := s.categoryRelations(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]float64)
	for _, r := range rs {
		if out[r.NeedCategory] == nil {
			out[r.NeedCategory] = make(map[string]float64)
		}
		out[r.NeedCategory][r.OfferCategory] = r.Fit
	}
	return out, nil
}

// SetCategoryRelation relates offers of offerCategory to needs of
// needCategory at fit, or changes the fit of that relation, for the
// network admin. It returns ErrForbidden for anyone else and
// ErrUnauthenticated for a zero Principal (decided first);
// ledger.ErrInvalidRequest for a fit outside (0, 1) (Field "fit") or a
// category related to itself (Field "offer_category"); ErrUnknownCategory
// (Field "need_category" or "offer_category").
func (s *Store) SetCategoryRelation(ctx context.Context, p Principal, needCategory, offerCategory string, fit float64) (CategoryRelation, error) {
	if err := requireAdmin(p, "edit how categories relate"); err != nil {
		return CategoryRelation{}, err
	}
	if !(fit > 0 && fit < 1) || math.IsNaN(fit) {
		return CategoryRelation{}, invalid("fit", "fit must be more than 0 and less than 1 (an exact category fits at 1), not %v", fit)
	}
	if needCategory == offerCategory {
		return CategoryRelation{}, invalid("offer_category", "a category is not related to itself: it fits exactly")
	}
	rel := CategoryRelation{NeedCategory: needCategory, OfferCategory: offerCategory, Fit: fit, UpdatedAt: s.clock()}
	err := s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		for _, c := range [][2]string{{"need_category", needCategory}, {"offer_category", offerCategory}} {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM categories WHERE code = $1)`, c[1]).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				e := unknownCategory(c[1])
				e.Field = c[0]
				return e
			}
		}
		_, err := tx.Exec(ctx, `
INSERT INTO category_relations (need_category, offer_category, fit, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (need_category, offer_category) DO UPDATE SET fit = excluded.fit, updated_at = excluded.updated_at`,
			rel.NeedCategory, rel.OfferCategory, rel.Fit, rel.UpdatedAt)
		return err
	})
	s.taxonomy.forget() // even on an error: a lost COMMIT answer may have committed
	if err != nil {
		return CategoryRelation{}, err
	}
	return rel, nil
}

// DeleteCategoryRelation removes a relation, for the network admin: offers
// of offerCategory no longer serve needs of needCategory. It returns
// ErrForbidden for anyone else, ErrUnauthenticated for a zero Principal,
// and ErrUnknownCategoryRelation when there is no such relation.
func (s *Store) DeleteCategoryRelation(ctx context.Context, p Principal, needCategory, offerCategory string) error {
	if err := requireAdmin(p, "edit how categories relate"); err != nil {
		return err
	}
	defer s.taxonomy.forget()
	return s.db.Run(ctx, pgtx.Options{}, func(tx *pgtx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM category_relations WHERE need_category = $1 AND offer_category = $2`, needCategory, offerCategory)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return newError(ErrUnknownCategoryRelation.Code, ReasonUnknownCategoryRelation,
				"offers of %q are not related to needs of %q", offerCategory, needCategory)
		}
		return nil
	})
}
