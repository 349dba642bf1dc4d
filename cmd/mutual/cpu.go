package main

import (
	"fmt"
	"time"

	"github.com/mutual-ledger/mutual/internal/proccpu"
)

// perTransfer says what the interval from a to b cost per operation, in
// µs, and how much of the machine's time the hypervisor gave to others
// meanwhile (which cuts throughput, not the CPU per operation).
func perTransfer(a, b proccpu.Sample, ops int64) string {
	if ops <= 0 {
		return "no transfer to divide by"
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(ops) }
	return fmt.Sprintf("server %.0f µs, its PostgreSQL %.0f µs, load generator %.0f µs, machine %.0f µs; stolen by the hypervisor %.1f%% of the machine's time",
		us(b.Process-a.Process), us(b.Descendants-a.Descendants), us(b.Self-a.Self), us(b.Machine.Busy-a.Machine.Busy),
		100*a.Machine.StolenShare(b.Machine))
}
