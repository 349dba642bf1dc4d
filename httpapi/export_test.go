package httpapi

// Routes returns the route table's patterns ("POST /v1/transfers"), in
// registration order, for the test that holds the OpenAPI document to them.
func Routes() []string {
	rt := &router{}
	(&api{}).register(rt)
	out := make([]string, len(rt.routes))
	for i, r := range rt.routes {
		out[i] = r.method + " " + r.path
	}
	return out
}
