package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Who did what. Every write of the exchange records one audit event in the
// transaction that makes the write, through record: the write and its
// record commit together or not at all, a transaction retried after a
// serialization failure records once (each attempt is a fresh
// transaction), and a replay of an idempotency key, which writes nothing,
// records nothing. An event names the member who acted, the member acted
// for when a coordinator acted on someone's behalf, the credential used,
// what was done (Kind) to what (Subject), the organization it was done in
// or for, and the member it concerns. Its details are ids and amounts,
// never personal data, so that erasing a member leaves the log as it is.

// AuditEvent is one recorded write.
type AuditEvent struct {
	ID uuid.UUID
	At time.Time
	// OrgID is the organization the write was done in or for; uuid.Nil for
	// writes of no organization (a unit, a member's token).
	OrgID uuid.UUID
	// Actor is the member who acted; uuid.Nil for the server's own work
	// (Credential is then CredentialSystem).
	Actor uuid.UUID
	// OnBehalfOf is the member a coordinator acted for; uuid.Nil when the
	// actor acted as themself.
	OnBehalfOf   uuid.UUID
	Credential   CredentialKind
	CredentialID uuid.UUID // uuid.Nil when none (the system)
	// Kind names the write: "<thing>.<what was done>", e.g.
	// "transfer.created", "agreement.accepted", "member.erased".
	Kind string
	// Subject is the row the write made or changed (the transfer, the
	// agreement, the member).
	Subject uuid.UUID
	// Member is the member the write concerns (the owner of the account
	// moved from, the member admitted), when there is one.
	Member uuid.UUID
	// Details holds a few ids and amounts, as a JSON object, or nil.
	Details json.RawMessage
}

// auditEvent is what a write path records.
type auditEvent struct {
	kind    string
	subject uuid.UUID
	org     uuid.UUID
	member  uuid.UUID
	details map[string]any
}

// systemPrincipal records the server's own work.
var systemPrincipal = Principal{Credential: CredentialSystem, system: true}

// auditRows writes audit events, many in one statement: the events of a
// group commit's transfers, each recorded by its own request, travel
// together with the COMMIT.
var auditRows = pgtx.Rows{Width: len(auditTypes), Statement: insertAuditEvents}

var auditTypes = []string{"uuid", "timestamptz", "uuid", "uuid", "uuid", "text", "uuid", "text", "uuid", "uuid", "jsonb"}

// insertAuditEvents returns the INSERT of n events (a few sizes: see
// pgtx.Rows).
func insertAuditEvents(n int) string {
	return "INSERT INTO audit_events (id, at, org_id, actor_id, on_behalf_of, credential, credential_id, kind, subject_id, member_id, details) VALUES " +
		pgtx.Values(auditTypes, n)
}

// pgID is an id as pgx encodes it without reflection (a uuid.UUID goes
// through its text form); uuid.Nil is NULL.
func pgID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil} }

// record queues the events' rows, done by p at the time at, to be written
// with the COMMIT of tx (in the same round trip, so a hot path pays no
// extra one, and in one statement with the other events of tx).
// Nothing is written if the transaction does not commit. A zero Principal
// is the system's.
func record(tx *pgtx.Tx, p Principal, at time.Time, evs ...auditEvent) {
	if len(evs) == 0 {
		return
	}
	actor, onBehalf := p.MemberID, uuid.Nil
	cred := p.Credential
	if p.Agent != uuid.Nil {
		actor, onBehalf = p.Agent, p.MemberID
	}
	if actor == uuid.Nil {
		cred = CredentialSystem
	}
	if cred == "" {
		// A principal made in process (the demo, a test) names no
		// credential: it acted as by a token.
		cred = CredentialToken
	}
	for _, e := range evs {
		var details []byte
		if len(e.details) > 0 {
			details, _ = json.Marshal(e.details) // ids, strings and decimals only: never fails
		}
		tx.DeferRow(&auditRows, pgID(newID()), at, pgID(e.org), pgID(actor), pgID(onBehalf), string(cred),
			pgID(p.CredentialID), e.kind, pgID(e.subject), pgID(e.member), details)
	}
}

