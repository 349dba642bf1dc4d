package exchange_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/ledger"
)

// The directory is read without a principal, leaves the network out, and
// pages through every other organization.
func TestDirectory(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	net := e.org(t, nil, exchange.KindNetwork, "Red Mutual")
	city := e.org(t, &net, exchange.KindLocal, "Asamblea de Oaxaca")
	tb := e.org(t, &city, exchange.KindTimebank, "Barrio Time Bank")

	first, next, err := e.ex.Directory(ctx, exchange.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || first[0].ID != city.ID || next != city.ID {
		t.Fatalf("first page = %v, next %v; want the city's assembly alone", first, next)
	}
	rest, next, err := e.ex.Directory(ctx, exchange.Page{Limit: 1, After: next})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].ID != tb.ID || rest[0].Name != "Barrio Time Bank" || rest[0].Kind != exchange.KindTimebank || next != uuid.Nil {
		t.Fatalf("second page = %+v, next %v; want the time bank, and no page after", rest, next)
	}
	if _, _, err := e.ex.Directory(ctx, exchange.Page{Limit: exchange.MaxLimit + 1}); !errors.Is(err, ledger.ErrInvalidRequest) {
		t.Errorf("a limit too large: %v", err)
	}

	if _, err := e.led.CreateUnit(ctx, ledger.Unit{Code: "USD", Scale: 2}); err != nil {
		t.Fatal(err)
	}
	if u, err := e.ex.PublicUnit(ctx, "USD"); err != nil || u.Scale != 2 {
		t.Errorf("PublicUnit = %+v, %v", u, err)
	}
	if _, err := e.ex.PublicUnit(ctx, "XYZ"); !errors.Is(err, ledger.ErrUnknownUnit) {
		t.Errorf("an unknown unit: %v", err)
	}
	if o, err := e.ex.PublicOrg(ctx, tb.ID); err != nil || o.ID != tb.ID {
		t.Errorf("PublicOrg = %+v, %v", o, err)
	}
	if _, err := e.ex.PublicOrg(ctx, uuid.New()); !errors.Is(err, exchange.ErrUnknownOrg) {
		t.Errorf("an unknown organization: %v", err)
	}
}
