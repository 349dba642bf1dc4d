package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
)

const demoSummary = `Loads a small, realistic network into a running server through its HTTP
API: three cities; a time bank in Oaxaca with a coordinator, members, hour
accounts with credit limits and a community pool; two co-ops and a
municipal department in Detroit trading in USD and kilograms of produce; a
neighborhood council in Montréal; and a few hundred transfers between them.
It needs the admin's token (--token, MUTUAL_TOKEN, or DATA_DIR/admin-token),
and prints tokens for a coordinator and a member to try the API with.`

// demoTimeBank names the demo's time bank; its presence means the demo was
// loaded already.
const demoTimeBank = "Barrio de Jalatlaco Time Bank"

// demo implements `mutual demo`.
func demo(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	cf := addClientFlags(fs)
	if help, err := parseFlags(fs, e, demoSummary, args); help || err != nil {
		return err
	}
	c, err := cf.client(e, 4)
	if err != nil {
		return err
	}
	d := &demoLoader{c: c, rng: rand.New(rand.NewPCG(2026, 11))}
	if err := d.load(ctx); err != nil {
		return err
	}
	if d.already {
		fmt.Fprintf(e.stdout, "the demo network is already loaded (%q exists)\n", demoTimeBank)
		return nil
	}
	fmt.Fprintf(e.stdout, "loaded the demo network: %d organizations, %d members, %d accounts, %d transfers\n",
		d.orgs, d.members, d.accounts, d.transfers)
	fmt.Fprintf(e.stdout, "\nTry the API as the time bank's coordinator (%s):\n    %s\n", d.coordName, d.coordToken)
	fmt.Fprintf(e.stdout, "and as a member (%s), whose hour account is %s:\n    %s\n\n", d.memberName, d.memberAccount, d.memberToken)
	fmt.Fprintf(e.stdout, "    curl -H 'Authorization: Bearer %s' %s/v1/accounts/%s\n", d.memberToken, c.base, d.memberAccount)
	fmt.Fprintf(e.stdout, "\nAna gives an hour to the time bank's community pool (%s):\n\n", d.poolAccount)
	fmt.Fprintf(e.stdout, "    curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -H 'Idempotency-Key: gift-1' \\\n", d.memberToken)
	fmt.Fprintf(e.stdout, "         -d '{\"postings\":[{\"from\":\"%s\",\"to\":\"%s\",\"amount\":\"1.00\",\"unit\":\"HOUR\"}],\"memo\":\"for the pool\"}' \\\n", d.memberAccount, d.poolAccount)
	fmt.Fprintf(e.stdout, "         %s/v1/transfers\n", c.base)
	return nil
}

type demoLoader struct {
	c   *apiClient
	rng *rand.Rand

	already                                bool
	orgs, members, accounts, transfers     int
	coordName, coordToken                  string
	memberName, memberToken, memberAccount string
	poolAccount                            string
}

type idJSON struct {
	ID string `json:"id"`
}

func (d *demoLoader) post(ctx context.Context, path string, body any) (string, error) {
	var out idJSON
	if err := d.c.do(ctx, http.MethodPost, path, body, &out); err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	return out.ID, nil
}

func (d *demoLoader) org(ctx context.Context, parent, name, kind, city, region string) (string, error) {
	d.orgs++
	return d.post(ctx, "/v1/orgs", map[string]any{"name": name, "kind": kind, "parent_id": parent, "city": city, "region": region})
}

func (d *demoLoader) member(ctx context.Context, org, name, role string) (string, error) {
	d.members++
	return d.post(ctx, "/v1/orgs/"+org+"/members", map[string]any{"name": name, "role": role})
}

// account opens an account; owner is {"org": id} or {"member": id}.
func (d *demoLoader) account(ctx context.Context, owner map[string]string, org, unit, kind, name string, lower, upper string) (string, error) {
	d.accounts++
	body := map[string]any{"owner": owner, "unit": unit, "kind": kind, "name": name}
	if org != "" {
		body["org_id"] = org
	}
	if lower != "" {
		body["lower_bound"] = lower
	}
	if upper != "" {
		body["upper_bound"] = upper
	}
	return d.post(ctx, "/v1/accounts", body)
}

type leg struct{ from, to, amount, unit string }

func (d *demoLoader) transfer(ctx context.Context, memo string, pending bool, legs ...leg) (string, error) {
	ps := make([]map[string]string, len(legs))
	for i, l := range legs {
		ps[i] = map[string]string{"from": l.from, "to": l.to, "amount": l.amount, "unit": l.unit}
	}
	body := map[string]any{"postings": ps, "memo": memo}
	if pending {
		body["pending"] = true
	}
	d.transfers++
	return d.post(ctx, "/v1/transfers", body)
}