// auditThen is a ledger.Then that records one event of kind for each
// transfer a plain ledger change wrote, made by p: the transfer (or hold)
// is the subject, the owner of the first posting's from account the member
// or organization concerned.
func (s *Store) auditThen(p Principal, kind string, accs map[uuid.UUID]ledger.Account, details map[string]any) ledger.Then {
	return func(ctx context.Context, tx *pgtx.Tx, written []ledger.Transfer) error {
		evs := make([]auditEvent, 0, len(written))
		for _, t := range written {
			k := kind
			switch {
			case kind == "transfer.created" && t.State == ledger.StatePending:
				k = "hold.created"
			case t.State == ledger.StateVoided:
				k = "hold.voided" // posting nothing voids a hold
			}
			e := auditEvent{kind: k, subject: t.ID, details: details}
			if t.PendingID != nil && kind == "hold.posted" {
				e.subject = *t.PendingID
				e.details = map[string]any{"transfer_id": t.ID}
			}
			if len(t.Postings) > 0 {
				if acc, ok := accs[t.Postings[0].From]; ok {
					e.org, e.member = ownerIDs(acc.Owner)
				}
			}
			evs = append(evs, e)
		}
		record(tx, p, s.clock(), evs...)
		return nil
	}
}

// thenRecord is a ledger.Then that records, for each transfer a ledger
// change wrote, the event ev makes of it, done by p.
func (s *Store) thenRecord(p Principal, ev func(t ledger.Transfer) auditEvent) ledger.Then {
	return func(ctx context.Context, tx *pgtx.Tx, written []ledger.Transfer) error {
		for _, t := range written {
			record(tx, p, s.clock(), ev(t))
		}
		return nil
	}
}

// ownerIDs splits an account owner into the organization or the member it
// names, for an event.
func ownerIDs(owner string) (org, member uuid.UUID) {
	kind, id, ok := ParseOwner(owner)
	switch {
	case !ok:
	case kind == OwnerOrg:
		org = id
	default:
		member = id
	}
	return org, member
}

// AuditFilter narrows an audit listing. Zero fields do not narrow.
type AuditFilter struct {
	// Member keeps the events a member did, had done for them, or that
	// concern them.
	Member uuid.UUID
	// Kind keeps the events of one kind ("agreement.accepted") or of one
	// family ("agreement").
	Kind string
	// From and To keep the events at or after From and before To.
	From, To time.Time
}

var auditKindPattern = regexp.MustCompile(`^[a-z_]{1,32}(\.[a-z_]{1,32})?$`)

func (f AuditFilter) check() error {
	if f.Kind != "" && !auditKindPattern.MatchString(f.Kind) {
		return invalid("kind", "kind must be an event kind such as agreement.accepted, or a family such as agreement, not %q", f.Kind)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return invalid("to", "to must be after from")
	}
	return nil
}

const auditColumns = `e.id, e.at, e.org_id, e.actor_id, e.on_behalf_of, e.credential, e.credential_id, e.kind, e.subject_id, e.member_id, e.details`

// auditFilters are the filters common to both listings, on parameters $2
// to $7 ($1 is the listing's own).
const auditFilters = `
  AND ($2::UUID IS NULL OR e.actor_id = $2 OR e.on_behalf_of = $2 OR e.member_id = $2)
  AND ($3::TEXT IS NULL OR e.kind = $3 OR split_part(e.kind, '.', 1) = $3)
  AND ($4::TIMESTAMPTZ IS NULL OR e.at >= $4)
  AND ($5::TIMESTAMPTZ IS NULL OR e.at < $5)
  AND e.id > $6
ORDER BY e.id LIMIT $7`

