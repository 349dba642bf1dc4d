// Package exchange is Mutual's mutual-aid domain. It owns identity and
// authorization: the tree of organizations (the network, its local
// organizations, and the councils, time banks, co-ops and municipalities under
// them), the members who belong to them with a role, the API tokens members
// authenticate with, and the rules that say who may read or move value out of
// which ledger account. It also keeps the offers and needs members post
// (listings, in a shared taxonomy of categories) and searches them; package
// matching ranks and assigns them.
//
// The ledger knows accounts only by an opaque owner string; MemberOwner and
// OrgOwner are the only spellings the exchange writes there. Every
// organization has a home region, which the rows it owns carry (region.go),
// and its subtree can be rolled up (rollup.go).
//
// Errors are *ledger.Error values, compared with errors.Is against the Err*
// sentinels of this package and of package ledger.
package exchange