func (d *demoLoader) token(ctx context.Context, member, name string) (string, error) {
	var out struct {
		Secret string `json:"secret"`
	}
	if err := d.c.do(ctx, http.MethodPost, "/v1/tokens", map[string]any{"member_id": member, "name": name}, &out); err != nil {
		return "", fmt.Errorf("POST /v1/tokens: %w", err)
	}
	return out.Secret, nil
}

// hours returns a random amount of hours between 0.5 and 4, in halves.
func (d *demoLoader) hours() string {
	h := 1 + d.rng.IntN(8)
	return fmt.Sprintf("%d.%d", h/2, 5*(h%2))
}

func (d *demoLoader) load(ctx context.Context) (err error) {
	// Errors from here on are wrapped once with where they happened.
	must := func(id string, e error) string {
		if err == nil && e != nil {
			err = e
		}
		return id
	}

	orgs, err := d.c.orgs(ctx)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		if o.Name == demoTimeBank {
			d.already = true
			return nil
		}
	}
	network, err := networkID(orgs)
	if err != nil {
		return err
	}
	for _, u := range []struct {
		code  string
		scale int
		name  string
	}{{"HOUR", 2, "hour of someone's time"}, {"USD", 2, "US dollar"}, {"KG_PRODUCE", 3, "kilogram of fresh produce"}} {
		if err := d.c.ensureUnit(ctx, u.code, u.scale, u.name); err != nil {
			return err
		}
	}

	// Three cities.
	oaxaca := must(d.org(ctx, network, "Asamblea Comunitaria de Oaxaca", "local", "Oaxaca", "mx-south"))
	detroit := must(d.org(ctx, network, "Detroit Mutual Aid Network", "local", "Detroit", "us-east"))
	montreal := must(d.org(ctx, network, "Fédération solidaire de Montréal", "local", "Montréal", "ca-east"))
	if err != nil {
		return err
	}

	// The time bank: a coordinator, members with hour accounts (10 h of
	// credit, 40 h cap) and a community pool.
	tb := must(d.org(ctx, oaxaca, demoTimeBank, "timebank", "Oaxaca", "mx-south"))
	d.coordName = "Rosa Hernández"
	coord := must(d.member(ctx, tb, d.coordName, "coordinator"))
	pool := must(d.account(ctx, map[string]string{"org": tb}, "", "HOUR", "pool", "community pool", "0", ""))
	d.poolAccount = pool
	names := []string{"Ana López", "Bruno García", "Carmen Ruiz", "Diego Martínez", "Elena Santos",
		"Fernando Cruz", "Gabriela Mendoza", "Hugo Ramírez", "Inés Torres", "Joaquín Vargas"}
	var hourAccounts []string
	for i, n := range names {
		m := must(d.member(ctx, tb, n, "member"))
		acc := must(d.account(ctx, map[string]string{"member": m}, tb, "HOUR", "member", n+" — hours", "-10", "40"))
		hourAccounts = append(hourAccounts, acc)
		if i == 0 {
			d.memberName, d.memberAccount = n, acc
			d.memberToken = must(d.token(ctx, m, "demo"))
		}
	}
	if err != nil {
		return err
	}
	d.coordToken = must(d.token(ctx, coord, "demo"))

	// A neighborhood council in Montréal with a few members.
	council := must(d.org(ctx, montreal, "Conseil de quartier du Plateau", "council", "Montréal", "ca-east"))
	var plateau []string
	for _, n := range []string{"Marie Tremblay", "Jean Gagnon", "Sophie Roy"} {
		m := must(d.member(ctx, council, n, "member"))
		plateau = append(plateau, must(d.account(ctx, map[string]string{"member": m}, council, "HOUR", "member", n+" — heures", "-5", "")))
	}

	// Detroit: two co-ops and a municipal department, in USD and produce.
	food := must(d.org(ctx, detroit, "Eastside Food Co-op", "coop", "Detroit", "us-east"))
	tools := must(d.org(ctx, detroit, "Detroit Tool Library & Kitchen Co-op", "coop", "Detroit", "us-east"))
	city := must(d.org(ctx, detroit, "City of Detroit — Department of Neighborhoods", "municipality", "Detroit", "us-east"))
	bank := must(d.account(ctx, map[string]string{"org": network}, "", "USD", "external", "bank (money in and out)", "", ""))
	farms := must(d.account(ctx, map[string]string{"org": network}, "", "KG_PRODUCE", "external", "farms (produce grown)", "", ""))
	foodUSD := must(d.account(ctx, map[string]string{"org": food}, "", "USD", "organization", "Eastside Food Co-op — USD", "0", ""))
	foodKG := must(d.account(ctx, map[string]string{"org": food}, "", "KG_PRODUCE", "organization", "Eastside Food Co-op — produce", "0", ""))
	toolsUSD := must(d.account(ctx, map[string]string{"org": tools}, "", "USD", "organization", "Tool Library — USD", "0", ""))
	toolsKG := must(d.account(ctx, map[string]string{"org": tools}, "", "KG_PRODUCE", "organization", "Tool Library kitchen — produce", "0", ""))
	cityUSD := must(d.account(ctx, map[string]string{"org": city}, "", "USD", "organization", "Neighborhoods grants budget", "0", ""))
	if err != nil {
		return err
	}

	// Money and produce arrive from outside.
	must(d.transfer(ctx, "municipal budget allocation", false, leg{bank, cityUSD, "50000.00", "USD"}))
	must(d.transfer(ctx, "members' share capital", false, leg{bank, foodUSD, "5000.00", "USD"}))
	must(d.transfer(ctx, "members' share capital", false, leg{bank, toolsUSD, "3000.00", "USD"}))
	must(d.transfer(ctx, "season's harvest", false, leg{farms, foodKG, "2000.000", "KG_PRODUCE"}))

	// Time-bank exchanges: hours move from the one who received help to
	// the one who gave it.
	services := []string{"bike repair", "ride to the clinic", "childcare", "Spanish lesson", "garden work",
		"fixing a laptop", "cooking for a neighbor", "elder care visit", "moving boxes", "sewing repairs"}
	// try posts a transfer the accounts' limits may refuse (a member past
	// her credit limit or at her cap): refused transfers are skipped, as
	// they would be in real life; any other failure stops the demo.
	try := func(memo string, pending bool, legs ...leg) {
		_, e := d.transfer(ctx, memo, pending, legs...)
		var ae *apiError
		if errors.As(e, &ae) && ae.Status == http.StatusUnprocessableEntity {
			d.transfers--
			return
		}
		must("", e)
	}
	for i := 0; i < 200 && err == nil; i++ {
		a := d.rng.IntN(len(hourAccounts))
		b := (a + 1 + d.rng.IntN(len(hourAccounts)-1)) % len(hourAccounts)
		try(services[d.rng.IntN(len(services))], false, leg{hourAccounts[a], hourAccounts[b], d.hours(), "HOUR"})
	}
	// Donations to the pool, and grants from it to those who cannot give back.
	for i := 0; i < 20 && err == nil; i++ {
		try("donation to the community pool", false, leg{hourAccounts[d.rng.IntN(len(hourAccounts))], pool, "1.00", "HOUR"})
	}
	for i := 0; i < 8 && err == nil; i++ {
		try("grant from the community pool", false, leg{pool, hourAccounts[d.rng.IntN(len(hourAccounts))], "1.50", "HOUR"})
	}
	// Agreed exchanges not yet done: holds reserve the hours.
	for i := 0; i < 6 && err == nil; i++ {
		try("agreed: help with the market stall", true, leg{hourAccounts[i], hourAccounts[i+1], "2.00", "HOUR"})
	}
	// Plateau neighbors help each other.
	for i := 0; i < 15 && err == nil; i++ {
		must(d.transfer(ctx, "snow shovelling", false, leg{plateau[i%3], plateau[(i+1)%3], "1.00", "HOUR"}))
	}
	// Co-op trade: produce for money, in one transfer.
	for i := 0; i < 30 && err == nil; i++ {
		kg := 10 + d.rng.IntN(40)
		must(d.transfer(ctx, "produce for the community kitchen", false,
			leg{foodKG, toolsKG, fmt.Sprintf("%d.000", kg), "KG_PRODUCE"},
			leg{toolsUSD, foodUSD, fmt.Sprintf("%d.00", 2*kg), "USD"}))
	}
	// Municipal grants to the co-ops.
	for i := 0; i < 10 && err == nil; i++ {
		to := foodUSD
		if i%2 == 1 {
			to = toolsUSD
		}
		must(d.transfer(ctx, "neighborhood grant", false, leg{cityUSD, to, fmt.Sprintf("%d.00", 500+100*d.rng.IntN(10)), "USD"}))
	}
	return err
}
