package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mutual-ledger/mutual/ledger"
)

// groupCommitCollectors returns the ledger's group-commit counters
// (ledger.Store.GroupStats) for /metrics, so an operator can see how many
// single transfers share a transaction (all stay zero with
// --group-commit=false), and its batch-merging ones (MergeStats): how many
// large batches shared one.
func groupCommitCollectors(s *ledger.Store) []prometheus.Collector {
	counter := func(name, help string, stat func(ledger.GroupStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(stat(s.GroupStats())) })
	}
	return []prometheus.Collector{
		counter("mutual_group_commit_transactions_total", "Transactions that wrote single transfers through group commit, alone or in groups.",
			func(g ledger.GroupStats) int64 { return g.Groups + g.Alone }),
		counter("mutual_group_commit_groups_total", "Of those, transactions that carried two or more single transfers.",
			func(g ledger.GroupStats) int64 { return g.Groups }),
		counter("mutual_group_commit_transfers_total", "Single transfers written through group commit (whatever their outcome).",
			func(g ledger.GroupStats) int64 { return g.Grouped + g.Alone }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mutual_group_commit_largest", Help: "The most single transfers one transaction carried."},
			func() float64 { return float64(s.GroupStats().Largest) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mutual_batch_merge_groups_total", Help: "Transactions that carried two or more large batches of transfers."},
			func() float64 { return float64(s.MergeStats().Groups) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mutual_batch_merge_batches_total", Help: "Large batches of transfers written in a transaction shared with other batches."},
			func() float64 { return float64(s.MergeStats().Batches) }),
	}
}
