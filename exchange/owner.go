package exchange

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/mutual-ledger/mutual/ledger"
)

// The kinds of account owner ParseOwner reports.
const (
	OwnerMember = "member"
	OwnerOrg    = "org"
)

// MemberOwner is the ledger owner string of a member's accounts:
// "member:<uuid>".
func MemberOwner(id uuid.UUID) string { return OwnerMember + ":" + id.String() }

// OrgOwner is the ledger owner string of an organization's accounts:
// "org:<uuid>".
func OrgOwner(id uuid.UUID) string { return OwnerOrg + ":" + id.String() }

// ParseOwner splits an owner string made by MemberOwner or OrgOwner into its
// kind (OwnerMember or OwnerOrg) and id. It accepts only those exact
// spellings (the id in canonical lower-case form), so that one owner has one
// string; anything else, such as the "" of an external account, is not ok.
func ParseOwner(owner string) (kind string, id uuid.UUID, ok bool) {
	kind, rest, found := strings.Cut(owner, ":")
	if !found || (kind != OwnerMember && kind != OwnerOrg) {
		return "", uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	if err != nil || id == uuid.Nil || id.String() != rest {
		return "", uuid.Nil, false
	}
	return kind, id, true
}

// OpenMemberAccount opens a member account in unit for a member of an
// organization, named after the organization, with the given credit limit:
// the balance may go down to -creditLimit (0 for none). It returns
// ErrUnknownOrg, ErrUnknownMember, ErrNotAMember when the member does not
// belong to the organization, ledger.ErrInvalidRequest for a negative credit
// limit, and the ledger's errors (ledger.ErrUnknownUnit,
// ledger.ErrTooManyDecimals). System and whoever acts for the organization
// (CanManageOrg) may: ErrForbidden for anyone else, ErrUnauthenticated for a
// zero Principal.
func (s *Store) OpenMemberAccount(ctx context.Context, p Principal, orgID, memberID uuid.UUID, unit string, creditLimit decimal.Decimal) (ledger.Account, error) {
	if !p.system {
		if err := s.mayManageOrgAt(ctx, p, orgID, "org_id"); err != nil {
			return ledger.Account{}, err
		}
	}
	if creditLimit.Sign() < 0 {
		return ledger.Account{}, invalid("credit_limit", "credit limit must be zero or positive, not %s", creditLimit)
	}
	org, err := s.org(ctx, orgID)
	if err != nil {
		return ledger.Account{}, err
	}
	ms, err := s.membershipsOf(ctx, memberID)
	if err != nil {
		return ledger.Account{}, err
	}
	member := false
	for _, m := range ms {
		member = member || m.OrgID == orgID
	}
	if !member {
		return ledger.Account{}, newError(ErrNotAMember.Code, ReasonNotAMember, "member %s does not belong to organization %s", memberID, orgID)
	}
	lower := creditLimit.Neg()
	return s.createAccountFor(ctx, p, ledger.NewAccount{
		Unit:       unit,
		Owner:      MemberOwner(memberID),
		Kind:       ledger.KindMember,
		Name:       org.Name,
		Region:     org.Region,
		LowerBound: &lower,
	}, orgID)
}
