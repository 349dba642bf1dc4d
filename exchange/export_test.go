package exchange

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// What the tests of package exchange_test reach that a caller outside the
// exchange may not: reads of the organizations' structure and of private
// memberships, and the listing steps agreements take.

// Governors is governors, for the tests of the rules.
func (s *Store) Governors(ctx context.Context, owner string) ([]uuid.UUID, error) {
	return s.governors(ctx, owner)
}

// Network is network.
func (s *Store) Network(ctx context.Context) (Org, error) { return s.network(ctx) }

// Ancestors is ancestors.
func (s *Store) Ancestors(ctx context.Context, id uuid.UUID) ([]Org, error) {
	return s.ancestors(ctx, id)
}

// Memberships is membershipsOf.
func (s *Store) Memberships(ctx context.Context, memberID uuid.UUID) ([]Membership, error) {
	return s.membershipsOf(ctx, memberID)
}

// UpdateListingStatus is updateListingStatus.
func (s *Store) UpdateListingStatus(ctx context.Context, id uuid.UUID, to ListingStatus) (Listing, error) {
	return s.updateListingStatus(ctx, id, to)
}

// ExpireListings is expireListings.
func (s *Store) ExpireListings(ctx context.Context, now time.Time) (int, error) {
	return s.expireListings(ctx, now)
}

// SearchWords is searchTerms: each folded word of a search and the bound
// past every word it begins.
func SearchWords(text string) (words, uppers [][]byte, err error) {
	ts, err := searchTerms(text)
	for _, t := range ts {
		words, uppers = append(words, t.word), append(uppers, t.upper)
	}
	return words, uppers, err
}

// TuneWordSearch sets where a word search changes its way: how many rows
// make a word common (rareCount), and for how many listings a common word
// is probed rather than read (probeMax), and up to how many rows a rare
// driver has its listings probed for the other words as it is read
// (joinMax; 0: never).
func (s *Store) TuneWordSearch(rare int64, probe int, join int64) {
	s.words = wordLimits{rare: rare, probe: probe, join: join, begun: s.words.begun}
}

// TuneBegun sets up to how many words a term may begin for its probes to
// read the primary key at each (begunMax; 0: never).
func (s *Store) TuneBegun(n int) { s.words.begun = n }

// FindFirst runs the first steps of a search whose words are all common,
// for the first page of q as pr sees it: findTop, or findPair when pair is
// set. It returns the listings found, and whether they are the page.
func (s *Store) FindFirst(ctx context.Context, pr Principal, q ListingQuery, limit int, pair bool) ([]Found, bool, error) {
	q.Viewer = ViewerOf(pr)
	terms, err := searchTerms(q.Text)
	if err != nil {
		return nil, false, err
	}
	stats, err := s.termStats(ctx, terms)
	if err != nil {
		return nil, false, err
	}
	for _, st := range stats {
		if len(st.levels) == 0 {
			return nil, false, nil
		}
	}
	if pair {
		return s.findPair(ctx, q, terms, stats, nil, limit)
	}
	return s.findTop(ctx, q, terms, stats, nil, limit)
}

// RareStatement returns the statement, and its arguments, that reads the
// rows of the first word of text (a rare one), probes each of its listings
// for the other words and ranks the first page's worth of those that hold
// them all (rareSQL, without the lookup around it), for a look at its
// plan.
func RareStatement(text string) (string, []any, error) {
	terms, err := searchTerms(text)
	if err != nil {
		return "", nil, err
	}
	var probed []*otherWord
	for _, t := range terms[1:] {
		probed = append(probed, &otherWord{otherTerm: otherTerm{searchTerm: t}})
	}
	var args []any
	arg := func(x any) string {
		args = append(args, x)
		return "$" + strconv.Itoa(len(args))
	}
	return rareSQL(ListingQuery{}, driverTerm{searchTerm: terms[0]}, probed, nil, 4*(DefaultLimit+1), arg), args, nil
}

// WordsBegun returns, for each term of text, the indexed words termStats
// found it begins (nil when more than wordLimits.begun).
func (s *Store) WordsBegun(ctx context.Context, text string) ([][]string, error) {
	terms, err := searchTerms(text)
	if err != nil {
		return nil, err
	}
	if _, err := s.termStats(ctx, terms); err != nil {
		return nil, err
	}
	out := make([][]string, len(terms))
	for i, t := range terms {
		for _, b := range t.begun {
			out[i] = append(out[i], string(b))
		}
	}
	return out, nil
}
