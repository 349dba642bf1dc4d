package proccpu

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a parenthesis, as a process may
	// name itself; times in ticks of 10 ms.
	line := "4242 (post gres) x) S 4200 4242 4242 0 -1 4194560 100 0 0 0 150 25 7 3 20 0 1 0 123 456 789\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.pid != 4242 || st.ppid != 4200 {
		t.Errorf("pid %d ppid %d, want 4242 and 4200", st.pid, st.ppid)
	}
	if st.cpu != 1750*time.Millisecond || st.reapedKids != 100*time.Millisecond {
		t.Errorf("cpu %s, reaped children %s; want 1.75s and 100ms", st.cpu, st.reapedKids)
	}
	if _, err := parseProcStat([]byte("4242 post gres S 1")); err == nil {
		t.Error("a line without the command's parentheses was accepted")
	}
}

// A child process's CPU is counted among the descendants, and the
// machine's busy time grows with it.
func TestReadCountsDescendants(t *testing.T) {
	// A shell that burns CPU then waits, so that it is still there to be
	// read; its own child (the sleep) makes it a grandparent.
	child := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 30`)
	before, after := runBusy(t, child)
	if after.Machine.Busy <= before.Machine.Busy {
		t.Errorf("machine busy time did not grow: %s then %s", before.Machine.Busy, after.Machine.Busy)
	}
}

// runBusy starts child, a process that spends CPU, and reads this process
// before it and again until its descendants have spent 200 ms of CPU since:
// it returns both readings, and fails the test if that takes over 20 s.
// The child is killed when the test ends.
func runBusy(t *testing.T, child *exec.Cmd) (before, busy Sample) {
	t.Helper()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := Read(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if s.Descendants-before.Descendants >= 200*time.Millisecond {
			return before, s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the busy child's CPU was not counted: %s then %s", before.Descendants, s.Descendants)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The hypervisor's steal is neither busy nor idle time: a benchmark's CPU
// per operation must not count what another virtual machine ran.
func TestParseMachine(t *testing.T) {
	stat := "cpu  1000 10 300 5000 40 0 50 600 0 0\ncpu0 500 5 150 2500 20 0 25 300 0 0\n"
	m, err := parseMachine([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if m.Busy != 13600*time.Millisecond || m.Stolen != 6*time.Second || m.Total != 70*time.Second {
		t.Errorf("busy %s, stolen %s, total %s; want 13.6s, 6s and 1m10s", m.Busy, m.Stolen, m.Total)
	}
	later := Machine{Busy: m.Busy + 5*time.Second, Stolen: m.Stolen + 2*time.Second, Total: m.Total + 10*time.Second}
	if got := m.StolenShare(later); got != 0.2 {
		t.Errorf("stolen share %v, want 0.2 (2 s of 10)", got)
	}
	if got := m.StolenShare(m); got != 0 {
		t.Errorf("stolen share of no time %v, want 0", got)
	}
	if _, err := parseMachine([]byte("intr 1 2 3\n")); err == nil {
		t.Error("no error for a /proc/stat without its cpu line")
	}
}

func TestReadUnknownProcess(t *testing.T) {
	if _, err := Read(-5); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// A child that ends and is waited for between two readings stays counted:
// the CI once printed a negative PostgreSQL CPU per transfer when one of
// the test process's children ended during a benchmark.
func TestReadKeepsChildrenThatEnded(t *testing.T) {
	child := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; read line || true`)
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the child has spent CPU, then let it end and reap it.
	_, lived := runBusy(t, child)
	stdin.Close()
	if err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	after, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.Descendants < lived.Descendants {
		t.Errorf("descendants' CPU fell from %s to %s when the child ended", lived.Descendants, after.Descendants)
	}
}
