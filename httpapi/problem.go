package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/exchange"
	"github.com/mutual-ledger/mutual/internal/errs"
	"github.com/mutual-ledger/mutual/internal/pgtx"
	"github.com/mutual-ledger/mutual/ledger"
)

// Problem is an RFC 9457 problem details object, the body of every error
// response (Content-Type application/problem+json). Type is a URI that names
// the kind of problem for programs; Title is its summary for people; Detail
// says what went wrong with this request. Errors lists the fields at fault.
// The members after Errors are extensions, set for the problems they
// concern: insufficient funds names the account, its unit, what it had
// available and what was requested; a batch names the failing transfer's
// index.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors,omitempty"`

	Account   *uuid.UUID `json:"account,omitempty"`
	Unit      string     `json:"unit,omitempty"`
	Available string     `json:"available,omitempty"`
	Requested string     `json:"requested,omitempty"`
	Index     *int       `json:"index,omitempty"`
}

// FieldError is one field at fault, named by its JSON path
// ("postings[1].amount").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ProblemTypeBase prefixes every problem type URI.
const ProblemTypeBase = "https://mutual.example/problems/"

// problemKind is one row of the problem table: an HTTP status, the type
// URI's last segment and the title.
type problemKind struct {
	status int
	slug   string
	title  string
}

