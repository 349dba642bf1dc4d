package httpapi

import (
	"bytes"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/mutual-ledger/mutual/internal/proccpu"
)

// typicalTransfer is a transfer body as integrators send them: two
// postings, a memo and a little metadata.
const typicalTransfer = `{"postings":[` +
	`{"from":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b","to":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7c","amount":"2.50","unit":"HOUR"},` +
	`{"from":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7d","to":"0192a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7e","amount":"12.00","unit":"USD"}],` +
	`"memo":"Bike repair for Ana, Tuesday afternoon","metadata":{"agreement":"A-1042","channel":"app","tags":["repairs","bikes"]}}`

// BenchmarkDecodeTransfer measures decode, the path every transfer's body
// takes: reading, the JSON checks, decoding and validation.
func BenchmarkDecodeTransfer(b *testing.B) {
	a := &api{validate: newValidator()}
	body := []byte(typicalTransfer)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := proccpu.Self()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/transfers", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req transferRequest
		if err := a.decode(r, &req, false); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time moves far less than wall time on a shared machine.
	b.ReportMetric(float64(proccpu.Self()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCheckJSON measures checkJSON alone on the same body: the part of
// decode that refuses duplicate and miscased keys and bad strings.
func BenchmarkCheckJSON(b *testing.B) {
	var s shapes
	body := []byte(typicalTransfer)
	typ := reflect.TypeFor[*transferRequest]()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.checkJSON(body, typ); err != nil {
			b.Fatal(err)
		}
	}
}
