// Package proccpu reads, from Linux's /proc, the CPU a process and its
// descendants have spent, the machine's busy time (and the time the
// hypervisor of a virtual machine gave to others) and this process's own:
// throughput on a shared machine moves with whatever else runs, but the CPU
// a server and its database spend on each operation does not, so the
// benchmarks (`mutual bench --server-pid`, the ledger's) report it.
package proccpu

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on every Linux
// architecture Go supports).
const userHZ = 100

// Sample is one reading of the CPU spent so far.
type Sample struct {
	Process     time.Duration // the process itself (all its threads)
	Descendants time.Duration // its descendants (a server's local PostgreSQL; a postmaster's backends)
	Machine     Machine       // every CPU of the machine
	Self        time.Duration // this process (a load generator, a benchmark)
}

// procStat is what Read needs of one /proc/PID/stat.
type procStat struct {
	pid, ppid       int
	cpu, reapedKids time.Duration // utime+stime; cutime+cstime (children that ended)
}

// parseProcStat reads the fields after the command name, which is in
// parentheses and may itself hold spaces or parentheses.
func parseProcStat(b []byte) (procStat, error) {
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, errors.New("no command name")
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("%d fields", len(f))
	}
	var st procStat
	var err error
	if st.pid, err = strconv.Atoi(strings.TrimSpace(s[:open])); err != nil {
		return procStat{}, err
	}
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, err
	}
	var t [4]int64 // utime, stime, cutime, cstime: fields 14-17
	for i := range t {
		if t[i], err = strconv.ParseInt(f[11+i], 10, 64); err != nil {
			return procStat{}, err
		}
	}
	tick := time.Second / userHZ
	st.cpu = time.Duration(t[0]+t[1]) * tick
	st.reapedKids = time.Duration(t[2]+t[3]) * tick
	return st, nil
}

// Read reads the CPU spent by process pid and by all its descendants
// (with what the children that ended had spent, the root's as well as a
// descendant's, so that a PostgreSQL backend that exits is still counted),
// the machine's busy time, and this process's own CPU.
func Read(pid int) (Sample, error) {
	var s Sample
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return s, err
	}
	procs := make(map[int]procStat)
	kids := make(map[int][]int)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		st, err := parseProcStat(b)
		if err != nil {
			continue
		}
		procs[st.pid] = st
		kids[st.ppid] = append(kids[st.ppid], st.pid)
	}
	root, ok := procs[pid]
	if !ok {
		return s, fmt.Errorf("no process %d", pid)
	}
	s.Process = root.cpu
	// A child that ended and was waited for left the tree: its CPU is now
	// in the root's reaped children, counted so that the sum never falls
	// when one ends between two readings (a backend that exits, a load
	// generator's run).
	s.Descendants = root.reapedKids
	for todo := kids[pid]; len(todo) > 0; {
		p := procs[todo[0]]
		todo = append(todo[1:], kids[p.pid]...)
		s.Descendants += p.cpu + p.reapedKids
	}
	if s.Machine, err = ReadMachine(); err != nil {
		return s, err
	}
	s.Self = Self()
	return s, nil
}

// Self is this process's user and system CPU time so far.
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Machine is the time of every CPU of the machine since boot, from
// /proc/stat's first line.
type Machine struct {
	// Busy is the time the CPUs ran something of this machine's (user,
	// nice, system, irq, softirq; guest time is already in user).
	Busy time.Duration
	// Stolen is the time a virtual machine's CPUs were ready to run but
	// the hypervisor ran something else (steal): on a shared host it
	// moves every throughput measured, whatever the code.
	Stolen time.Duration
	// Total is all of it: busy, idle, iowait and stolen.
	Total time.Duration
}

// StolenShare is the part of the machine's time from m to n that the
// hypervisor took (0 where nothing was read).
func (m Machine) StolenShare(n Machine) float64 {
	if n.Total <= m.Total {
		return 0
	}
	return float64(n.Stolen-m.Stolen) / float64(n.Total-m.Total)
}

// ReadMachine reads the machine's CPU times since boot.
func ReadMachine() (Machine, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	return parseMachine(b)
}

// parseMachine reads /proc/stat's first line: "cpu  user nice system idle
// iowait irq softirq steal guest guest_nice", in USER_HZ ticks.
func parseMachine(b []byte) (Machine, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return Machine{}, errors.New("/proc/stat: no cpu line")
	}
	var m Machine
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Machine{}, err
		}
		d := time.Duration(n) * (time.Second / userHZ)
		m.Total += d
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			m.Stolen += d
		default:
			m.Busy += d
		}
	}
	return m, nil
}
