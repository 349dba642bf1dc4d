package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// myService is what a member's own view and leaving an organization need;
// *exchange.Store implements it (see its methods of the same names for the
// errors).
type myService interface {
	Me(ctx context.Context, p exchange.Principal) (exchange.MyView, error)
	Leave(ctx context.Context, p exchange.Principal, orgID, memberID uuid.UUID) (exchange.Departure, error)
}

func (a *api) my() myService { return a.auth.(myService) }

func (a *api) registerMyRoutes(rt *router) {
	rt.remove("/v1/orgs/{id}/members/{member_id}", a.leaveOrg)
}

// myOrgJSON is one of the caller's organizations and their role there.
type myOrgJSON struct {
	OrgID    uuid.UUID `json:"org_id"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// myAccountJSON is one of the caller's accounts: label is its name in
// exports and statements, org_id the organization it was opened for (null
// for none); posted is the sum of its entries, held what open holds
// reserve out of it, available posted less held.
type myAccountJSON struct {
	ID        uuid.UUID  `json:"id"`
	Label     string     `json:"label"`
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Status    string     `json:"status"`
	OrgID     *uuid.UUID `json:"org_id"`
	Unit      myUnitJSON `json:"unit"`
	Posted    string     `json:"posted"`
	Held      string     `json:"held"`
	Available string     `json:"available"`
}

// myUnitJSON is an account's unit, with its scale (the decimals amounts
// in it carry).
type myUnitJSON struct {
	Code  string `json:"code"`
	Scale int32  `json:"scale"`
	Name  string `json:"name"`
}

func toMyJSON(v exchange.MyView) ([]myOrgJSON, []myAccountJSON) {
	orgs := make([]myOrgJSON, len(v.Orgs))
	for i, o := range v.Orgs {
		orgs[i] = myOrgJSON{OrgID: o.OrgID, Name: o.Name, Kind: string(o.Kind), Role: string(o.Role), JoinedAt: o.JoinedAt.UTC()}
	}
	accts := make([]myAccountJSON, len(v.Accounts))
	for i, acc := range v.Accounts {
		scale := acc.UnitDef.Scale
		j := myAccountJSON{ID: acc.ID, Label: acc.Label, Name: acc.Name, Kind: string(acc.Kind), Status: string(acc.Status),
			Unit:   myUnitJSON{Code: acc.UnitDef.Code, Scale: scale, Name: acc.UnitDef.Name},
			Posted: acc.Posted.StringFixed(scale), Held: acc.PendingDebits.StringFixed(scale), Available: acc.Available.StringFixed(scale)}
		if acc.OrgID != uuid.Nil {
			org := acc.OrgID
			j.OrgID = &org
		}
		accts[i] = j
	}
	return orgs, accts
}

// departureJSON answers a departure.
type departureJSON struct {
	ID                uuid.UUID   `json:"id"`
	OrgID             uuid.UUID   `json:"org_id"`
	MemberID          uuid.UUID   `json:"member_id"`
	Role              string      `json:"role"`
	JoinedAt          time.Time   `json:"joined_at"`
	LeftAt            time.Time   `json:"left_at"`
	EndedBy           uuid.UUID   `json:"ended_by"`
	ClosedAccounts    []uuid.UUID `json:"closed_accounts"`
	WithdrawnListings int         `json:"withdrawn_listings"`
}

// leaveOrg ends a member's membership of an organization: the member
// leaves (their own id), or whoever acts for the organization removes
// them (only an admin removes an admin). Their accounts opened for the
// organization must be settled first (409 balance-not-settled, naming the
// account and what it holds) and their agreements there finished (409
// agreements-in-progress); those accounts are then closed and their open
// listings there withdrawn. The network's last admin cannot leave (409
// last-admin). A member who is not (or no longer) in the organization is
// 422 not-a-member.
func (a *api) leaveOrg(w http.ResponseWriter, r *http.Request) error {
	orgID, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	memberID, err := parseID(r, "member_id", notFoundMemberPath)
	if err != nil {
		return err
	}
	d, err := a.my().Leave(r.Context(), principal(r), orgID, memberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, departureJSON{ID: d.ID, OrgID: d.OrgID, MemberID: d.MemberID, Role: string(d.Role),
		JoinedAt: d.JoinedAt.UTC(), LeftAt: d.LeftAt.UTC(), EndedBy: d.EndedBy, ClosedAccounts: d.ClosedAccounts,
		WithdrawnListings: d.WithdrawnListings})
}
