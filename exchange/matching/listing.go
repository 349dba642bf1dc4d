package matching

import (
	"errors"
	"time"
)

// ErrInvalid is returned (wrapped) by Propose and Greedy for malformed input.
var ErrInvalid = errors.New("matching: invalid input")

// Kind says whether a listing offers help or asks for it.
type Kind uint8

// The kinds of listing.
const (
	Offer Kind = iota + 1
	Need
)

// Listing is an open offer or need as the matcher sees it.
type Listing struct {
	ID       string
	Kind     Kind
	Category string
	// Tags are carried for callers; they do not enter the score.
	Tags []string
	// Owner is who posted the listing; nobody is matched with themselves.
	Owner string
	// Quantity is in centi-hours: what a need asks for, or what an offer can
	// give in total (its capacity).
	Quantity int64
	Lat, Lon float64
	// Start and End bound when the listing is available. A listing with both
	// zero is available at any time.
	Start, End time.Time
	// Urgency is 0 (none) to 3 (urgent), for needs.
	Urgency int
	// MaxKm is how far a need's person can go, in km; 0 means
	// Config.MaxKm. Offers leave it 0.
	MaxKm float64
	// Remote offers are given from afar (a call, a lesson by video): any
	// distance serves them.
	Remote bool
	// Flexible needs are matched even with offers whose hours do not
	// overlap their window (the overlap part is then 0).
	Flexible bool
	// Weekly is when an offer is given each week, read in Zone (UTC when
	// nil), on top of its Start and End; none means every day at any hour.
	Weekly []Slot
	Zone   *time.Location
}

// Fairness is recent history, in centi-hours, keyed by owner: how much each
// person received and how much each was asked to give. Nil maps mean none.
type Fairness struct {
	Received map[string]int64
	Asked    map[string]int64
}

// Weights weigh the parts of a score. Negative weights count as zero.
type Weights struct {
	Category, Distance, Overlap, Urgency, Fairness float64
}

// Config parameterizes scoring.
type Config struct {
	Weights Weights
	// MaxKm is the farthest a match may be; it must be positive.
	MaxKm float64
	// Related gives, for a need's category, other categories whose offers
	// can also serve it, each with its fit in (0, 1): the category part of
	// such a match. It is not made symmetric. A fit outside (0, 1) is
	// ignored.
	Related map[string]map[string]float64
	// FairnessHalf is the history, in centi-hours, at which a person's
	// fairness factor has halved. Zero or less disables fairness (part 1).
	FairnessHalf int64
}

// DefaultMaxKm is how far a need reaches when neither it nor its
// organization says.
const DefaultMaxKm = 25

// DefaultConfig returns weights and bounds suited to a neighborhood time
// bank: 25 km, fairness halving after 10 hours.
func DefaultConfig() Config {
	return Config{
		Weights:      Weights{Category: 3, Distance: 2, Overlap: 2, Urgency: 1, Fairness: 1},
		MaxKm:        DefaultMaxKm,
		FairnessHalf: 1000,
	}
}

// Breakdown is a score and its parts, so people can see why they were matched.
// The parts are unweighted, each in [0, 1]; Total is their weighted mean.
type Breakdown struct {
	Total                                          float64
	Category, Distance, Overlap, Urgency, Fairness float64
	// Km is the distance between the listings.
	Km float64
	// Cover is the part of the need the offer can serve, in centi-hours:
	// the smaller of the two quantities. It does not enter Total, which
	// is a fit per hour; a proposal weighs each pair by the hours it
	// gives (ProposeSplit).
	Cover int64
	// Related is set when the offer's category is related to the need's
	// rather than the same; Category is then its fit.
	Related bool
	// AnyTime is set when either listing is available at any time, so no
	// overlap was measured (Overlap is 1).
	AnyTime bool
}

// Candidate is one offer ranked for a need.
type Candidate struct {
	// Offer is the offer's position in the slice that was ranked (or
	// indexed), which is what Propose expects.
	Offer   int
	OfferID string
	Score   Breakdown
}
