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
API: three cities; a time bank in Oaxaca with time-bank rules (credit limit,
cap, community pool), members, offers and needs, and agreements at every
stage; two co-ops and a municipal department in Detroit trading produce for
money and giving in-kind support; a neighborhood council in Montréal; the
network's solidarity fund with contributions and a disbursed grant; and a
few hundred transfers. It needs the admin's token (--token, MUTUAL_TOKEN, or
DATA_DIR/admin-token), and prints tokens for a coordinator and a member to
try the API with.`

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
	fmt.Fprintf(e.stdout, "and %d listings, %d agreements, %d trades, a fund with %d contributions and a grant\n",
		d.listings, d.agreements, d.trades, d.contributions)
	fmt.Fprintf(e.stdout, "\nTry the API as the time bank's coordinator (%s):\n    %s\n", d.coordName, d.coordToken)
	fmt.Fprintf(e.stdout, "and as a member (%s), whose hour account is %s:\n    %s\n\n", d.memberName, d.memberAccount, d.memberToken)
	fmt.Fprintf(e.stdout, "    curl -H 'Authorization: Bearer %s' %s/v1/accounts/%s\n", d.memberToken, c.base, d.memberAccount)
	fmt.Fprintf(e.stdout, "\n%s gives an hour to the time bank's community pool (%s):\n\n", d.memberName, d.poolAccount)
	fmt.Fprintf(e.stdout, "    curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -H 'Idempotency-Key: gift-1' \\\n", d.memberToken)
	fmt.Fprintf(e.stdout, "         -d '{\"amount\":\"1.00\",\"memo\":\"for the pool\"}' %s/v1/orgs/%s/timebank/donations\n", c.base, d.timebank)
	fmt.Fprintf(e.stdout, "\n%s's agreements, and the notifications waiting for her:\n\n", d.memberName)
	fmt.Fprintf(e.stdout, "    curl -H 'Authorization: Bearer %s' %s/v1/agreements\n", d.memberToken, c.base)
	fmt.Fprintf(e.stdout, "    curl -H 'Authorization: Bearer %s' %s/v1/me/notifications\n", d.memberToken, c.base)
	fmt.Fprintf(e.stdout, "\nThe fund's public report needs no token:\n\n    curl %s/v1/funds/%s/report\n", c.base, d.fund)
	// Sign-in links for the pages: a one-time code for a neighbor and one
	// for the coordinator, as a coordinator would give them out.
	fmt.Fprintf(e.stdout, "\nOr use the pages (%s/). Sign in within 15 minutes with these one-time codes:\n", c.base)
	for _, who := range []struct{ name, id string }{{d.memberName, d.memberID}, {d.coordName, d.coordID}} {
		var code struct {
			Code string `json:"code"`
		}
		if err := c.do(ctx, http.MethodPost, "/v1/members/"+who.id+"/signin-codes", nil, &code); err != nil {
			return fmt.Errorf("a sign-in code for %s: %w", who.name, err)
		}
		fmt.Fprintf(e.stdout, "    %s: %s/signin?member=%s  code %s\n", who.name, c.base, who.id, code.Code)
	}
	fmt.Fprintf(e.stdout, "(a coordinator issues new codes from a member's page under Coordinate).\n")
	return nil
}

type demoLoader struct {
	c   *apiClient
	rng *rand.Rand

	already                                      bool
	orgs, members, accounts, transfers, listings int
	agreements, trades, contributions            int
	coordName, coordToken, coordID               string
	memberName, memberToken, memberAccount       string
	memberID                                     string
	poolAccount, fund, timebank                  string
}

type idJSON struct {
	ID string `json:"id"`
}

func (d *demoLoader) post(ctx context.Context, path string, body any) (string, error) {
	return d.postAs(ctx, d.c, path, body)
}

// postAs posts as the client c, which holds another member's token.
func (d *demoLoader) postAs(ctx context.Context, c *apiClient, path string, body any) (string, error) {
	var out idJSON
	if err := c.do(ctx, http.MethodPost, path, body, &out); err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	return out.ID, nil
}

// as returns a client that acts with a member's token.
func (d *demoLoader) as(token string) *apiClient {
	c := *d.c
	c.token = token
	return &c
}

// admit admits a new member to an organization and returns them with the
// account the organization's time-bank rules opened for them, if any.
func (d *demoLoader) admit(ctx context.Context, org, name, role string) (member, account string, err error) {
	var out struct {
		ID        string `json:"id"`
		AccountID string `json:"account_id"`
	}
	if err := d.c.do(ctx, http.MethodPost, "/v1/orgs/"+org+"/members", map[string]any{"name": name, "role": role}, &out); err != nil {
		return "", "", fmt.Errorf("POST /v1/orgs/%s/members: %w", org, err)
	}
	d.members++
	if out.AccountID != "" {
		d.accounts++
	}
	return out.ID, out.AccountID, nil
}

// service is one kind of help neighbors give each other in the demo: what
// an offer and a need for it say, and the category that matches them.
type service struct {
	offer, need, category, description string
}

// services are the demo time bank's kinds of help, each in its own
// category, so that a bike repair never matches a Spanish lesson.
var services = []service{
	{"I fix bikes: brakes, chains, flat tyres", "My bike needs new brakes", "repairs", "Bring it to my patio on Calle Jazmín; I have the tools."},
	{"Rides to the clinic in my car", "A ride to my hospital appointment", "transport", "Weekday mornings; the car has room for a wheelchair."},
	{"Babysitting after school", "Someone to pick up my kids from school", "childcare", "Two children, 6 and 9, from Escuela Benito Juárez at 2 pm."},
	{"Spanish conversation for newcomers", "Help practising Spanish for job interviews", "language", "One hour a week, at the library or in a café."},
	{"Help in your vegetable garden", "Help planting the community garden beds", "gardening", "Tomatoes, chiles and herbs; I bring seedlings."},
	{"I can set up and repair laptops", "My laptop is very slow and full of pop-ups", "tech", "Windows or Linux; I can also teach the basics."},
	{"Home-cooked meals for a neighbor", "Meals for my father while I work", "food", "Vegetarian on request; I cook for four anyway."},
	{"Visits and company for older neighbors", "Someone to visit my grandmother twice a week", "elder_care", "Reading, walks around the block, help with errands."},
	{"Strong arms for moving day", "Help carrying furniture to my new flat", "moving", "Second floor, no lift; about two hours."},
	{"Mending and hemming clothes", "School uniforms that need mending", "arts", "Sewing machine at home; bring what needs fixing."},
	{"Maths tutoring for secondary school", "Maths help for my son before his exams", "education", "Algebra and geometry, in Spanish or English."},
	{"Walking and feeding pets", "Someone to walk my dog while I recover", "pets", "A friendly old dog; twice a day for a week."},
}

// neighborhoods are where the demo's neighbors live, with a point in each.
var neighborhoods = []struct {
	name     string
	lat, lon float64
}{
	{"Jalatlaco", 17.0669, -96.7195},
	{"Xochimilco", 17.0735, -96.7262},
	{"Centro", 17.0608, -96.7254},
	{"Reforma", 17.0787, -96.7118},
	{"Trinidad de las Huertas", 17.0524, -96.7218},
}

// listing posts an offer or a need in org as the member c acts for, in
// the neighborhood at position place. Every other offer-and-need pair is
// public, as its neighbors chose, so that the time bank's printable board
// (/orgs/{id}/board) has some.
func (d *demoLoader) listing(ctx context.Context, c *apiClient, org, kind, title, description, category, quantity string, place int) (string, error) {
	d.listings++
	visibility := "org"
	if (d.listings-1)/2%2 == 0 {
		visibility = "public"
	}
	n := neighborhoods[place%len(neighborhoods)]
	return d.postAs(ctx, c, "/v1/listings", map[string]any{
		"org_id": org, "kind": kind, "title": title, "description": description, "category": category, "quantity": quantity,
		"place": map[string]any{"lat": n.lat, "lon": n.lon}, "city": "Oaxaca", "neighborhood": n.name,
		"visibility": visibility,
	})
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

	// The time bank: a coordinator sets its rules (10 h of credit, 40 h
	// cap), which opens its community pool; every member admitted then gets
	// an hour account with those bounds.
	tb := must(d.org(ctx, oaxaca, demoTimeBank, "timebank", "Oaxaca", "mx-south"))
	d.timebank = tb
	d.coordName = "Rosa Hernández"
	coord := must(d.member(ctx, tb, d.coordName, "coordinator"))
	d.coordID = coord
	d.coordToken = must(d.token(ctx, coord, "demo"))
	if err != nil {
		return err
	}
	rosa := d.as(d.coordToken)
	var rules struct {
		PoolAccount string `json:"pool_account"`
	}
	if e := rosa.do(ctx, http.MethodPut, "/v1/orgs/"+tb+"/timebank", map[string]any{"unit": "HOUR", "credit_limit": "10", "cap": "40"}, &rules); e != nil {
		return fmt.Errorf("PUT /v1/orgs/%s/timebank: %w", tb, e)
	}
	d.accounts++
	pool := rules.PoolAccount
	d.poolAccount = pool
	names := []string{"Ana López", "Bruno García", "Carmen Ruiz", "Diego Martínez", "Elena Santos",
		"Fernando Cruz", "Gabriela Mendoza", "Hugo Ramírez", "Inés Torres", "Joaquín Vargas"}
	var hourAccounts []string
	var neighbors []*apiClient // each member's client, with their own token
	for i, n := range names {
		m, acc, e := d.admit(ctx, tb, n, "member")
		must("", e)
		tok := must(d.token(ctx, m, "demo"))
		hourAccounts = append(hourAccounts, acc)
		neighbors = append(neighbors, d.as(tok))
		if i == 0 {
			d.memberName, d.memberAccount, d.memberToken, d.memberID = n, acc, tok, m
		}
	}
	if err != nil {
		return err
	}

	// A neighborhood council in Montréal with a few members.
	council := must(d.org(ctx, montreal, "Conseil de quartier du Plateau", "council", "Montréal", "ca-east"))
	var plateau []string
	for _, n := range []string{"Marie Tremblay", "Jean Gagnon", "Sophie Roy"} {
		m := must(d.member(ctx, council, n, "member"))
		plateau = append(plateau, must(d.account(ctx, map[string]string{"member": m}, council, "HOUR", "member", n+" — heures", "-5", "")))
	}

	// Detroit: two co-ops and a municipal department, in USD and produce,
	// each with a coordinator who acts for it.
	food := must(d.org(ctx, detroit, "Eastside Food Co-op", "coop", "Detroit", "us-east"))
	tools := must(d.org(ctx, detroit, "Detroit Tool Library & Kitchen Co-op", "coop", "Detroit", "us-east"))
	city := must(d.org(ctx, detroit, "City of Detroit — Department of Neighborhoods", "municipality", "Detroit", "us-east"))
	foodCoord := d.as(must(d.token(ctx, must(d.member(ctx, food, "Keisha Brown", "coordinator")), "demo")))
	toolsCoord := d.as(must(d.token(ctx, must(d.member(ctx, tools, "Marcus Lee", "coordinator")), "demo")))
	bank := must(d.account(ctx, map[string]string{"org": network}, "", "USD", "external", "bank (money in and out)", "", ""))
	farms := must(d.account(ctx, map[string]string{"org": network}, "", "KG_PRODUCE", "external", "farms (produce grown)", "", ""))
	foodUSD := must(d.account(ctx, map[string]string{"org": food}, "", "USD", "organization", "Eastside Food Co-op — USD", "0", ""))
	foodKG := must(d.account(ctx, map[string]string{"org": food}, "", "KG_PRODUCE", "organization", "Eastside Food Co-op — produce", "0", ""))
	toolsUSD := must(d.account(ctx, map[string]string{"org": tools}, "", "USD", "organization", "Tool Library — USD", "0", ""))
	toolsKG := must(d.account(ctx, map[string]string{"org": tools}, "", "KG_PRODUCE", "organization", "Tool Library kitchen — produce", "0", ""))
	cityUSD := must(d.account(ctx, map[string]string{"org": city}, "", "USD", "organization", "Neighborhoods grants budget", "0", ""))
	cityKG := must(d.account(ctx, map[string]string{"org": city}, "", "KG_PRODUCE", "organization", "Urban farms — produce", "0", ""))
	if err != nil {
		return err
	}

	// Money and produce arrive from outside.
	must(d.transfer(ctx, "municipal budget allocation", false, leg{bank, cityUSD, "50000.00", "USD"}))
	must(d.transfer(ctx, "members' share capital", false, leg{bank, foodUSD, "5000.00", "USD"}))
	must(d.transfer(ctx, "members' share capital", false, leg{bank, toolsUSD, "3000.00", "USD"}))
	must(d.transfer(ctx, "season's harvest", false, leg{farms, foodKG, "2000.000", "KG_PRODUCE"}))
	must(d.transfer(ctx, "urban farms' harvest", false, leg{farms, cityKG, "500.000", "KG_PRODUCE"}))

	// Time-bank exchanges: hours move from the one who received help to
	// the one who gave it.
	// try runs a request the accounts' limits may refuse (a member past her
	// credit limit or at her cap): refused requests are skipped, as they
	// would be in real life; any other failure stops the demo.
	try := func(e error) bool {
		var ae *apiError
		if errors.As(e, &ae) && ae.Status == http.StatusUnprocessableEntity {
			return false
		}
		must("", e)
		return e == nil
	}
	for i := 0; i < 200 && err == nil; i++ {
		a := d.rng.IntN(len(hourAccounts))
		b := (a + 1 + d.rng.IntN(len(hourAccounts)-1)) % len(hourAccounts)
		if _, e := d.transfer(ctx, services[d.rng.IntN(len(services))].offer, false, leg{hourAccounts[a], hourAccounts[b], d.hours(), "HOUR"}); !try(e) {
			d.transfers--
		}
	}
	// Members donate hours to the pool; the coordinator grants hours from
	// it to those who cannot give back.
	for i := 0; i < 20 && err == nil; i++ {
		_, e := d.postAs(ctx, neighbors[d.rng.IntN(len(neighbors))], "/v1/orgs/"+tb+"/timebank/donations", map[string]any{"amount": "1.00", "memo": "for the community pool"})
		if try(e) {
			d.transfers++
		}
	}
	for i := 0; i < 8 && err == nil; i++ {
		_, e := d.postAs(ctx, rosa, "/v1/orgs/"+tb+"/timebank/grants", map[string]any{
			"member_id": must(d.memberOf(ctx, hourAccounts[d.rng.IntN(len(hourAccounts))])), "amount": "1.50", "memo": "help from the pool"})
		if try(e) {
			d.transfers++
		}
	}

	// Offers and needs, and agreements at every stage: completed (the hours
	// moved), accepted (the hours held), proposed, cancelled.
	for i := 0; i < 8 && err == nil; i++ {
		giver, receiver := neighbors[i], neighbors[(i+1)%len(neighbors)]
		s := services[i]
		offer := must(d.listing(ctx, giver, tb, "offer", s.offer, s.description, s.category, "4.00", i))
		need := must(d.listing(ctx, receiver, tb, "need", s.need, "", s.category, "2.00", i+2))
		if err != nil {
			break
		}
		id := must(d.postAs(ctx, receiver, "/v1/agreements", map[string]any{"offer_id": offer, "need_id": need, "message": "Would Saturday morning work?"}))
		d.agreements++
		switch {
		case i == 6:
			continue // proposed, waiting for the giver
		case i == 7:
			must(d.postAs(ctx, receiver, "/v1/agreements/"+id+"/cancel", map[string]any{"reason": "a neighbor already helped"}))
			continue
		}
		if _, e := d.postAs(ctx, giver, "/v1/agreements/"+id+"/accept", nil); !try(e) || i >= 4 {
			continue // accepted: the receiver's hours are held until both confirm
		}
		must(d.postAs(ctx, receiver, "/v1/agreements/"+id+"/confirm", map[string]any{"quantity": "1.50"}))
		must(d.postAs(ctx, giver, "/v1/agreements/"+id+"/confirm", map[string]any{"quantity": "1.50"}))
		d.transfers++
	}
	// Open offers and needs that wait for a match: every kind of help is
	// offered by one neighbor and needed by another, in another part of town.
	for i, s := range services {
		if err != nil {
			break
		}
		must(d.listing(ctx, neighbors[(i+3)%len(neighbors)], tb, "offer", s.offer, s.description, s.category, "6.00", i+1))
		must(d.listing(ctx, neighbors[(i+5)%len(neighbors)], tb, "need", s.need, "", s.category, d.hours(), i+3))
	}
	// Plateau neighbors help each other.
	for i := 0; i < 15 && err == nil; i++ {
		must(d.transfer(ctx, "snow shovelling", false, leg{plateau[i%3], plateau[(i+1)%3], "1.00", "HOUR"}))
	}
	// Co-op trades: the food co-op proposes produce for money, the tool
	// library's kitchen accepts, and both legs move in one transfer.
	for i := 0; i < 15 && err == nil; i++ {
		kg := 10 + d.rng.IntN(40)
		id := must(d.postAs(ctx, foodCoord, "/v1/trades", map[string]any{
			"counterparty_org": tools, "memo": "produce for the community kitchen",
			"legs": []map[string]string{
				{"from_account": foodKG, "to_account": toolsKG, "amount": fmt.Sprintf("%d.000", kg), "unit": "KG_PRODUCE"},
				{"from_account": toolsUSD, "to_account": foodUSD, "amount": fmt.Sprintf("%d.00", 2*kg), "unit": "USD"},
			}}))
		must(d.postAs(ctx, toolsCoord, "/v1/trades/"+id+"/accept", nil))
		d.trades++
		d.transfers++
	}
	// Municipal grants to the co-ops, and in-kind support: produce from the
	// urban farms to the community kitchen.
	for i := 0; i < 10 && err == nil; i++ {
		to := foodUSD
		if i%2 == 1 {
			to = toolsUSD
		}
		must(d.transfer(ctx, "neighborhood grant", false, leg{cityUSD, to, fmt.Sprintf("%d.00", 500+100*d.rng.IntN(10)), "USD"}))
	}
	must(d.post(ctx, "/v1/transfers", map[string]any{
		"postings": []map[string]string{{"from": cityKG, "to": toolsKG, "amount": "50.000", "unit": "KG_PRODUCE"}},
		"memo":     "in-kind support: produce for the community kitchen",
		"metadata": map[string]string{"kind": "in_kind", "description": "50 kg of vegetables from the city's urban farms"},
	}))
	d.transfers++
	if err != nil {
		return err
	}
	return d.loadFund(ctx, foodUSD, toolsCoord, tools, toolsUSD)
}

// loadFund creates the network's solidarity fund: money from outside and
// from a co-op, a grant requested by the tool library, decided by a vote
// and disbursed.
func (d *demoLoader) loadFund(ctx context.Context, foodUSD string, toolsCoord *apiClient, tools, toolsUSD string) (err error) {
	must := func(id string, e error) string {
		if err == nil && e != nil {
			err = e
		}
		return id
	}
	d.fund = must(d.post(ctx, "/v1/funds", map[string]any{"name": "Red Mutual solidarity fund", "unit": "USD"}))
	d.accounts += 2
	if err != nil {
		return err
	}
	in := "/v1/funds/" + d.fund + "/contributions"
	must(d.post(ctx, in, map[string]any{"source": "Great Lakes Community Foundation", "amount": "10000.00", "memo": "yearly gift"}))
	must(d.post(ctx, in, map[string]any{"from_account": foodUSD, "amount": "250.00", "memo": "share of the season's surplus"}))
	d.contributions += 2
	d.transfers += 2
	grant := must(d.postAs(ctx, toolsCoord, "/v1/funds/"+d.fund+"/grants", map[string]any{
		"org_id": tools, "amount": "1500.00", "purpose": "A second oven for the community kitchen", "to_account": toolsUSD}))
	if err != nil {
		return err
	}
	must(d.post(ctx, "/v1/grants/"+grant+"/decision", map[string]any{
		"decision": "approve", "note": "approved at the assembly of 12 November", "votes": map[string]int{"for": 9, "against": 1, "abstain": 2}}))
	must(d.post(ctx, "/v1/grants/"+grant+"/disburse", nil))
	d.transfers++
	return err
}

// memberOf returns the member who owns an account.
func (d *demoLoader) memberOf(ctx context.Context, account string) (string, error) {
	var out struct {
		Owner struct {
			Member string `json:"member"`
		} `json:"owner"`
	}
	if err := d.c.do(ctx, http.MethodGet, "/v1/accounts/"+account, nil, &out); err != nil {
		return "", fmt.Errorf("GET /v1/accounts/%s: %w", account, err)
	}
	return out.Owner.Member, nil
}
