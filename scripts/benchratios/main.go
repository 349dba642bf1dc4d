// Command benchratios prints, at the end of `make bench`, what the ledger
// measured next to the PostgreSQL ceiling of the same run and the ratio the
// project aims for (issue 14): single transfers in Go at least 3 times
// transfer_rc, over HTTP at 32 workers at least 2 times transfer_rc with a
// p99 under 50 ms, the hot account at least 4 times transfer_hot_rc, and
// batches of 100 at least 1.2 times transfer_batch100_rc, at 8 and 32
// callers. Only ratios taken in one run mean anything on a shared machine,
// and only when the hypervisor took alike shares of the machine's time
// from the ceiling and from the ledger: each row says what it took from
// the ledger's run, and a line below what it took from the ceiling's.
//
//	go run ./scripts/benchratios -ceiling CEILING.txt -go GO.txt -http HTTP.txt
//
// Each file is the saved output of one part of `make bench`: the ceiling
// script (../shared/bench/ceiling.sh), `go test -bench` of the ledger, and
// scripts/loadtest.sh (the ceiling's output followed by the line
// scripts/stolen.sh adds). A missing or empty file leaves its rows unmeasured;
// without a ceiling, the ledger's figures are printed and the ratios are
// skipped, saying so.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	ceiling := flag.String("ceiling", "", "output of the ceiling script")
	goBench := flag.String("go", "", "output of go test -bench for ./ledger/")
	httpBench := flag.String("http", "", "output of scripts/loadtest.sh")
	flag.Parse()
	var f figures
	for _, in := range []struct {
		path  string
		parse func(io.Reader, *figures) error
	}{{*ceiling, parseCeiling}, {*goBench, parseGoBench}, {*httpBench, parseLoadtest}} {
		if in.path == "" {
			continue
		}
		r, err := os.Open(in.path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchratios:", err)
			os.Exit(1)
		}
		err = in.parse(r, &f)
		r.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchratios: %s: %v\n", in.path, err)
			os.Exit(1)
		}
	}
	report(os.Stdout, f)
}

// figures are the throughputs (transfers/s) read from the outputs, by
// name: the ceiling's "script/clients", the Go benchmarks' names without
// their -GOMAXPROCS suffix, and the load generator's "http/mode/workers".
type figures struct {
	rate map[string]float64
	p99  map[string]time.Duration // the load generator's, same keys
	cpu  map[string]string        // the server's and its PostgreSQL's CPU per transfer, same keys
	// stolen is the share of the machine's time (%) the hypervisor gave to
	// other virtual machines during each ledger run, same keys;
	// ceilingStolen during the whole ceiling script, when measured.
	stolen        map[string]float64
	ceilingStolen *float64
}

func (f *figures) set(key string, v float64) {
	if f.rate == nil {
		f.rate = make(map[string]float64)
	}
	f.rate[key] = v
}

func (f *figures) setStolen(key string, v float64) {
	if f.stolen == nil {
		f.stolen = make(map[string]float64)
	}
	f.stolen[key] = v
}

// stolenLine is what scripts/stolen.sh prints after the command it ran.
var stolenLine = regexp.MustCompile(`^stolen by the hypervisor: ([0-9.]+)% of the machine's time`)

var ceilingLine = regexp.MustCompile(`^(\S+)\s+clients=(\d+)\s+transfers/s=([0-9.]+)`)

// parseCeiling reads lines such as
// "transfer_batch100_rc clients=8   transfers/s=6061       failed=0".
func parseCeiling(r io.Reader, f *figures) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := stolenLine.FindStringSubmatch(sc.Text()); m != nil {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return err
			}
			f.ceilingStolen = &v
			continue
		}
		m := ceilingLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return err
		}
		f.set(m[1]+"/"+m[2], v)
	}
	return sc.Err()
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseGoBench reads benchmark result lines, whose metrics come as value
// and unit pairs after the iteration count, and keeps transfers/s and
// stolen-%:
// "BenchmarkBatch100/uniform/clients=8-2  20000  268582 ns/op  3723 transfers/s".
func parseGoBench(r io.Reader, f *figures) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := procsSuffix.ReplaceAllString(fields[0], "")
		for i := 2; i+1 < len(fields); i += 2 {
			unit := fields[i+1]
			if unit != "transfers/s" && unit != "stolen-%" {
				continue
			}
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if unit == "stolen-%" {
				f.setStolen(name, v)
			} else {
				f.set(name, v)
			}
		}
	}
	return sc.Err()
}

var loadtestLine = regexp.MustCompile(`^(uniform|hot account) transfers: \d+ ok, \d+ failed in \S+ with (\d+) workers: ([0-9.]+)/s, p50 \S+, p90 \S+, p99 (\S+),`)

var cpuLine = regexp.MustCompile(`^CPU per transfer: server (\d+) µs, its PostgreSQL (\d+) µs(?:.*; stolen by the hypervisor ([0-9.]+)%)?`)

