package web

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// homeService is what the home page reads.
type homeService interface {
	// Org returns an organization p may see.
	Org(ctx context.Context, p exchange.Principal, id uuid.UUID) (exchange.Org, error)
}

func (s *Server) registerHomePages() {
	s.member("GET /home", s.home)
}

// homeOrg is one of my organizations, with my role in it.
type homeOrg struct {
	Name, Role string
}

type homeData struct {
	Orgs []homeOrg
}

// home is a signed-in member's page: their name and organizations.
func (s *Server) home(w http.ResponseWriter, r *Request) error {
	m, err := s.ex.Member(r.Context(), *r.Principal, r.Principal.MemberID)
	if err != nil {
		return err
	}
	var d homeData
	for _, ms := range m.Memberships {
		o, err := s.ex.Org(r.Context(), *r.Principal, ms.OrgID)
		if err != nil {
			return err
		}
		d.Orgs = append(d.Orgs, homeOrg{Name: o.Name, Role: r.Lang.T("role." + string(ms.Role))})
	}
	return s.render(w, r, http.StatusOK, "home", "home.title", nil, d)
}
