package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
)

// placedListing posts a listing of two hours at (lat, -3).
func (w *world) placedListing(a actor, org exchange.Org, kind exchange.ListingKind, lat float64) exchange.Listing {
	w.t.Helper()
	l, err := w.ex.CreateListing(context.Background(), exchange.System(), exchange.NewListing{
		OrgID: org.ID, Owner: a.id, Kind: kind, Title: string(kind) + " food", Category: "food",
		Quantity: decimal.NewFromInt(2), Place: exchange.Point{Lat: lat, Lon: -3}, Visibility: exchange.VisibilityPublic,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

type proposal struct {
	Assignments []struct {
		Need, Offer string
		Score       struct{ Total, Km float64 }
		Reasons     []struct {
			Code string
			Km   *float64
		}
	} `json:"assignments"`
	UnassignedNeeds  []string `json:"unassigned_needs"`
	TotalScore       float64  `json:"total_score"`
	GreedyTotalScore float64  `json:"greedy_total_score"`
	Exact            bool     `json:"exact"`
}

// TestProposalBeatsGreedy: two needs compete for one offer that has room for
// one. Need A is at offer X and 5.6 km from offer Y; need B is 20 km from X
// and beyond the matcher's 25 km from Y. Greedy gives X to A and leaves B
// without help; the optimal assignment gives A Y and B X.
func TestProposalBeatsGreedy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	needA := w.placedListing(w.ana, w.timebank, exchange.Need, 0)
	needB := w.placedListing(w.ben, w.timebank, exchange.Need, -0.18)
	offerX := w.placedListing(w.cam, w.coop, exchange.Offer, 0)
	offerY := w.placedListing(w.cam, w.coop, exchange.Offer, 0.05)
	// A need of another organization is not the time bank's to assign.
	w.placedListing(w.cam, w.coop, exchange.Need, 0)

	r := w.call("POST", "/v1/matching/proposals", w.coordTB.token, map[string]any{"org_id": w.timebank.ID.String()})
	if r.status != 200 {
		t.Fatalf("proposal: %s", r)
	}
	var p proposal
	r.decode(t, &p)
	got := map[string]string{}
	perOffer := map[string]int{}
	for _, a := range p.Assignments {
		got[a.Need] = a.Offer
		perOffer[a.Offer]++
		if !(a.Score.Total > 0) {
			t.Errorf("assignment %+v has no score", a)
		}
		// Each pair says why, as a ranked match does: same category, how
		// far (the score's km), any time, nobody helped lately.
		var codes []string
		for _, r := range a.Reasons {
			codes = append(codes, r.Code)
			if r.Code == "distance" && (r.Km == nil || *r.Km != a.Score.Km) {
				t.Errorf("distance reason %v km, score %v km", r.Km, a.Score.Km)
			}
		}
		if strings.Join(codes, ",") != "category_exact,distance,time_any,fairness_new" {
			t.Errorf("reasons %v, want category_exact, distance, time_any, fairness_new", codes)
		}
	}
	if len(p.Assignments) != 2 || got[needA.ID.String()] != offerY.ID.String() || got[needB.ID.String()] != offerX.ID.String() {
		t.Fatalf("assignments %+v, want A→Y and B→X", p.Assignments)
	}
	// Each offer holds two hours and each need asks for two: one need each.
	for offer, n := range perOffer {
		if n > 1 {
			t.Errorf("offer %s assigned %d needs, beyond its capacity", offer, n)
		}
	}
	if len(p.UnassignedNeeds) != 0 || !p.Exact {
		t.Errorf("unassigned %v, exact %v", p.UnassignedNeeds, p.Exact)
	}
	if !(p.TotalScore >= p.GreedyTotalScore) || !(p.TotalScore > p.GreedyTotalScore) {
		t.Errorf("total %v, greedy %v: want strictly better than greedy", p.TotalScore, p.GreedyTotalScore)
	}

	// With one candidate per need the choice is greedy's: A→X, B left out.
	r = w.call("POST", "/v1/matching/proposals", w.admin.token, map[string]any{
		"org_id": w.timebank.ID.String(), "unit": "HOUR", "candidates_per_need": 1, "limit_needs": 10})
	if r.status != 200 {
		t.Fatalf("proposal with one candidate: %s", r)
	}
	var one proposal
	r.decode(t, &one)
	if len(one.Assignments) != 1 || one.Assignments[0].Need != needA.ID.String() || one.Assignments[0].Offer != offerX.ID.String() ||
		len(one.UnassignedNeeds) != 1 || one.UnassignedNeeds[0] != needB.ID.String() || one.TotalScore != one.GreedyTotalScore {
		t.Errorf("one candidate per need: %+v", one)
	}

	// Nothing was written: every listing is still open.
	for _, l := range []exchange.Listing{needA, needB, offerX, offerY} {
		if got := w.must(w.call("GET", "/v1/listings/"+l.ID.String(), w.admin.token, nil), 200); got["status"] != "open" {
			t.Errorf("listing %s is %v after a proposal", l.ID, got["status"])
		}
	}
}

func TestProposalRefuses(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tb := w.timebank.ID.String()
	w.problem(w.call("POST", "/v1/matching/proposals", w.ana.token, map[string]any{"org_id": tb}), 403, "forbidden")
	w.problem(w.call("POST", "/v1/matching/proposals", w.coordCoop.token, map[string]any{"org_id": tb}), 403, "forbidden")
	cases := []struct {
		name   string
		body   map[string]any
		status int
		typ    string
		field  string
	}{
		{"no org", map[string]any{}, 422, "validation-failed", "org_id"},
		{"org not a uuid", map[string]any{"org_id": "riverside"}, 422, "validation-failed", "org_id"},
		{"limit over max", map[string]any{"org_id": tb, "limit_needs": 10001}, 422, "validation-failed", "limit_needs"},
		{"limit zero", map[string]any{"org_id": tb, "limit_needs": 0}, 422, "validation-failed", "limit_needs"},
		{"too many candidates", map[string]any{"org_id": tb, "candidates_per_need": 51}, 422, "validation-failed", "candidates_per_need"},
		{"unknown unit", map[string]any{"org_id": tb, "unit": "GOLD"}, 404, "not-found", "unit"},
		{"unknown org", map[string]any{"org_id": "00000000-0000-4000-8000-000000000001"}, 404, "not-found", "org_id"},
		{"unknown field", map[string]any{"org_id": tb, "region": "Riverside"}, 400, "malformed-request", "region"},
	}
	for _, c := range cases {
		p := w.problem(w.call("POST", "/v1/matching/proposals", w.admin.token, c.body), c.status, c.typ)
		if !hasField(p, c.field) {
			t.Errorf("%s: no field %s in %+v", c.name, c.field, p)
		}
	}
}

// TestProposalCoversACity: a proposal for a city's assembly takes the open
// needs of every group under it, and city narrows them to one city.
func TestProposalCoversACity(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	post := func(a actor, org exchange.Org, kind exchange.ListingKind, city string) exchange.Listing {
		l, err := w.ex.CreateListing(ctx, exchange.System(), exchange.NewListing{
			OrgID: org.ID, Owner: a.id, Kind: kind, Title: string(kind) + " food", Category: "food", City: city,
			Quantity: decimal.NewFromInt(1), Place: exchange.Point{Lat: 0, Lon: -3}, Visibility: exchange.VisibilityPublic,
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	tbNeed := post(w.ana, w.timebank, exchange.Need, "Riverside")
	coopNeed := post(w.cam, w.coop, exchange.Need, "Riverside")
	otherCity := post(w.ben, w.timebank, exchange.Need, "Hillview")
	post(w.coordCoop, w.coop, exchange.Offer, "Riverside")
	post(w.coordTB, w.timebank, exchange.Offer, "Riverside")
	post(w.coordTB, w.timebank, exchange.Offer, "Riverside")

	needsOf := func(body map[string]any) map[string]bool {
		t.Helper()
		var p proposal
		r := w.call("POST", "/v1/matching/proposals", w.admin.token, body)
		if r.status != 200 {
			t.Fatalf("proposal: %s", r)
		}
		r.decode(t, &p)
		out := map[string]bool{}
		for _, a := range p.Assignments {
			out[a.Need] = true
		}
		for _, n := range p.UnassignedNeeds {
			out[n] = true
		}
		return out
	}
	all := needsOf(map[string]any{"org_id": w.local.ID.String()})
	if !all[tbNeed.ID.String()] || !all[coopNeed.ID.String()] || !all[otherCity.ID.String()] || len(all) != 3 {
		t.Errorf("the assembly's proposal covers %v, want the needs of both its groups", all)
	}
	riverside := needsOf(map[string]any{"org_id": w.local.ID.String(), "city": "Riverside"})
	if !riverside[tbNeed.ID.String()] || !riverside[coopNeed.ID.String()] || len(riverside) != 2 {
		t.Errorf("Riverside's proposal covers %v, want its two needs", riverside)
	}
	if tb := needsOf(map[string]any{"org_id": w.timebank.ID.String()}); tb[coopNeed.ID.String()] {
		t.Errorf("the time bank's proposal took the co-op's need: %v", tb)
	}
}

// TestMatchesWeighFairness: Ben and Carl offer the same help at the same
// place, but Ben was asked for three agreements this month; Ana's need ranks
// Carl's offer first, and Ben's score shows why.
func TestMatchesWeighFairness(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	ben, err := w.ex.Authenticate(ctx, w.ben.token)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		offer := w.placedListing(w.ben, w.timebank, exchange.Offer, 1)
		need := w.placedListing(w.ana, w.timebank, exchange.Need, 1)
		if _, err := w.ex.ProposeAgreement(ctx, ben, exchange.NewAgreement{OfferID: offer.ID, NeedID: need.ID}); err != nil {
			t.Fatal(err)
		}
	}
	need := w.placedListing(w.ana, w.timebank, exchange.Need, 0)
	benOffer := w.placedListing(w.ben, w.timebank, exchange.Offer, 0)
	carlOffer := w.placedListing(w.coordCoop, w.coop, exchange.Offer, 0)

	items := w.must(w.call("GET", "/v1/listings/"+need.ID.String()+"/matches", w.ana.token, nil), 200)["items"].([]any)
	fairness := map[string]float64{}
	var order []string
	for _, it := range items {
		m := it.(map[string]any)
		id := m["listing"].(map[string]any)["id"].(string)
		order = append(order, id)
		fairness[id] = m["score"].(map[string]any)["fairness"].(float64)
	}
	if len(order) < 2 || order[0] != carlOffer.ID.String() {
		t.Errorf("matches in order %v, want Carl's offer %s first", order, carlOffer.ID)
	}
	if f := fairness[benOffer.ID.String()]; !(f < fairness[carlOffer.ID.String()]) {
		t.Errorf("Ben's fairness part %v, Carl's %v: Ben was asked three times this month", f, fairness[carlOffer.ID.String()])
	}
}