// parseLoadtest reads the summaries of `mutual bench`:
// "uniform transfers: 24000 ok, 0 failed in 20s with 32 workers: 1200/s, p50 …, p90 …, p99 26ms, max …",
// each followed, with --server-pid, by "CPU per transfer: server 200 µs, its PostgreSQL 210 µs, …;
// stolen by the hypervisor 3.1% of the machine's time".
func parseLoadtest(r io.Reader, f *figures) error {
	sc := bufio.NewScanner(r)
	last := ""
	for sc.Scan() {
		if c := cpuLine.FindStringSubmatch(sc.Text()); c != nil && last != "" {
			if f.cpu == nil {
				f.cpu = make(map[string]string)
			}
			f.cpu[last] = fmt.Sprintf("server %s µs + PostgreSQL %s µs", c[1], c[2])
			if c[3] != "" {
				v, err := strconv.ParseFloat(c[3], 64)
				if err != nil {
					return err
				}
				f.setStolen(last, v)
			}
			continue
		}
		m := loadtestLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return err
		}
		mode := "uniform"
		if m[1] == "hot account" {
			mode = "hot"
		}
		key := "http/" + mode + "/" + m[2]
		last = key
		f.set(key, v)
		if d, err := time.ParseDuration(m[4]); err == nil {
			if f.p99 == nil {
				f.p99 = make(map[string]time.Duration)
			}
			f.p99[key] = d
		}
	}
	return sc.Err()
}

// target is one row of the report: a ledger figure, the ceiling figure it
// is compared with, and the least ratio aimed for (0: shown, no target).
type target struct {
	measure string
	ledger  string
	ceiling string
	least   float64
}

var targets = []target{
	{"Go, single transfers, 8 callers", "BenchmarkTransfer/uniform/clients=8", "transfer_rc/8", 3},
	{"Go, single transfers, 32 callers", "BenchmarkTransfer/uniform/clients=32", "transfer_rc/32", 3},
	{"Go, hot account, 8 callers", "BenchmarkTransfer/hot/clients=8", "transfer_hot_rc/8", 4},
	{"Go, hot account, 32 callers", "BenchmarkTransfer/hot/clients=32", "transfer_hot_rc/32", 4},
	{"Go, batches of 100, 8 callers", "BenchmarkBatch100/uniform/clients=8", "transfer_batch100_rc/8", 1.2},
	{"Go, batches of 100, 32 callers", "BenchmarkBatch100/uniform/clients=32", "transfer_batch100_rc/32", 1.2},
	{"HTTP, single transfers, 8 workers", "http/uniform/8", "transfer_rc/8", 0},
	{"HTTP, single transfers, 32 workers", "http/uniform/32", "transfer_rc/32", 2},
	{"HTTP, hot account, 8 workers", "http/hot/8", "transfer_hot_rc/8", 0},
	{"HTTP, hot account, 32 workers", "http/hot/32", "transfer_hot_rc/32", 4},
}

// maxP99 is the latency aimed for over HTTP at 32 workers.
const maxP99 = 50 * time.Millisecond

func report(w io.Writer, f figures) {
	haveCeiling := false
	for _, t := range targets {
		if f.rate[t.ceiling] > 0 {
			haveCeiling = true
		}
	}
	if !haveCeiling {
		fmt.Fprintln(w, "no ceiling was measured in this run (the ceiling script is missing or failed): ratios skipped")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tledger/s\tceiling\tceiling/s\tratio\ttarget\t\tstolen\t")
	for _, t := range targets {
		led, ok := f.rate[t.ledger]
		ceil := f.rate[t.ceiling]
		ledS, ceilS, ratioS, verdict := "-", "-", "-", "not measured"
		if ok {
			ledS = fmt.Sprintf("%.0f", led)
		}
		if ceil > 0 {
			ceilS = fmt.Sprintf("%.0f", ceil)
		}
		switch {
		case ok && ceil > 0:
			r := led / ceil
			ratioS = fmt.Sprintf("%.2f×", r)
			verdict = "met"
			if r < t.least {
				verdict = "BELOW"
			}
		case ok:
			verdict = "no ceiling"
		}
		targetS := "-"
		if t.least > 0 {
			targetS = fmt.Sprintf("≥ %g×", t.least)
		} else if verdict == "met" {
			verdict = ""
		}
		stolenS := "-"
		if v, ok := f.stolen[t.ledger]; ok {
			stolenS = fmt.Sprintf("%.1f%%", v)
		}
		name, _, _ := strings.Cut(t.ceiling, "/")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", t.measure, ledS, name, ceilS, ratioS, targetS, verdict, stolenS)
	}
	tw.Flush()
	if f.ceilingStolen != nil {
		fmt.Fprintf(w, "stolen: the share of the machine's time the hypervisor gave to other virtual machines during the ledger's run; during the ceiling's, %.1f%%\n", *f.ceilingStolen)
	}
	if d, ok := f.p99["http/uniform/32"]; ok {
		verdict := "met"
		if d >= maxP99 {
			verdict = "ABOVE"
		}
		fmt.Fprintf(w, "HTTP p99 at 32 workers: uniform %s", d)
		if h, ok := f.p99["http/hot/32"]; ok {
			fmt.Fprintf(w, ", hot account %s", h)
			if h >= maxP99 {
				verdict = "ABOVE"
			}
		}
		fmt.Fprintf(w, " (target under %s: %s)\n", maxP99, verdict)
	}
	// CPU per transfer moves much less than throughput when other work
	// shares the machine: the figure to compare runs by.
	if c, ok := f.cpu["http/uniform/32"]; ok {
		fmt.Fprintf(w, "HTTP CPU per transfer at 32 workers: uniform %s", c)
		if h, ok := f.cpu["http/hot/32"]; ok {
			fmt.Fprintf(w, "; hot account %s", h)
		}
		fmt.Fprintln(w)
	}
}
