package schema_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mutual-ledger/mutual/internal/dbtest"
	"github.com/mutual-ledger/mutual/schema"
)

// TestFundRulesMigrationKeepsExistingFunds builds a database at version 9
// with a fund and grants in every status that existed, then migrates it:
// the rows stay, existing funds get the default rules (no quorum, a simple
// majority, no second approval) and the grants their statuses.
func TestFundRulesMigrationKeepsExistingFunds(t *testing.T) {
	ctx := context.Background()
	pool := databaseBefore(t, 10)

	org, local, member, fund, acc, ext, to, tr := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	grants := map[string]uuid.UUID{"requested": uuid.New(), "approved": uuid.New(), "rejected": uuid.New(), "disbursed": uuid.New(), "withdrawn": uuid.New()}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO units (code, scale, created_at) VALUES ('USD', 2, now())`, nil},
		{`INSERT INTO orgs (id, name, kind, created_at) VALUES ($1, 'Network', 'network', now())`, []any{org}},
		{`INSERT INTO orgs (id, parent_id, name, kind, created_at) VALUES ($1, $2, 'Local', 'local', now())`, []any{local, org}},
		{`INSERT INTO members (id, name, created_at) VALUES ($1, 'Nia', now())`, []any{member}},
		{`INSERT INTO accounts (id, unit, owner, kind, lower_bound, balance, created_at) VALUES ($1, 'USD', 'org:' || $2::text, 'fund', 0, 0, now())`, []any{acc, org}},
		{`INSERT INTO accounts (id, unit, owner, kind, created_at) VALUES ($1, 'USD', 'org:' || $2::text, 'external', now())`, []any{ext, org}},
		{`INSERT INTO accounts (id, unit, owner, kind, lower_bound, created_at) VALUES ($1, 'USD', 'org:' || $2::text, 'organization', 0, now())`, []any{to, local}},
		{`INSERT INTO transfers (id, state, postings, created_at) VALUES ($1, 'posted', '[]', now())`, []any{tr}},
		{`INSERT INTO funds (id, org_id, name, unit, account_id, external_account_id, created_by, created_at) VALUES ($1, $2, 'Fund', 'USD', $3, $4, $5, now())`,
			[]any{fund, org, acc, ext, member}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	for status, id := range grants {
		decided := status == "approved" || status == "rejected" || status == "disbursed"
		var by, transfer any
		if decided {
			by = member
		}
		if status == "disbursed" {
			transfer = tr
		}
		_, err := pool.Exec(ctx, `
INSERT INTO grant_requests (id, fund_id, org_id, requested_by, amount, purpose, to_account, status, decided_by, decided_at,
    votes_for, votes_against, votes_abstain, transfer_id, created_at, updated_at)
VALUES ($1, $2, $3, $4, 10, 'Seeds', $5, $6, $7, CASE WHEN $8 THEN now() END, CASE WHEN $8 THEN 1 END, CASE WHEN $8 THEN 9 END,
    CASE WHEN $8 THEN 0 END, $9, now(), now())`, id, fund, local, member, to, status, by, decided, transfer)
		if err != nil {
			t.Fatalf("a %s grant: %v", status, err)
		}
	}

	applied, err := schema.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("migrating existing data: %v", err)
	}
	if len(applied) < 2 || applied[0] != 10 || applied[1] != 11 {
		t.Errorf("applied %v, want 10, 11 and any after", applied)
	}
	var quorum int64
	var majority string
	var above *string
	if err := pool.QueryRow(ctx, `SELECT quorum, majority, second_approval_above::text FROM funds WHERE id = $1`, fund).Scan(&quorum, &majority, &above); err != nil {
		t.Fatal(err)
	}
	if quorum != 0 || majority != "simple" || above != nil {
		t.Errorf("an existing fund's rules = %d, %s, %v; want 0, simple, none", quorum, majority, above)
	}
	for status, id := range grants {
		var got string
		var first, paidBy *uuid.UUID
		if err := pool.QueryRow(ctx, `SELECT status, first_approved_by, disbursed_by FROM grant_requests WHERE id = $1`, id).Scan(&got, &first, &paidBy); err != nil {
			t.Fatal(err)
		}
		if got != status || first != nil || paidBy != nil {
			t.Errorf("a %s grant became %s, first approved by %v, paid by %v", status, got, first, paidBy)
		}
	}
}

// TestRegionsMigrationBackfillsTheOwners builds a database just before
// migration 0021 with a city in a region, organizations below it that name
// none, a city that names its own, their accounts, a member's account and
// a transfer with its entries, then migrates it: the organizations inherit
// their parent's region, and every row takes its owner's.
func TestRegionsMigrationBackfillsTheOwners(t *testing.T) {
	ctx := context.Background()
	pool := databaseBefore(t, 21)
	net, city, tb, council, other, member := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	tbAcc, memberAcc, otherAcc, ext, tr := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	postings := `[{"from":"` + tbAcc.String() + `","to":"` + memberAcc.String() + `","amount":"2","unit":"HOUR"}]`
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO units (code, scale, created_at) VALUES ('HOUR', 2, now())`, nil},
		{`INSERT INTO orgs (id, name, kind, created_at) VALUES ($1, 'Network', 'network', now())`, []any{net}},
		{`INSERT INTO orgs (id, parent_id, name, kind, region, created_at) VALUES ($1, $2, 'Oaxaca', 'local', 'mx-south', now())`, []any{city, net}},
		{`INSERT INTO orgs (id, parent_id, name, kind, created_at) VALUES ($1, $2, 'Barrio', 'timebank', now())`, []any{tb, city}},
		{`INSERT INTO orgs (id, parent_id, name, kind, created_at) VALUES ($1, $2, 'Calle 5', 'council', now())`, []any{council, tb}},
		{`INSERT INTO orgs (id, parent_id, name, kind, region, created_at) VALUES ($1, $2, 'Lyon', 'local', 'eu-west1', now())`, []any{other, net}},
		{`INSERT INTO members (id, name, created_at) VALUES ($1, 'Nia', now())`, []any{member}},
		{`INSERT INTO memberships (org_id, member_id, role, created_at) VALUES ($1, $2, 'member', now())`, []any{council, member}},
		{`INSERT INTO accounts (id, unit, owner, kind, lower_bound, balance, entry_seq, created_at) VALUES ($1, 'HOUR', 'org:' || $2::text, 'pool', -10, -2, 1, now())`, []any{tbAcc, tb}},
		{`INSERT INTO accounts (id, unit, owner, kind, lower_bound, balance, entry_seq, created_at) VALUES ($1, 'HOUR', 'member:' || $2::text, 'member', 0, 2, 1, now())`, []any{memberAcc, member}},
		{`INSERT INTO accounts (id, unit, owner, kind, lower_bound, created_at) VALUES ($1, 'HOUR', 'org:' || $2::text, 'organization', 0, now())`, []any{otherAcc, other}},
		{`INSERT INTO accounts (id, unit, owner, kind, created_at) VALUES ($1, 'HOUR', '', 'external', now())`, []any{ext}},
		{`INSERT INTO transfers (id, state, postings, created_at) VALUES ($1, 'posted', $2::jsonb, now())`, []any{tr, postings}},
		{`INSERT INTO entries (account_id, seq, transfer_id, posting, amount, balance_after, posted_at) VALUES ($1, 1, $3, 0, -2, -2, now()), ($2, 1, $3, 0, 2, 2, now())`,
			[]any{tbAcc, memberAcc, tr}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if _, err := schema.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrating existing data: %v", err)
	}
	for _, c := range []struct {
		what, sql string
		arg       uuid.UUID
		want      string
	}{
		{"the network", `SELECT region FROM orgs WHERE id = $1`, net, ""},
		{"the time bank under Oaxaca", `SELECT region FROM orgs WHERE id = $1`, tb, "mx-south"},
		{"the council under the time bank", `SELECT region FROM orgs WHERE id = $1`, council, "mx-south"},
		{"Lyon", `SELECT region FROM orgs WHERE id = $1`, other, "eu-west1"},
		{"the time bank's account", `SELECT region FROM accounts WHERE id = $1`, tbAcc, "mx-south"},
		{"the member's account", `SELECT region FROM accounts WHERE id = $1`, memberAcc, "mx-south"},
		{"Lyon's account", `SELECT region FROM accounts WHERE id = $1`, otherAcc, "eu-west1"},
		{"the external account", `SELECT region FROM accounts WHERE id = $1`, ext, ""},
		{"the time bank's entry", `SELECT region FROM entries WHERE account_id = $1`, tbAcc, "mx-south"},
		{"the transfer", `SELECT region FROM transfers WHERE id = $1`, tr, "mx-south"},
		{"the membership", `SELECT region FROM memberships WHERE member_id = $1`, member, "mx-south"},
	} {
		var got string
		if err := pool.QueryRow(ctx, c.sql, c.arg).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s: region %q (%v), want %q", c.what, got, err, c.want)
		}
	}
}