// orgAudit lists the events of an organization's subtree: those done in or
// for one of its organizations, and those that concern one of its members.
// For the network ($1 is then true) it is every event.
const orgAudit = `
WITH RECURSIVE down (id, depth) AS (
    SELECT id, 0 FROM orgs WHERE id = $8
  UNION ALL
    SELECT o.id, down.depth + 1 FROM orgs o JOIN down ON o.parent_id = down.id WHERE down.depth < $9
)
SELECT ` + auditColumns + ` FROM audit_events e
WHERE ($1 OR e.org_id IN (SELECT id FROM down)
          OR e.member_id IN (SELECT m.member_id FROM memberships m WHERE m.org_id IN (SELECT id FROM down)))` + auditFilters

// memberAudit lists the events a member did, had done for them, or that
// concern them.
const memberAudit = `
SELECT ` + auditColumns + ` FROM audit_events e
WHERE (e.actor_id = $1 OR e.on_behalf_of = $1 OR e.member_id = $1)` + auditFilters

// OrgAudit lists, oldest first and one page at a time, what was done in an
// organization and the organizations under it (and to their members), for
// its coordinators, those above, and the admin; for the network, every
// event. Anyone else gets ErrUnknownOrg, exactly as for an organization
// that does not exist (the log is not theirs to know of). It returns
// ledger.ErrInvalidRequest (Field set) for a bad filter or limit, and
// ErrUnauthenticated for a zero Principal.
func (s *Store) OrgAudit(ctx context.Context, p Principal, orgID uuid.UUID, f AuditFilter, pg Page) ([]AuditEvent, uuid.UUID, error) {
	if err := requireMember(p); err != nil {
		return nil, uuid.Nil, err
	}
	gov, err := s.governors(ctx, OrgOwner(orgID))
	if err != nil {
		return nil, uuid.Nil, err
	}
	if len(gov) == 0 || p.MayManageOrg(gov) != nil {
		return nil, uuid.Nil, unknownOrg(orgID)
	}
	network := len(gov) == 1 // the root governs itself alone
	return s.listAudit(ctx, orgAudit, network, f, pg, orgID, maxDepth)
}

// MemberAudit lists, oldest first and one page at a time, what a member did,
// what was done on their behalf, and what concerns them (their accounts,
// their admission, their tokens), for the member themself, their
// coordinators and the admin (Principal.MayReadMember): anyone else gets
// ErrUnknownMember, as for a member who does not exist. It returns
// ledger.ErrInvalidRequest (Field set) for a bad filter or limit, and
// ErrUnauthenticated for a zero Principal.
func (s *Store) MemberAudit(ctx context.Context, p Principal, memberID uuid.UUID, f AuditFilter, pg Page) ([]AuditEvent, uuid.UUID, error) {
	if err := requireMember(p); err != nil {
		return nil, uuid.Nil, err
	}
	switch err := s.CanReadMember(ctx, p, memberID); {
	case hidden(err):
		return nil, uuid.Nil, unknownMember(memberID)
	case err != nil:
		return nil, uuid.Nil, err
	}
	return s.listAudit(ctx, memberAudit, memberID, f, pg)
}

func (s *Store) listAudit(ctx context.Context, q string, first any, f AuditFilter, pg Page, more ...any) ([]AuditEvent, uuid.UUID, error) {
	if err := f.check(); err != nil {
		return nil, uuid.Nil, err
	}
	limit, err := pg.limit()
	if err != nil {
		return nil, uuid.Nil, err
	}
	var kind *string
	if f.Kind != "" {
		kind = &f.Kind
	}
	args := append([]any{first, nullableMember(f.Member), kind, nullableTime(f.From), nullableTime(f.To), pg.After, limit + 1}, more...)
	rows, err := s.db.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, uuid.Nil, err
	}
	out, err := pgx.CollectRows(rows, scanAuditEvent)
	if err != nil {
		return nil, uuid.Nil, err
	}
	if out == nil {
		out = []AuditEvent{}
	}
	var next uuid.UUID
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

