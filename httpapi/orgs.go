package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// orgService creates and reads organizations, deciding itself who may;
// *exchange.Store implements it (see its methods of the same names for the
// errors).
type orgService interface {
	AddOrg(ctx context.Context, p exchange.Principal, in exchange.NewOrg) (exchange.Org, error)
	Org(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Org, error)
	Orgs(ctx context.Context, p exchange.Principal, page exchange.Page) ([]exchange.Org, uuid.UUID, error)
	SetOrgRegion(ctx context.Context, p exchange.Principal, orgID uuid.UUID, region string) (exchange.Org, error)
}

func (a *api) registerOrgRoutes(rt *router) {
	rt.write("/v1/orgs", a.createOrg)
	rt.read(http.MethodGet, "/v1/orgs", a.listOrgs)
	rt.read(http.MethodGet, "/v1/orgs/{id}", a.getOrg)
	rt.put("/v1/orgs/{id}/region", a.putOrgRegion)
	rt.read(http.MethodGet, "/v1/orgs/{id}/rollup", a.getRollup)
}

// orgJSON is an organization as the API shows it. parent_id is null only
// for the network.
type orgJSON struct {
	ID         uuid.UUID  `json:"id"`
	ParentID   *uuid.UUID `json:"parent_id"`
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	City       string     `json:"city"`
	Region     string     `json:"region"`
	Membership string     `json:"membership"`
	CreatedAt  time.Time  `json:"created_at"`
}

func toOrgJSON(o exchange.Org) orgJSON {
	return orgJSON{
		ID: o.ID, ParentID: o.ParentID, Name: o.Name, Kind: string(o.Kind), City: o.City, Region: o.Region,
		Membership: string(o.Membership), CreatedAt: o.CreatedAt.UTC(),
	}
}

// createOrgRequest names every kind, network included, so that asking for
// a network gets its own explanation rather than a list of kinds.
type createOrgRequest struct {
	Name     string `json:"name" validate:"required,max=200,line"`
	Kind     string `json:"kind" validate:"required,oneof=network local council timebank coop municipality"`
	ParentID string `json:"parent_id" validate:"required,uuid"`
	City     string `json:"city" validate:"max=200,line"`
	// Region is the home region; left out, the parent's.
	Region     string `json:"region" validate:"max=64,line"`
	Membership string `json:"membership" validate:"omitempty,oneof=member partner"`
}

// createOrg creates an organization under parent_id, for whoever acts for
// the parent (its coordinators, those above it, the admin). The network is
// not made here: there is one, made when the server first starts.
//
// With an Idempotency-Key the organization's id is derived from the key, so
// that a retry after a crash finds the organization made the first time.
func (a *api) createOrg(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req createOrgRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	if req.Kind == string(exchange.KindNetwork) {
		return invalidField("kind", "kind network cannot be created: there is one network organization, made when the server first starts")
	}
	parent := uuid.MustParse(req.ParentID)
	in := exchange.NewOrg{
		ID: keyedID(r, "org"), ParentID: &parent, Name: req.Name, Kind: exchange.Kind(req.Kind),
		City: req.City, Region: req.Region, Membership: exchange.MembershipType(req.Membership),
	}
	o, err := a.orgs.AddOrg(ctx, principal(r), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/orgs/"+o.ID.String())
	return writeJSON(w, http.StatusCreated, toOrgJSON(o))
}

// listOrgs lists the organizations in id order (roughly creation order).
// Organizations are public within the network: any member may list them.
func (a *api) listOrgs(w http.ResponseWriter, r *http.Request) error {
	page, err := idPage(r, "orgs")
	if err != nil {
		return err
	}
	orgs, next, err := a.orgs.Orgs(r.Context(), principal(r), page)
	if err != nil {
		return err
	}
	items := make([]orgJSON, len(orgs))
	for i, o := range orgs {
		items[i] = toOrgJSON(o)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("orgs", next)))
}

// getOrg shows an organization to any member.
func (a *api) getOrg(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	o, err := a.orgs.Org(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toOrgJSON(o))
}

// orgRegionRequest moves an organization to another home region; "" gives
// it its parent's.
type orgRegionRequest struct {
	Region *string `json:"region" validate:"required,max=64,line"`
}

// putOrgRegion moves an organization, those below it that shared its
// region, and every row they own to another home region, for the network
// admin only (see exchange.Store.SetOrgRegion). It answers the
// organization as moved; sending the same region again changes nothing.
func (a *api) putOrgRegion(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req orgRegionRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	o, err := a.orgs.SetOrgRegion(r.Context(), principal(r), id, *req.Region)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toOrgJSON(o))
}
