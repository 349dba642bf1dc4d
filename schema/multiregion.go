package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Multi-region CockroachDB. Migration 0021 gives every table whose rows
// belong to an organization a text column region, written by the store
// from the owner's home region. MultiRegion renders what makes a
// CockroachDB database keep each city's rows in its region: the database's
// regions and survival goal, GLOBAL locality for the tables every city
// reads and few write, and REGIONAL BY ROW for the others, on a computed
// crdb_region column that maps region to one of the database's regions.
// Every other table stays REGIONAL BY TABLE IN PRIMARY REGION, the default
// of a multi-region database. None of this is PostgreSQL's: there, the
// region columns are kept and indexed, and nothing more is done.

// RegionalTables are the tables made REGIONAL BY ROW on their region
// column: an organization's rows live in its home region.
var RegionalTables = []string{
	"accounts", "entries", "transfers", "reservations",
	"listings", "agreements", "trades", "memberships", "grant_requests",
}

// GlobalTables are the tables made GLOBAL: read in every region (every
// request names units, categories and organizations), written rarely, so
// reads are local everywhere and a write waits out the cluster's
// uncertainty window.
var GlobalTables = []string{"units", "categories", "orgs"}

// MultiRegionPlan says how a database is laid out across regions.
type MultiRegionPlan struct {
	Database string   // the database's name
	Primary  string   // the primary region: rows of no region ("") live there
	Regions  []string // every region rows may name; Primary is added if absent
	// SurviveRegion asks the database to survive the loss of a whole
	// region (5 replicas, writes wait for a second region); otherwise it
	// survives the loss of a zone (3 replicas in the row's region).
	SurviveRegion bool
	// Relocate says the tables already have a crdb_region column (from an
	// earlier run with other regions): it is dropped and made again so that
	// its mapping names the regions of this plan.
	Relocate bool
}

// MultiRegion returns the statements, in order, that lay out a CockroachDB
// database as plan says. Each must run on its own, outside a transaction:
// CockroachDB does not mix these schema changes in one. It returns an
// error for a region name that is not lower-case letters, digits and
// hyphens (region names end up in the statements; nothing else is let in)
// and for a plan without a primary region.
func MultiRegion(plan MultiRegionPlan) ([]string, error) {
	if plan.Database == "" {
		return nil, fmt.Errorf("schema: a multi-region plan needs the database's name")
	}
	if plan.Primary == "" {
		return nil, fmt.Errorf("schema: a multi-region plan needs a primary region")
	}
	regions := []string{plan.Primary}
	for _, r := range plan.Regions {
		if r != "" && !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	slices.Sort(regions[1:])
	for _, r := range regions {
		if !regionName(r) {
			return nil, fmt.Errorf("schema: %q is not a region name: lower-case letters, digits and hyphens, at most 64", r)
		}
	}
	db := pgx.Identifier{plan.Database}.Sanitize()
	var out []string
	out = append(out, fmt.Sprintf(`ALTER DATABASE %s PRIMARY REGION %s`, db, pgx.Identifier{plan.Primary}.Sanitize()))
	for _, r := range regions[1:] {
		out = append(out, fmt.Sprintf(`ALTER DATABASE %s ADD REGION IF NOT EXISTS %s`, db, pgx.Identifier{r}.Sanitize()))
	}
	survive := "ZONE"
	if plan.SurviveRegion {
		survive = "REGION"
	}
	out = append(out, fmt.Sprintf(`ALTER DATABASE %s SURVIVE %s FAILURE`, db, survive))
	for _, t := range GlobalTables {
		out = append(out, fmt.Sprintf(`ALTER TABLE %s SET LOCALITY GLOBAL`, t))
	}
	// crdb_region maps the text column to the database's regions; a
	// region no cluster region matches (or none, "") is the primary's.
	var mapping strings.Builder
	mapping.WriteString("CASE region")
	for _, r := range regions {
		fmt.Fprintf(&mapping, " WHEN '%s' THEN '%s'", r, r)
	}
	fmt.Fprintf(&mapping, " ELSE '%s' END", plan.Primary)
	for _, t := range RegionalTables {
		if plan.Relocate {
			out = append(out,
				fmt.Sprintf(`ALTER TABLE %s SET LOCALITY REGIONAL BY TABLE IN PRIMARY REGION`, t),
				fmt.Sprintf(`ALTER TABLE %s DROP COLUMN IF EXISTS crdb_region`, t))
		}
		out = append(out,
			fmt.Sprintf(`ALTER TABLE %s ADD COLUMN IF NOT EXISTS crdb_region crdb_internal_region NOT VISIBLE NOT NULL AS (%s) STORED`, t, mapping.String()),
			fmt.Sprintf(`ALTER TABLE %s SET LOCALITY REGIONAL BY ROW AS crdb_region`, t))
	}
	return out, nil
}

// regionName reports whether r is 1 to 64 lower-case letters, digits and
// hyphens, starting with a letter or digit.
func regionName(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}
