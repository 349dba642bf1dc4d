package matching

// Reason is one short, structured reason a pair was matched, for the pages
// to put into words in each language: a code and the figures it speaks of,
// never a sentence. The codes:
//
//	category_exact    the offer is in the need's category
//	category_related  the offer's category (Category) serves the need's at Fit
//	distance          the listings are Km apart, within the need's reach (ReachKm)
//	remote            the offer is given from afar; Km is still how far apart they are
//	time_any          either listing is available at any time
//	time_overlap      the offer is given during Fraction of the need's window
//	time_flexible     no overlap, but the need said its time is flexible
//	urgency           the need's urgency, Level 1 to 3
//	fairness_new      neither person received or was asked for help lately
//	fairness_recent   ReceivedHundredths the receiver received and
//	                  AskedHundredths the giver was asked for, in hundredths
//	                  of the unit, within the fairness window
type Reason struct {
	Code     string
	Km       float64
	ReachKm  float64
	Fraction float64
	Category string
	Fit      float64
	Level    int
	// ReceivedHundredths and AskedHundredths are the history fairness
	// weighed (see Fairness), in hundredths of the unit.
	ReceivedHundredths, AskedHundredths int64
}

// The reason codes (see Reason).
const (
	ReasonCategoryExact   = "category_exact"
	ReasonCategoryRelated = "category_related"
	ReasonDistance        = "distance"
	ReasonRemote          = "remote"
	ReasonTimeAny         = "time_any"
	ReasonTimeOverlap     = "time_overlap"
	ReasonTimeFlexible    = "time_flexible"
	ReasonUrgency         = "urgency"
	ReasonFairnessNew     = "fairness_new"
	ReasonFairnessRecent  = "fairness_recent"
)

// Reasons explains b, the score of offer for need that Score returned with
// f and cfg: the category relation, the distance, the time, the urgency
// (when there is one) and fairness, in that order.
func Reasons(need, offer Listing, b Breakdown, f Fairness, cfg Config) []Reason {
	rs := make([]Reason, 0, 5)
	if b.Related {
		rs = append(rs, Reason{Code: ReasonCategoryRelated, Category: offer.Category, Fit: b.Category})
	} else {
		rs = append(rs, Reason{Code: ReasonCategoryExact, Category: offer.Category})
	}
	if offer.Remote {
		rs = append(rs, Reason{Code: ReasonRemote, Km: b.Km})
	} else {
		rs = append(rs, Reason{Code: ReasonDistance, Km: b.Km, ReachKm: need.reach(cfg)})
	}
	switch {
	case b.AnyTime:
		rs = append(rs, Reason{Code: ReasonTimeAny})
	case b.Overlap <= 0:
		rs = append(rs, Reason{Code: ReasonTimeFlexible})
	default:
		rs = append(rs, Reason{Code: ReasonTimeOverlap, Fraction: b.Overlap})
	}
	if u := min(max(need.Urgency, 0), 3); u > 0 {
		rs = append(rs, Reason{Code: ReasonUrgency, Level: u})
	}
	received, asked := max(f.Received[need.Owner], 0), max(f.Asked[offer.Owner], 0)
	if received == 0 && asked == 0 {
		rs = append(rs, Reason{Code: ReasonFairnessNew})
	} else {
		rs = append(rs, Reason{Code: ReasonFairnessRecent, ReceivedHundredths: received, AskedHundredths: asked})
	}
	return rs
}
