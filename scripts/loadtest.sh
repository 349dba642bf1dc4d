#!/usr/bin/env bash
# Starts a private `mutual serve` (local mode, throwaway data folder), drives
# it with `mutual bench` (uniform and hot account, 8 and 32 workers), prints
# each summary with the CPU the server and its PostgreSQL spent per transfer,
# and stops the server. Used by `make bench`.
# Usage: scripts/loadtest.sh [SECONDS]     (default 20)
#   WORKERS="32" runs only 32 workers; MODES="hot" only the hot account.
set -euo pipefail
secs=${1:-20}
cd "$(dirname "$0")/.."
go build -o bin/mutual ./cmd/mutual

# shellcheck source=scripts/private-server.sh
source scripts/private-server.sh
start_server loadtest
echo "== server $url (pid $pid)"

for m in ${MODES:-uniform hot}; do
  mode=""; [ "$m" = hot ] && mode=--hot
  for workers in ${WORKERS:-8 32}; do
    echo "== mutual bench --workers $workers --duration ${secs}s $mode"
    bin/mutual bench --url "$url" --data-dir "$dir/data" --workers "$workers" --duration "${secs}s" --accounts 1000 --server-pid "$pid" $mode | grep -v '^ '
    grep -E '^VmRSS|^VmHWM' "/proc/$pid/status" | tr -s ' \t' ' ' | sed 's/^/   server /'
  done
done
