package matching

// DistanceKm is the great-circle distance between two points, in km: the
// haversine formula and Earth radius Score uses, so that a page showing how
// far a listing is agrees with matching.
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 { return haversineKm(lat1, lon1, lat2, lon2) }