func scanAuditEvent(r pgx.CollectableRow) (AuditEvent, error) {
	var e AuditEvent
	var org, actor, onBehalf, credID, subject, member *uuid.UUID
	var cred string
	var details []byte
	if err := r.Scan(&e.ID, &e.At, &org, &actor, &onBehalf, &cred, &credID, &e.Kind, &subject, &member, &details); err != nil {
		return AuditEvent{}, err
	}
	e.Credential = CredentialKind(cred)
	e.At = e.At.UTC()
	for _, x := range []struct {
		from *uuid.UUID
		to   *uuid.UUID
	}{{org, &e.OrgID}, {actor, &e.Actor}, {onBehalf, &e.OnBehalfOf}, {credID, &e.CredentialID}, {subject, &e.Subject}, {member, &e.Member}} {
		if x.from != nil {
			*x.to = *x.from
		}
	}
	if len(details) > 0 {
		e.Details = json.RawMessage(details)
	}
	return e, nil
}

func nullableTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ActFor returns the principal with which p acts on behalf of a member who
// has no device of their own (posts their listing, accepts or confirms
// their agreement, gives their hours): the member's own rights, so that
// every rule decides as if the member acted and nothing becomes possible
// that the member could not do, with p as the Agent, so that the audit log
// records both. p keeps their credential.
//
// p may act for a member whose credentials p may act on
// (Principal.MayManageTokens): a coordinator of one of the member's
// organizations or of one above it, unless the member is an admin or
// coordinates an organization p does not govern (which would lend p rights
// p does not have); and the admin. Everyone else, a principal already
// acting for someone, and anyone asking to act for an erased member or one
// who does not exist, gets ErrForbidden saying so (the same answer whether
// or not the member exists). Acting for oneself is being oneself: p is
// returned unchanged. It returns ErrUnauthenticated for a zero Principal.
func (s *Store) ActFor(ctx context.Context, p Principal, memberID uuid.UUID) (Principal, error) {
	if err := requireMember(p); err != nil {
		return Principal{}, err
	}
	if p.Agent != uuid.Nil {
		return Principal{}, forbiddenBecause("you already act for someone")
	}
	if memberID == p.MemberID {
		return p, nil
	}
	refused := forbiddenBecause("you may act only for members of the organizations you coordinate, who hold no role beyond yours")
	if !p.Admin && !p.governsAny() {
		return Principal{}, refused
	}
	if err := s.CanManageTokens(ctx, p, memberID); err != nil {
		var le *ledger.Error
		if errors.As(err, &le) && (hidden(err) || isForbidden(err)) {
			return Principal{}, refused
		}
		return Principal{}, err
	}
	q := Principal{MemberID: memberID, Roles: map[uuid.UUID]Role{}, Credential: p.Credential,
		CredentialID: p.CredentialID, Agent: p.MemberID}
	found := false
	err := s.db.Run(ctx, pgtx.Options{ReadOnly: true}, func(tx *pgtx.Tx) error {
		clear(q.Roles)
		q.Admin, found = false, false
		var erased bool
		if err := tx.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM members WHERE id = $1), EXISTS (SELECT 1 FROM erasures WHERE member_id = $1)`, memberID).
			Scan(&found, &erased); err != nil {
			return err
		}
		found = found && !erased
		rows, err := tx.Query(ctx, `SELECT org_id, role FROM memberships WHERE member_id = $1`, memberID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var org uuid.UUID
			var role Role
			if err := rows.Scan(&org, &role); err != nil {
				return err
			}
			q.Roles[org] = role
			q.Admin = q.Admin || role == RoleAdmin
		}
		return rows.Err()
	})
	if err != nil {
		return Principal{}, err
	}
	if !found || (q.Admin && !p.Admin) {
		return Principal{}, refused
	}
	return q, nil
}

// refuseAgent refuses what only the member themself (or the admin as
// themself) decides, when someone acts on their behalf.
func refuseAgent(p Principal, what string) error {
	if p.Agent != uuid.Nil {
		return forbiddenBecause("nobody may " + what + " on someone else's behalf")
	}
	return nil
}
