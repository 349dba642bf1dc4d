package httpapi

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// unitService creates and lists units for a principal, deciding itself
// who may; *exchange.Store implements it.
type unitService interface {
	CreateUnit(ctx context.Context, p exchange.Principal, u ledger.Unit) (ledger.Unit, error)
	Units(ctx context.Context, p exchange.Principal) ([]ledger.Unit, error)
}

func (a *api) registerUnitRoutes(rt *router) {
	rt.write("/v1/units", a.createUnit)
	rt.read(http.MethodGet, "/v1/units", a.listUnits)
}

// unitJSON is a unit as the API shows it.
type unitJSON struct {
	Code      string    `json:"code"`
	Scale     int32     `json:"scale"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func toUnitJSON(u ledger.Unit) unitJSON {
	return unitJSON{Code: u.Code, Scale: u.Scale, Name: u.Name, CreatedAt: u.CreatedAt.UTC()}
}

type createUnitRequest struct {
	Code  string `json:"code" validate:"required,max=32,line"`
	Scale *int32 `json:"scale" validate:"required,min=0,max=18"`
	Name  string `json:"name" validate:"max=200,line"`
}

// createUnit creates a unit: network admins only, since every organization
// shares the units.
func (a *api) createUnit(w http.ResponseWriter, r *http.Request) error {
	var req createUnitRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	u, err := a.units.CreateUnit(r.Context(), principal(r), ledger.Unit{Code: req.Code, Scale: *req.Scale, Name: req.Name})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toUnitJSON(u))
}

// listUnits lists the units by code. Any member may read them.
func (a *api) listUnits(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageQuery(r, "units")
	if err != nil {
		return err
	}
	units, err := a.units.Units(r.Context(), principal(r))
	if err != nil {
		return err
	}
	// Units are few and cached by clients; the ledger lists them whole and
	// the page is cut here, in Go's byte order of codes (the database's
	// collation may order underscores otherwise).
	sort.Slice(units, func(i, j int) bool { return units[i].Code < units[j].Code })
	start := sort.Search(len(units), func(i int) bool { return units[i].Code > after })
	page := units[start:]
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = cursor("units", page[limit-1].Code)
	}
	items := make([]unitJSON, len(page))
	for i, u := range page {
		items[i] = toUnitJSON(u)
	}
	return writeJSON(w, http.StatusOK, newList(items, next))
}
