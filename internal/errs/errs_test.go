package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mutual-ledger/mutual/internal/errs"
)

var errLimit = errs.Sentinel(errs.EREFUSED, "limit", "")

// TestBatchPosition: a batch places an error at its position without
// changing the error; the position reads back through wrapping, the first
// placement stands, and the error alone compares as before.
func TestBatchPosition(t *testing.T) {
	e := errs.New(errs.EREFUSED, "limit", "over the limit by %d", 3)
	if _, ok := errs.IndexOf(e); ok {
		t.Fatal("an error outside a batch has a position")
	}
	at := errs.At(2, e)
	wrapped := fmt.Errorf("writing the batch: %w", errs.At(5, at))
	for _, err := range []error{at, wrapped} {
		if i, ok := errs.IndexOf(err); !ok || i != 2 {
			t.Errorf("%v: position %d, %v; want 2", err, i, ok)
		}
		if !errors.Is(err, errLimit) {
			t.Errorf("%v does not match its sentinel", err)
		}
		var got *errs.Error
		if !errors.As(err, &got) || got != e {
			t.Errorf("%v: the error inside is %v", err, got)
		}
	}
	if alone := errs.Alone(at); alone != error(e) {
		t.Errorf("Alone gave %v", alone)
	}
	if errs.At(1, nil) != nil {
		t.Error("At(nil) is not nil")
	}
	if errors.Is(e, errs.Sentinel(errs.EREFUSED, "other", "")) {
		t.Error("errors of different reasons matched")
	}
	if c := errs.Copy(errLimit); c == errLimit || !errors.Is(c, errLimit) {
		t.Error("Copy returned the sentinel itself, or something else")
	}
}
