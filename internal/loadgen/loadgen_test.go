package loadgen_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mutual-ledger/mutual/internal/loadgen"
)

func TestRunCountsAndMeasures(t *testing.T) {
	var progress bytes.Buffer
	boom := errors.New("boom")
	r := loadgen.Run(context.Background(), loadgen.Config{
		Workers: 4, Duration: 300 * time.Millisecond, Progress: &progress, ProgressEvery: 100 * time.Millisecond,
	}, func(ctx context.Context, worker int, n int64) error {
		if worker == 3 && n%2 == 1 {
			return boom
		}
		time.Sleep(2 * time.Millisecond)
		return nil
	})
	if r.OK < 100 || r.Failed == 0 || !errors.Is(r.FirstError, boom) {
		t.Fatalf("result = %+v", r)
	}
	if r.P50 < 2*time.Millisecond || r.P99 < r.P50 || r.Max < r.P99 || r.P99 > 200*time.Millisecond {
		t.Errorf("percentiles p50 %s p99 %s max %s; calls take 2 ms", r.P50, r.P99, r.Max)
	}
	if r.Elapsed < 300*time.Millisecond || r.PerSecond() <= 0 {
		t.Errorf("elapsed %s, %f/s", r.Elapsed, r.PerSecond())
	}
	if lines := strings.Count(progress.String(), "\n"); lines < 2 {
		t.Errorf("progress printed %d lines:\n%s", lines, progress.String())
	}
}
