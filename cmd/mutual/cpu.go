package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU per operation, read from Linux's /proc: throughput on a shared
// machine moves with whatever else runs, but the CPU a server and its
// database spend on each transfer does not, so `mutual bench --server-pid`
// reports it next to transfers/s.

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on every Linux
// architecture Go supports).
const userHZ = 100

// cpuSample is one reading of the CPU spent so far.
type cpuSample struct {
	server   time.Duration // the server process itself (all its threads)
	children time.Duration // its descendants: the local PostgreSQL's processes
	machine  time.Duration // every CPU of the machine, busy time
	self     time.Duration // this process: the load generator
}

// procStat is what cpuSample needs of one /proc/PID/stat.
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

// sampleCPU reads the CPU spent by process pid and by all its descendants
// (for a descendant, also what its own children that ended had spent, so
// that a PostgreSQL backend that exits is still counted), the machine's
// busy time, and this process's own CPU.
func sampleCPU(pid int) (cpuSample, error) {
	var s cpuSample
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
	s.server = root.cpu
	for todo := kids[pid]; len(todo) > 0; {
		p := procs[todo[0]]
		todo = append(todo[1:], kids[p.pid]...)
		s.children += p.cpu + p.reapedKids
	}
	if s.machine, err = machineBusy(); err != nil {
		return s, err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s, nil
}

// machineBusy is the busy time of every CPU since boot, from /proc/stat's
// first line (all but idle and iowait; guest time is already in user).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy int64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * (time.Second / userHZ), nil
}

// perTransfer says what the interval from a to b cost per operation, in µs.
func perTransfer(a, b cpuSample, ops int64) string {
	if ops <= 0 {
		return "no transfer to divide by"
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(ops) }
	return fmt.Sprintf("server %.0f µs, its PostgreSQL %.0f µs, load generator %.0f µs, machine %.0f µs",
		us(b.server-a.server), us(b.children-a.children), us(b.self-a.self), us(b.machine-a.machine))
}
