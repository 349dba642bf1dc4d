package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

const ceilingOut = `== PostgreSQL ceiling: ../shared/bench/ceiling.sh 20
transfer         clients=8   transfers/s=2100       failed=0
transfer_rc      clients=8   transfers/s=2000       failed=0
transfer_rc      clients=32  transfers/s=1800       failed=0
transfer_hot_rc  clients=8   transfers/s=500        failed=3
transfer_hot_rc  clients=32  transfers/s=none       failed=?
transfer_batch100_rc clients=8   transfers/s=6000       failed=0
transfer_batch100_rc clients=32  transfers/s=3000       failed=0
stolen by the hypervisor: 4.2% of the machine's time
`

const goOut = `goos: linux
BenchmarkTransfer/uniform/clients=8-2         	   20000	    100000 ns/op	        30.00 go-µs/transfer	       250.0 machine-µs/transfer	         0.5000 stolen-%	       6100 transfers/s	    5000 B/op	      60 allocs/op
BenchmarkTransfer/hot/clients=8-2             	   20000	    100000 ns/op	        2100 transfers/s
BenchmarkBatch100/uniform/clients=8-2         	   20000	    268582 ns/op	        43.94 go-µs/transfer	       535.0 machine-µs/transfer	         0 retries	      7500 transfers/s
BenchmarkBatch100/uniform/clients=32-2        	   20000	    407009 ns/op	        3300 transfers/s
PASS
`

const httpOut = `== mutual bench --workers 32 --duration 20s
uniform transfers: 80000 ok, 0 failed in 20.001s with 32 workers: 4000/s, p50 6ms, p90 12ms, p99 31.5ms, max 90ms
CPU per transfer: server 180 µs, its PostgreSQL 190 µs, load generator 90 µs, machine 560 µs; stolen by the hypervisor 12.5% of the machine's time
   server VmRSS: 40000 kB
== mutual bench --workers 32 --duration 20s --hot
hot account transfers: 30000 ok, 0 failed in 20s with 32 workers: 1500/s, p50 20ms, p90 40ms, p99 61ms, max 120ms
CPU per transfer: server 170 µs, its PostgreSQL 160 µs, load generator 85 µs, machine 500 µs
`

func parseAll(t *testing.T, ceiling, goBench, http string) figures {
	t.Helper()
	var f figures
	if err := parseCeiling(strings.NewReader(ceiling), &f); err != nil {
		t.Fatal(err)
	}
	if err := parseGoBench(strings.NewReader(goBench), &f); err != nil {
		t.Fatal(err)
	}
	if err := parseLoadtest(strings.NewReader(http), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// row returns the report's line for a measure, with its columns.
func row(t *testing.T, report, measure string) []string {
	t.Helper()
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), measure) {
			return strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), measure))
		}
	}
	t.Fatalf("no row %q in\n%s", measure, report)
	return nil
}

func TestReportRatiosAgainstTargets(t *testing.T) {
	f := parseAll(t, ceilingOut, goOut, httpOut)
	var b strings.Builder
	report(&b, f)
	out := b.String()
	for _, c := range []struct {
		measure string
		want    []string
	}{
		// 6100 / 2000: just above 3×.
		// The last column: the hypervisor's share of the ledger's run.
		{"Go, single transfers, 8 callers", []string{"6100", "transfer_rc", "2000", "3.05×", "≥", "3×", "met", "0.5%"}},
		// 2100 / 500: just above 4×.
		{"Go, hot account, 8 callers", []string{"2100", "transfer_hot_rc", "500", "4.20×", "≥", "4×", "met", "-"}},
		{"Go, batches of 100, 8 callers", []string{"7500", "transfer_batch100_rc", "6000", "1.25×", "≥", "1.2×", "met", "-"}},
		{"Go, batches of 100, 32 callers", []string{"3300", "transfer_batch100_rc", "3000", "1.10×", "≥", "1.2×", "BELOW", "-"}},
		{"HTTP, single transfers, 32 workers", []string{"4000", "transfer_rc", "1800", "2.22×", "≥", "2×", "met", "12.5%"}},
		// The ceiling's hot run at 32 clients printed "none": no ratio.
		{"HTTP, hot account, 32 workers", []string{"1500", "transfer_hot_rc", "-", "-", "≥", "4×", "no", "ceiling", "-"}},
		{"Go, single transfers, 32 callers", []string{"-", "transfer_rc", "1800", "-", "≥", "3×", "not", "measured", "-"}},
	} {
		got := row(t, out, c.measure)
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %q, want %q", c.measure, got, c.want)
		}
	}
	if !strings.Contains(out, "HTTP p99 at 32 workers: uniform 31.5ms, hot account 61ms (target under 50ms: ABOVE)") {
		t.Errorf("p99 line missing or wrong in\n%s", out)
	}
	if !strings.Contains(out, "HTTP CPU per transfer at 32 workers: uniform server 180 µs + PostgreSQL 190 µs; hot account server 170 µs + PostgreSQL 160 µs\n") {
		t.Errorf("CPU line missing or wrong in\n%s", out)
	}
	if !strings.Contains(out, "during the ceiling's, 4.2%\n") {
		t.Errorf("the ceiling's stolen share missing or wrong in\n%s", out)
	}
	if strings.Contains(out, "ratios skipped") {
		t.Errorf("said it skipped the ratios although a ceiling was measured:\n%s", out)
	}
}

func TestReportWithoutCeiling(t *testing.T) {
	f := parseAll(t, "== ../shared/bench/ceiling.sh not found: skipping the PostgreSQL ceiling\n", goOut, "")
	var b strings.Builder
	report(&b, f)
	out := b.String()
	if !strings.HasPrefix(out, "no ceiling was measured in this run") {
		t.Errorf("does not say the ratios were skipped:\n%s", out)
	}
	got := row(t, out, "Go, batches of 100, 8 callers")
	if strings.Join(got, " ") != "7500 transfer_batch100_rc - - ≥ 1.2× no ceiling -" {
		t.Errorf("batches row without a ceiling: %q", got)
	}
	if strings.Contains(out, "p99") || strings.Contains(out, "CPU per transfer") || strings.Contains(out, "during the ceiling's") {
		t.Errorf("reported a p99 or CPU figure that was not measured:\n%s", out)
	}
}

// The line scripts/stolen.sh prints after the ceiling is the one this
// command reads, and the script passes on its command's exit status (make
// bench stops when the ceiling fails).
func TestStolenScript(t *testing.T) {
	out, err := exec.Command("bash", "../stolen.sh", "true").Output()
	if err != nil {
		t.Fatal(err)
	}
	var f figures
	if err := parseCeiling(strings.NewReader(string(out)), &f); err != nil || f.ceilingStolen == nil {
		t.Fatalf("benchratios does not read stolen.sh's line %q (%v)", out, err)
	}
	if *f.ceilingStolen < 0 || *f.ceilingStolen > 100 {
		t.Errorf("stolen share %v%%, outside 0-100", *f.ceilingStolen)
	}
	err = exec.Command("bash", "../stolen.sh", "sh", "-c", "exit 3").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("stolen.sh around a command that exits 3: %v, want exit status 3", err)
	}
}
