package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mutual-ledger/mutual/exchange"
)

// auditStore reads the audit log, lends a coordinator a member's rights
// (the Mutual-On-Behalf-Of header), erases members and settles their
// balances with a time bank's pool, deciding itself who may;
// *exchange.Store implements it (see its methods of the same names for the
// errors).
type auditStore interface {
	OrgAudit(ctx context.Context, p exchange.Principal, orgID uuid.UUID, f exchange.AuditFilter, pg exchange.Page) ([]exchange.AuditEvent, uuid.UUID, error)
	MemberAudit(ctx context.Context, p exchange.Principal, memberID uuid.UUID, f exchange.AuditFilter, pg exchange.Page) ([]exchange.AuditEvent, uuid.UUID, error)
	ActFor(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (exchange.Principal, error)
	EraseMember(ctx context.Context, p exchange.Principal, memberID uuid.UUID) (exchange.Erasure, error)
	SettleWithPool(ctx context.Context, p exchange.Principal, orgID, memberID uuid.UUID) (exchange.Settlement, error)
}

func (a *api) audits() auditStore { return a.auth.(auditStore) }

// headerOnBehalfOf names the member a coordinator acts for, with the
// coordinator's own token or session.
const headerOnBehalfOf = "Mutual-On-Behalf-Of"

func (a *api) registerAuditRoutes(rt *router) {
	rt.read(http.MethodGet, "/v1/orgs/{id}/audit", a.orgAudit)
	rt.read(http.MethodGet, "/v1/members/{id}/audit", a.memberAudit)
	rt.write("/v1/members/{id}/erase", a.eraseMember)
	rt.write("/v1/orgs/{id}/timebank/settlements", a.settleWithPool)
}

// actFor turns the authenticated principal into the one acting for the
// member the Mutual-On-Behalf-Of header names, as the exchange decides
// (403 when it refuses); without the header, p is returned as it is.
func (a *api) actFor(r *http.Request, p exchange.Principal) (exchange.Principal, error) {
	vs := r.Header.Values(headerOnBehalfOf)
	if len(vs) == 0 {
		return p, nil
	}
	id, err := uuid.Parse(vs[0])
	if len(vs) > 1 || err != nil || len(vs[0]) != 36 {
		return exchange.Principal{}, malformed(headerOnBehalfOf, "%s must be one member id (a UUID)", headerOnBehalfOf)
	}
	return a.audits().ActFor(r.Context(), p, id)
}

// auditEventJSON is one recorded write. Ids that do not apply are null.
type auditEventJSON struct {
	ID           uuid.UUID       `json:"id"`
	At           time.Time       `json:"at"`
	OrgID        *uuid.UUID      `json:"org_id"`
	Actor        *uuid.UUID      `json:"actor"`
	OnBehalfOf   *uuid.UUID      `json:"on_behalf_of"`
	Credential   string          `json:"credential"`
	CredentialID *uuid.UUID      `json:"credential_id"`
	Kind         string          `json:"kind"`
	Subject      *uuid.UUID      `json:"subject"`
	Member       *uuid.UUID      `json:"member"`
	Details      json.RawMessage `json:"details"`
}

func optUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

func toAuditEventJSON(e exchange.AuditEvent) auditEventJSON {
	d := e.Details
	if len(d) == 0 {
		d = json.RawMessage("null")
	}
	return auditEventJSON{ID: e.ID, At: e.At.UTC(), OrgID: optUUID(e.OrgID), Actor: optUUID(e.Actor), OnBehalfOf: optUUID(e.OnBehalfOf),
		Credential: string(e.Credential), CredentialID: optUUID(e.CredentialID), Kind: e.Kind, Subject: optUUID(e.Subject),
		Member: optUUID(e.Member), Details: d}
}

// auditQuery reads the filters of an audit listing: member, kind, from, to.
func auditQuery(r *http.Request) (exchange.AuditFilter, error) {
	var f exchange.AuditFilter
	q := r.URL.Query()
	if s := q.Get("member"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil || len(s) != 36 {
			return f, malformed("member", "member must be a member id (a UUID)")
		}
		f.Member = id
	}
	f.Kind = q.Get("kind")
	for _, x := range []struct {
		name string
		t    *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if s := q.Get(x.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, malformed(x.name, `%s must be an RFC 3339 time, such as "2026-03-01T09:00:00Z"`, x.name)
			}
			*x.t = t
		}
	}
	return f, nil
}