// The problems of the HTTP layer itself.
var (
	kindMalformed        = problemKind{http.StatusBadRequest, "malformed-request", "Malformed request"}
	kindUnauthenticated  = problemKind{http.StatusUnauthorized, "unauthenticated", "Authentication required"}
	kindForbidden        = problemKind{http.StatusForbidden, "forbidden", "Forbidden"}
	kindNotFound         = problemKind{http.StatusNotFound, "not-found", "Not found"}
	kindMethodNotAllowed = problemKind{http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"}
	kindConflict         = problemKind{http.StatusConflict, "conflict", "Conflict"}
	kindKeyInProgress    = problemKind{http.StatusConflict, "idempotency-key-in-progress", "A request with this idempotency key is in progress"}
	kindNotReplayed      = problemKind{http.StatusConflict, "secret-not-replayed", "The response held a secret and is not replayed"}
	kindTooLarge         = problemKind{http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large"}
	kindMediaType        = problemKind{http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"}
	kindValidation       = problemKind{http.StatusUnprocessableEntity, "validation-failed", "Invalid request"}
	kindInvalid          = problemKind{http.StatusUnprocessableEntity, "invalid-request", "Invalid request"}
	kindRefused          = problemKind{http.StatusUnprocessableEntity, "refused", "Refused"}
	kindKeyReused        = problemKind{http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency key reused for another request"}
	kindCrossOrigin      = problemKind{http.StatusForbidden, "cross-origin", "Cross-origin request refused"}
	kindTooManyRequests  = problemKind{http.StatusTooManyRequests, "too-many-attempts", "Too many attempts"}
	kindInternal         = problemKind{http.StatusInternalServerError, "internal", "Internal error"}
	kindUnavailable      = problemKind{http.StatusServiceUnavailable, "unavailable", "Service unavailable"}
	kindOutcomeUnknown   = problemKind{http.StatusServiceUnavailable, "outcome-unknown", "Outcome unknown"}
)

// retryAfter is the Retry-After (seconds) of every 503: the database is
// away for a moment (a private PostgreSQL is restarted at once by its
// supervisor, a pool reconnects by itself), or a commit's outcome is
// unknown, and the same request, with the same Idempotency-Key, may be sent
// again.
const retryAfter = "1"

// reasonKinds maps the domain's error reasons to problems. Reasons not here
// (ledger.ReasonInvalidRequest among them, which comes with several codes)
// are mapped by their code through codeKinds.
var reasonKinds = map[ledger.Reason]problemKind{
	ledger.ReasonUnknownUnit:         kindNotFound,
	ledger.ReasonUnknownAccount:      kindNotFound,
	ledger.ReasonUnknownTransfer:     kindNotFound,
	ledger.ReasonUnitExists:          {http.StatusConflict, "unit-exists", "Unit already exists"},
	ledger.ReasonUnitMismatch:        {http.StatusUnprocessableEntity, "unit-mismatch", "Unit does not match the account"},
	ledger.ReasonTooManyDecimals:     {http.StatusUnprocessableEntity, "too-many-decimals", "Too many decimal places for the unit"},
	ledger.ReasonNonPositiveAmount:   {http.StatusUnprocessableEntity, "non-positive-amount", "Amount must be positive"},
	ledger.ReasonSameAccount:         {http.StatusUnprocessableEntity, "same-account", "Posting from an account to itself"},
	ledger.ReasonAccountFrozen:       {http.StatusUnprocessableEntity, "account-frozen", "Account frozen"},
	ledger.ReasonAccountClosed:       {http.StatusUnprocessableEntity, "account-closed", "Account closed"},
	ledger.ReasonInsufficientFunds:   {http.StatusUnprocessableEntity, "insufficient-funds", "Insufficient funds"},
	ledger.ReasonLimitExceeded:       {http.StatusUnprocessableEntity, "limit-exceeded", "Account limit exceeded"},
	ledger.ReasonIdempotencyConflict: kindKeyReused,
	ledger.ReasonHoldNotPending:      {http.StatusConflict, "hold-not-pending", "Hold is not pending"},
	ledger.ReasonHoldExpired:         {http.StatusConflict, "hold-expired", "Hold expired"},
	ledger.ReasonAlreadyReversed:     {http.StatusConflict, "already-reversed", "Transfer already reversed"},
	ledger.ReasonNotReversible:       {http.StatusConflict, "not-reversible", "Transfer cannot be reversed"},
	ledger.ReasonBoundsViolated:      {http.StatusUnprocessableEntity, "bounds-violated", "Account bounds violated"},
	ledger.ReasonAccountNotEmpty:     {http.StatusConflict, "account-not-empty", "Account not empty"},
	ledger.ReasonBatchFailed:         {http.StatusUnprocessableEntity, "batch-failed", "Batch failed"},
	exchange.ReasonUnauthenticated:   kindUnauthenticated,
	exchange.ReasonForbidden:         kindForbidden,
	exchange.ReasonNotVisible:        kindNotFound,
	exchange.ReasonUnknownOrg:        kindNotFound,
	exchange.ReasonUnknownMember:     kindNotFound,
	exchange.ReasonUnknownToken:      kindNotFound,
	exchange.ReasonNetworkExists:     {http.StatusConflict, "network-exists", "The network already exists"},
	exchange.ReasonNotAMember:        {http.StatusUnprocessableEntity, "not-a-member", "Not a member of the organization"},
	exchange.ReasonUnknownListing:    kindNotFound,
	exchange.ReasonUnknownCategory:   kindNotFound,
	exchange.ReasonCategoryExists:    {http.StatusConflict, "category-exists", "Category already exists"},
	exchange.ReasonStatusTransition:  {http.StatusConflict, "status-transition", "The listing's status does not allow this"},
	exchange.ReasonFundAccount:       kindValidation,
	exchange.ReasonManagedTransfer:   {http.StatusConflict, "managed-transfer", "The transfer belongs to an agreement, a trade, a fund, an obligation or a clearing run"},
	exchange.ReasonUnknownAgreement:  kindNotFound,
	exchange.ReasonAgreementState:    {http.StatusConflict, "agreement-state", "The agreement's status does not allow this"},
	exchange.ReasonAgreementExpired:  {http.StatusConflict, "agreement-expired", "Agreement expired"},
	exchange.ReasonNoCapacity:        {http.StatusConflict, "no-capacity", "Not enough left of the offer or the need"},
	exchange.ReasonListingClosed:     {http.StatusConflict, "listing-closed", "Listing no longer open"},
	exchange.ReasonAlreadyProposed:   {http.StatusConflict, "already-proposed", "The pair has a proposal waiting for its answers"},
	exchange.ReasonNoAccount:         {http.StatusUnprocessableEntity, "no-account", "No account to use in the unit"},
	exchange.ReasonNoTimebank:        kindNotFound,
	exchange.ReasonUnknownTrade:      kindNotFound,
	exchange.ReasonTradeNotProposed:  {http.StatusConflict, "trade-not-proposed", "The trade is no longer proposed"},
	exchange.ReasonStatementTooLarge: {http.StatusUnprocessableEntity, "statement-too-large", "Too many entries in the statement's period"},
	exchange.ReasonUnknownFund:       kindNotFound,
	exchange.ReasonUnknownGrant:      kindNotFound,
	exchange.ReasonGrantStatus:       {http.StatusConflict, "grant-status", "The grant request's status does not allow this"},
	exchange.ReasonQuorumNotReached:  {http.StatusUnprocessableEntity, "quorum-not-reached", "The decision lacks the fund's quorum"},
	exchange.ReasonAgainstTally:      {http.StatusUnprocessableEntity, "decision-against-tally", "The decision contradicts its tally"},

	// Obligations and clearing runs.
	exchange.ReasonUnknownObligation:  kindNotFound,
	exchange.ReasonObligationNotOpen:  {http.StatusConflict, "obligation-not-open", "The obligation's status does not allow this"},
	exchange.ReasonOverpaysObligation: {http.StatusUnprocessableEntity, "overpays-obligation", "More than the obligation's outstanding amount"},
	exchange.ReasonClearingTooLarge:   {http.StatusUnprocessableEntity, "clearing-too-large", "The group's debts are too large to clear exactly"},
	exchange.ReasonUnknownSession:     kindNotFound,
	exchange.ReasonNotSettled:         {http.StatusConflict, "not-settled", "The member's balances and agreements are not settled"},
	exchange.ReasonMemberErased:       {http.StatusConflict, "member-erased", "The member was erased"},
	exchange.ReasonSigninFailed:       {http.StatusUnauthorized, "signin-failed", "Sign-in failed"},
	exchange.ReasonSigninCodeLocked:   {http.StatusTooManyRequests, "signin-code-locked", "Sign-in code locked"},
	exchange.ReasonTooManyAttempts:    kindTooManyRequests,
	exchange.ReasonUnknownInvitation:  {http.StatusNotFound, "unknown-invitation", "Unknown invitation"},
	exchange.ReasonInvitationExpired:  {http.StatusGone, "invitation-expired", "Invitation expired"},
	exchange.ReasonInvitationRevoked:  {http.StatusGone, "invitation-revoked", "Invitation revoked"},
	exchange.ReasonInvitationUsed:     {http.StatusConflict, "invitation-used", "Invitation already used"},
	exchange.ReasonAlreadyAMember:     {http.StatusConflict, "already-a-member", "Already a member of the organization"},

	// Leaving an organization.
	exchange.ReasonBalanceNotSettled:    {http.StatusConflict, "balance-not-settled", "The member's account there is not settled"},
	exchange.ReasonAgreementsInProgress: {http.StatusConflict, "agreements-in-progress", "The member has agreements in progress there"},
	exchange.ReasonLastAdmin:            {http.StatusConflict, "last-admin", "The network's last admin cannot leave it"},

	exchange.ReasonUnknownPasskey:    kindNotFound,
	exchange.ReasonPasskeyCeremony:   {http.StatusUnauthorized, "passkey-ceremony", "Passkey request unknown, answered or expired"},
	exchange.ReasonPasskeyRegistered: {http.StatusConflict, "passkey-registered", "Passkey registered already"},

	// Category relations.
	exchange.ReasonUnknownCategoryRelation: kindNotFound,
}

// codeKinds maps error codes to problems, for reasons reasonKinds lacks.
var codeKinds = map[ledger.Code]problemKind{
	ledger.EINVALID:        kindInvalid,
	ledger.ENOTFOUND:       kindNotFound,
	ledger.ECONFLICT:       kindConflict,
	ledger.EREFUSED:        kindRefused,
	ledger.EINTERNAL:       kindInternal,
	exchange.EUNAUTHORIZED: kindUnauthenticated,
	exchange.EFORBIDDEN:    kindForbidden,
}

// apiError is an error of the HTTP layer itself.
type apiError struct {
	kind   problemKind
	detail string
	fields []FieldError
	header http.Header // extra response headers (WWW-Authenticate, Retry-After)
}

func (e *apiError) Error() string { return e.kind.slug + ": " + e.detail }

// The authentication failures. Neither says whether a token exists.
var (
	errNoToken = &apiError{kind: kindUnauthenticated, detail: "send an API token: Authorization: Bearer <token>",
		header: http.Header{"Www-Authenticate": {`Bearer realm="mutual"`}}}
	errBadToken = &apiError{kind: kindUnauthenticated, detail: "the API token is missing, malformed, unknown, expired or revoked",
		header: http.Header{"Www-Authenticate": {`Bearer realm="mutual", error="invalid_token"`}}}
)

func malformed(field, format string, args ...any) *apiError {
	e := &apiError{kind: kindMalformed, detail: fmt.Sprintf(format, args...)}
	if field != "" {
		e.fields = []FieldError{{Field: field, Message: e.detail}}
	}
	return e
}

func forbidden(format string, args ...any) *apiError {
	return &apiError{kind: kindForbidden, detail: fmt.Sprintf(format, args...)}
}

// itemError is the error of one transfer of a batch: its fields are named
// under transfers[index].
type itemError struct {
	index int
	err   error
}

func (e *itemError) Error() string { return fmt.Sprintf("transfers[%d]: %v", e.index, e.err) }
func (e *itemError) Unwrap() error { return e.err }

// problem turns an error into the problem the client sees. internal is true
// when the error is the server's fault: the client then gets "internal
// error" and the request id, and the real error goes to the log.
func (a *api) problem(r *http.Request, err error) (p Problem, header http.Header, internal bool) {
	ctx := r.Context()
	index := -1
	var item *itemError
	if errors.As(err, &item) {
		index = item.index
	}
	prefix := func(field string) string {
		if index >= 0 && field != "" {
			return fmt.Sprintf("transfers[%d].%s", index, field)
		}
		return field
	}
	var kind problemKind
	var ae *apiError
	var le *ledger.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		kind, p.Detail, header = ae.kind, ae.detail, ae.header
		for _, f := range ae.fields {
			p.Errors = append(p.Errors, FieldError{Field: prefix(f.Field), Message: f.Message})
		}
	case errors.As(err, &le) && le.Code != ledger.EINTERNAL:
		var ok bool
		if kind, ok = reasonKinds[le.Reason]; !ok {
			if kind, ok = codeKinds[le.Code]; !ok {
				kind = kindInternal
			}
		}
		if kind.status >= 500 {
			internal = true
			break
		}
		p.Detail = le.Message
		if p.Detail == "" {
			p.Detail = kind.title
		}
		if le.Field != "" {
			p.Errors = []FieldError{{Field: prefix(le.Field), Message: p.Detail}}
		}
		if le.Available != nil || le.Requested != nil {
			if le.Account != uuid.Nil {
				id := le.Account
				p.Account = &id
			}
			p.Unit = le.Unit
			p.Available = a.formatAmount(ctx, le.Available, le.Unit)
			p.Requested = a.formatAmount(ctx, le.Requested, le.Unit)
		}
		if i, ok := errs.IndexOf(err); ok && index < 0 {
			index = i
		}
		if kind.status == http.StatusUnauthorized {
			header = errBadToken.header
		}
		var later *exchange.RetryLater
		if errors.As(err, &later) {
			header = http.Header{"Retry-After": {strconv.Itoa(int(math.Ceil(later.After.Seconds())))}}
		}
	case errors.As(err, &mbe):
		kind, p.Detail = kindTooLarge, fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, pgtx.ErrAmbiguousCommit):
		kind = kindOutcomeUnknown
		p.Detail = "the database connection failed while the change was committing; it may or may not have been made: retry with the same Idempotency-Key"
	case errors.Is(err, pgtx.ErrUnavailable):
		kind = kindUnavailable
		p.Detail = "the database is unavailable for a moment and nothing was changed; retry shortly"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		kind, p.Detail = kindUnavailable, "the request was cancelled or ran out of time"
	default:
		internal = true
	}
	if internal {
		// Never the error's text: it may hold SQL or a stack.
		kind, p.Detail, p.Errors = kindInternal, "internal error (request id "+infoFrom(ctx).id+")", nil
	}
	if kind.status == http.StatusServiceUnavailable {
		header = header.Clone() // the header of a shared apiError must stay as it is
		if header == nil {
			header = http.Header{}
		}
		header.Set("Retry-After", retryAfter)
	}
	p.Type = ProblemTypeBase + kind.slug
	p.Title = kind.title
	p.Status = kind.status
	p.Instance = r.URL.Path
	p.RequestID = infoFrom(ctx).id
	if index >= 0 {
		p.Index = &index
	}
	return p, header, internal
}

// writeError answers a request with the problem for err, logging the errors
// that are the server's fault.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p, header, internal := a.problem(r, err)
	switch {
	case internal:
		a.log.Error("internal error", "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path, "err", err.Error())
	case errors.Is(err, pgtx.ErrAmbiguousCommit):
		// The database went away during COMMIT: an outage, not a fault of
		// the server's; the client is told to retry with its key.
		a.log.Warn("commit outcome unknown", "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path, "err", err.Error())
	case errors.Is(err, pgtx.ErrUnavailable):
		a.log.Warn("database unavailable", "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path, "err", err.Error())
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: strings, ints and UUIDs
		body = []byte(`{"type":"` + ProblemTypeBase + `internal","title":"Internal error","status":500}`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n'))
}

// formatAmount writes an amount with its unit's scale ("2.50" for USD), or
// as it is when the unit is unknown.
func (a *api) formatAmount(ctx context.Context, d *decimal.Decimal, unit string) string {
	if d == nil {
		return ""
	}
	return a.amount(ctx, *d, unit)
}

func (a *api) amount(ctx context.Context, d decimal.Decimal, unit string) string {
	if u, err := a.ledger.Unit(ctx, unit); err == nil {
		return d.StringFixed(u.Scale)
	}
	return d.String()
}
