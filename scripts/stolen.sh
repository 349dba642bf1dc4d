#!/usr/bin/env bash
# Runs a command, then prints the share of the machine's time the
# hypervisor gave to other virtual machines while it ran (/proc/stat's
# steal), in the line scripts/benchratios reads. On a shared host that
# share cuts throughput whatever the code: `make bench` wraps the
# PostgreSQL ceiling with it, so that the ceiling's figures can be set
# beside the ledger's, which report their own.
# Usage: scripts/stolen.sh COMMAND [ARGS...]   (exits with COMMAND's status)
set -uo pipefail
cpu_times() { awk '/^cpu /{t=0; for (i=2; i<=9; i++) t+=$i; print $9, t; exit}' /proc/stat; }
before=$(cpu_times)
"$@"
status=$?
after=$(cpu_times)
awk -v a="$before" -v b="$after" 'BEGIN {
  split(a, x, " "); split(b, y, " "); d = y[2] - x[2]
  share = 0
  if (d > 0) share = 100 * (y[1] - x[1]) / d
  printf "stolen by the hypervisor: %.1f%% of the machine'"'"'s time\n", share
}'
exit $status