// TestMigrationStepsRunAgain: the steps of a migration before its last
// (see schema.StepMarker) are committed one by one, so a crash between two
// leaves them applied without the version row; the next migrate runs them
// again, and they must take it. Each migration's earlier steps are applied
// twice by hand, then Migrate finishes the job.
func TestMigrationStepsRunAgain(t *testing.T) {
	ctx := context.Background()
	pool := databaseBefore(t, 0)
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	stepped := 0
	for _, m := range ms {
		parts := strings.Split(m.SQL, "\n"+schema.StepMarker+"\n")
		if len(parts) == 1 {
			continue
		}
		stepped++
		// The database has every step; the earlier ones again must pass.
		for i, p := range parts[:len(parts)-1] {
			if _, err := pool.Exec(ctx, p); err != nil {
				t.Errorf("%s: step %d again: %v", m.Name, i+1, err)
			}
		}
	}
	if stepped == 0 {
		t.Error("no migration has steps; this test checks nothing")
	}
}

// databaseBefore returns an empty test database with the migrations
// numbered below version applied one by one and recorded, as a server of
// that time left it; version 0 leaves it empty, without even the
// migrations' table.
func databaseBefore(t *testing.T, version int64) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.New(t)
	if _, err := pool.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatal(err)
	}
	if version == 0 {
		return pool
	}
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= version {
			break
		}
		if _, err := pool.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("migration %s: %v", m.Name, err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// TestAuditOnBehalfIndexIsPartial: migration 0027 replaces the index of
// on_behalf_of, which held a NULL for nearly every event, with one of the
// events done on someone's behalf only. The events stay, and a lookup of
// what was done on a member's behalf, planned for any member (a generic
// plan, as the audit queries' prepared statements get), reads the new
// index and finds the event.
func TestAuditOnBehalfIndexIsPartial(t *testing.T) {
	ctx := context.Background()
	pool := databaseBefore(t, 27)
	coordinator, member, acted, own := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO audit_events (id, at, actor_id, on_behalf_of, credential, kind, member_id) VALUES ($1, now(), $2, $3, 'session', 'transfer.created', $3)`, []any{acted, coordinator, member}},
		{`INSERT INTO audit_events (id, at, actor_id, credential, kind, member_id) VALUES ($1, now(), $2, 'token', 'transfer.created', $2)`, []any{own, member}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if _, err := schema.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrating existing data: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d events after the migration (%v), want 2", n, err)
	}
	var defs []string
	rows, err := pool.Query(ctx, `SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE tablename = 'audit_events' AND indexdef LIKE '%on_behalf_of%'`)
	if err == nil {
		for rows.Next() {
			var d string
			if err = rows.Scan(&d); err != nil {
				break
			}
			defs = append(defs, d)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 || !strings.HasPrefix(defs[0], "audit_events_acted_for:") || !strings.Contains(defs[0], "WHERE (on_behalf_of IS NOT NULL)") {
		t.Fatalf("indexes of on_behalf_of: %q, want the partial audit_events_acted_for alone", defs)
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, s := range []string{
		`SET plan_cache_mode = force_generic_plan`,
		`SET enable_seqscan = off`,
		`PREPARE acted_for (uuid) AS SELECT id FROM audit_events WHERE on_behalf_of = $1`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	var plan strings.Builder
	rows, err = conn.Query(ctx, `EXPLAIN EXECUTE acted_for('`+member.String()+`')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "audit_events_acted_for") {
		t.Errorf("the generic plan of a lookup by on_behalf_of does not read the partial index:\n%s", plan.String())
	}
	var got uuid.UUID
	if err := conn.QueryRow(ctx, `EXECUTE acted_for('`+member.String()+`')`).Scan(&got); err != nil || got != acted {
		t.Errorf("events done on the member's behalf: %v (%v), want %v", got, err, acted)
	}
	if _, err := conn.Exec(ctx, `DEALLOCATE acted_for; RESET plan_cache_mode; RESET enable_seqscan`); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentMigratorsUpgrade: servers started together on a database
// left at an earlier version (a network's cities upgraded at once) all
// migrate it, each migration applied once, none failing. The migrators
// are connected first and let go together, so that they reach the first
// migration left at the same moment; the database is left just before
// each migration with steps (schema changes that run outside the version
// row's transaction), a few times over.
func TestConcurrentMigratorsUpgrade(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	stepped := 0
	for _, m := range ms {
		if !strings.Contains(m.SQL, "\n"+schema.StepMarker+"\n") {
			continue
		}
		stepped++
		for round := range 2 {
			migrateTogether(t, databaseBefore(t, m.Version), ms, m.Version, fmt.Sprintf("from before %s, round %d", m.Name, round+1))
		}
	}
	if stepped == 0 {
		t.Error("no migration has steps; this test checks nothing")
	}
}

// migrateTogether runs six migrators on pool's database at once and checks
// that each migration from version on was applied by exactly one of them,
// and that none of their transactions deadlocked: a deadlock costs a
// second before PostgreSQL breaks it, and a migrator that loses every
// retry fails to start.
func migrateTogether(t *testing.T, pool *pgxpool.Pool, ms []schema.Migration, version int64, what string) {
	t.Helper()
	ctx := context.Background()
	deadlocks := func() int64 {
		t.Helper()
		var n int64
		if err := pool.QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks()
	const migrators = 6
	cfg, err := pgxpool.ParseConfig(pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "migrate-together"
	pools := make([]*pgxpool.Pool, migrators)
	for i := range pools {
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		pools[i] = p
	}
	applied := make([][]int64, migrators)
	errs := make([]error, migrators)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			applied[i], errs[i] = schema.Migrate(ctx, p)
		}()
	}
	close(start)
	wg.Wait()
	count := make(map[int64]int)
	for i := range migrators {
		if errs[i] != nil {
			t.Fatalf("%s: migrator %d: %v", what, i, errs[i])
		}
		for _, v := range applied[i] {
			count[v]++
		}
	}
	for _, m := range ms {
		if m.Version >= version && count[m.Version] != 1 {
			t.Errorf("%s: %s applied %d times", what, m.Name, count[m.Version])
		}
	}
	// A backend reports its deadlocks when it ends at the latest.
	for _, p := range pools {
		p.Close()
	}
	for wait := 0; ; wait++ {
		var left int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate-together'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if wait == 100 {
			t.Fatalf("%s: %d migrators' connections still open 10 s after closing", what, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := deadlocks() - before; n > 0 {
		t.Errorf("%s: the migrators deadlocked %d times", what, n)
	}
}
