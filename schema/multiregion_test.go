package schema_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mutual-ledger/mutual/schema"
)

// TestMultiRegionStatements renders, without a cluster, what `mutual
// migrate --multi-region` sends to CockroachDB for a network of three
// regions, and checks it statement by statement.
func TestMultiRegionStatements(t *testing.T) {
	got, err := schema.MultiRegion(schema.MultiRegionPlan{
		Database: "mutual", Primary: "us-east1", Regions: []string{"europe-west1", "us-east1", "southamerica-east1", ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	mapping := `CASE region WHEN 'us-east1' THEN 'us-east1' WHEN 'europe-west1' THEN 'europe-west1'` +
		` WHEN 'southamerica-east1' THEN 'southamerica-east1' ELSE 'us-east1' END`
	want := []string{
		`ALTER DATABASE "mutual" PRIMARY REGION "us-east1"`,
		`ALTER DATABASE "mutual" ADD REGION IF NOT EXISTS "europe-west1"`,
		`ALTER DATABASE "mutual" ADD REGION IF NOT EXISTS "southamerica-east1"`,
		`ALTER DATABASE "mutual" SURVIVE ZONE FAILURE`,
		`ALTER TABLE units SET LOCALITY GLOBAL`,
		`ALTER TABLE categories SET LOCALITY GLOBAL`,
		`ALTER TABLE orgs SET LOCALITY GLOBAL`,
	}
	for _, table := range []string{"accounts", "entries", "transfers", "reservations", "listings", "agreements", "trades", "memberships", "grant_requests"} {
		want = append(want,
			`ALTER TABLE `+table+` ADD COLUMN IF NOT EXISTS crdb_region crdb_internal_region NOT VISIBLE NOT NULL AS (`+mapping+`) STORED`,
			`ALTER TABLE `+table+` SET LOCALITY REGIONAL BY ROW AS crdb_region`)
	}
	if !slices.Equal(got, want) {
		t.Errorf("statements:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Surviving a region, and a second run with another set of regions:
	// the mapping is dropped and made again.
	got, err = schema.MultiRegion(schema.MultiRegionPlan{Database: "mutual", Primary: "us-east1", Regions: []string{"us-west1"},
		SurviveRegion: true, Relocate: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, `ALTER DATABASE "mutual" SURVIVE REGION FAILURE`) {
		t.Errorf("no SURVIVE REGION FAILURE in %q", got)
	}
	i := slices.Index(got, `ALTER TABLE entries SET LOCALITY REGIONAL BY TABLE IN PRIMARY REGION`)
	if i < 0 || got[i+1] != `ALTER TABLE entries DROP COLUMN IF EXISTS crdb_region` || !strings.Contains(got[i+2], `WHEN 'us-west1' THEN 'us-west1' ELSE 'us-east1' END`) ||
		got[i+3] != `ALTER TABLE entries SET LOCALITY REGIONAL BY ROW AS crdb_region` {
		t.Errorf("relocating entries: %q", got)
	}

	// Region names end up in the statements: nothing but lower-case
	// letters, digits and hyphens gets through.
	for _, bad := range []schema.MultiRegionPlan{
		{Database: "mutual", Primary: "us-east1", Regions: []string{"eu'; DROP TABLE entries; --"}},
		{Database: "mutual", Primary: `us"east`},
		{Database: "mutual", Primary: "Europe"},
		{Database: "mutual", Primary: "-east"},
		{Database: "mutual"},
		{Primary: "us-east1"},
	} {
		if got, err := schema.MultiRegion(bad); err == nil {
			t.Errorf("%+v: rendered %q, want an error", bad, got)
		}
	}
}