// orgAudit lists what was done in an organization's subtree (200), for its
// coordinators, those above and the admin: 404 for anyone else.
func (a *api) orgAudit(w http.ResponseWriter, r *http.Request) error {
	return a.listAudit(w, r, notFoundOrgPath, a.audits().OrgAudit)
}

// memberAudit lists what a member did, what was done for them and what
// concerns them (200), for the member, their coordinators and the admin:
// 404 for anyone else.
func (a *api) memberAudit(w http.ResponseWriter, r *http.Request) error {
	return a.listAudit(w, r, notFoundMemberPath, a.audits().MemberAudit)
}

func (a *api) listAudit(w http.ResponseWriter, r *http.Request, notFound func(string) error,
	list func(context.Context, exchange.Principal, uuid.UUID, exchange.AuditFilter, exchange.Page) ([]exchange.AuditEvent, uuid.UUID, error)) error {
	id, err := parseID(r, "id", notFound)
	if err != nil {
		return err
	}
	f, err := auditQuery(r)
	if err != nil {
		return err
	}
	page, err := idPage(r, "audit")
	if err != nil {
		return err
	}
	evs, next, err := list(r.Context(), principal(r), id, f, page)
	if err != nil {
		return err
	}
	items := make([]auditEventJSON, len(evs))
	for i, e := range evs {
		items[i] = toAuditEventJSON(e)
	}
	return writeJSON(w, http.StatusOK, newList(items, idCursor("audit", next)))
}

// erasureJSON answers an erasure.
type erasureJSON struct {
	MemberID uuid.UUID   `json:"member_id"`
	Name     string      `json:"name"`
	Number   int64       `json:"number"`
	ErasedAt time.Time   `json:"erased_at"`
	Accounts []uuid.UUID `json:"accounts"`
}

// eraseMember erases a member's personal data (200), for the member or the
// admin; 409 not-settled while a balance, a hold or an agreement remains.
func (a *api) eraseMember(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(r, "id", notFoundMemberPath)
	if err != nil {
		return err
	}
	var req struct{}
	if err := a.decode(r, &req, true); err != nil {
		return err
	}
	e, err := a.audits().EraseMember(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, erasureJSON{MemberID: e.MemberID, Name: e.Name, Number: e.Number,
		ErasedAt: e.ErasedAt.UTC(), Accounts: e.Accounts})
}

// settlementRequest names the member whose time-bank balance is settled.
type settlementRequest struct {
	MemberID string `json:"member_id" validate:"required,uuid"`
}

// settlementJSON answers a settlement: the transfer that moved the
// balances (null when they were zero already) and, per account, what moved
// (positive into the pool).
type settlementJSON struct {
	OrgID    uuid.UUID         `json:"org_id"`
	MemberID uuid.UUID         `json:"member_id"`
	Transfer *transferJSON     `json:"transfer"`
	Moved    map[string]string `json:"moved"`
}

// settleWithPool brings a member's time-bank balances to zero against the
// community pool (200), for those who grant hours from it.
func (a *api) settleWithPool(w http.ResponseWriter, r *http.Request) error {
	org, err := parseID(r, "id", notFoundOrgPath)
	if err != nil {
		return err
	}
	var req settlementRequest
	if err := a.decode(r, &req, false); err != nil {
		return err
	}
	st, err := a.audits().SettleWithPool(r.Context(), principal(r), org, uuid.MustParse(req.MemberID))
	if err != nil {
		return err
	}
	out := settlementJSON{OrgID: st.OrgID, MemberID: st.MemberID, Moved: map[string]string{}}
	for id, d := range st.Moved {
		out.Moved[id.String()] = a.amount(r.Context(), d, st.Unit)
	}
	if st.Transfer != nil {
		a.countPosted(*st.Transfer)
		t := a.toTransferJSON(r.Context(), *st.Transfer)
		out.Transfer = &t
	}
	return writeJSON(w, http.StatusOK, out)
}
