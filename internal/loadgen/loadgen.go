// Package loadgen drives a function from N workers for a fixed time and
// reports throughput and latency percentiles, with a progress line while it
// runs. `mutual bench` uses it against a running server's HTTP API.
package loadgen

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config says how to run.
type Config struct {
	Workers  int
	Duration time.Duration
	// Progress, if set, receives a line every ProgressEvery (default 1 s).
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Result summarises a run. Latencies are of successful calls only.
type Result struct {
	Workers            int
	Elapsed            time.Duration
	OK, Failed         int64
	P50, P90, P99, Max time.Duration
	// FirstError is the first failure seen, if any.
	FirstError error
}

// PerSecond returns successful calls per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	return fmt.Sprintf("%d ok, %d failed in %s with %d workers: %.0f/s, p50 %s, p90 %s, p99 %s, max %s",
		r.OK, r.Failed, r.Elapsed.Round(time.Millisecond), r.Workers, r.PerSecond(),
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// Run calls fn from cfg.Workers goroutines until cfg.Duration has passed or
// ctx ends, then waits for the calls in flight. worker is the worker's index
// (0 to Workers-1) and n counts that worker's calls, for callers that derive
// their requests from them.
func Run(ctx context.Context, cfg Config, fn func(ctx context.Context, worker int, n int64) error) Result {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	// The run's start is taken before its deadline is set, so that a run
	// lasts at least cfg.Duration as Elapsed measures it.
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	var ok, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	lat := make([][]time.Duration, cfg.Workers)

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress == nil {
			<-stopProgress
			return
		}
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-stopProgress:
				return
			case now := <-t.C:
				n := ok.Load()
				fmt.Fprintf(cfg.Progress, "  %5.1fs  %8d ok  %6d failed  %7.0f/s now\n",
					now.Sub(start).Seconds(), n, failed.Load(), float64(n-last)/cfg.ProgressEvery.Seconds())
				last = n
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(0); ctx.Err() == nil; n++ {
				t0 := time.Now()
				err := fn(ctx, w, n)
				d := time.Since(t0)
				switch {
				case err == nil:
					ok.Add(1)
					lat[w] = append(lat[w], d)
				case ctx.Err() != nil:
					// The run ended under this call: it does not count.
				default:
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopProgress)
	<-progressDone

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := Result{Workers: cfg.Workers, Elapsed: elapsed, OK: ok.Load(), Failed: failed.Load(), FirstError: firstErr}
	if len(all) > 0 {
		r.P50, r.P90, r.P99, r.Max = pct(all, 50), pct(all, 90), pct(all, 99), all[len(all)-1]
	}
	return r
}

// pct returns the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}
