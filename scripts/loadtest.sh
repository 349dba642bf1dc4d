#!/usr/bin/env bash
# Starts a private `mutual serve` (local mode, throwaway data folder), drives
# it with `mutual bench` (uniform and hot account, 8 and 32 workers), prints
# each summary and stops the server. Used by `make bench`.
# Usage: scripts/loadtest.sh [SECONDS]     (default 20)
#   WORKERS="32" runs only 32 workers; MODES="hot" only the hot account.
set -euo pipefail
secs=${1:-20}
cd "$(dirname "$0")/.."
go build -o bin/mutual ./cmd/mutual

base=/tmp # reachable by the unprivileged PostgreSQL user when run as root
dir=$(mktemp -d "$base/mutual-loadtest.XXXXXX")
chmod 0711 "$dir"
out="$dir/serve.out"
# SERVE_ARGS adds flags to serve (e.g. "--group-commit=false --db-pool 8").
# shellcheck disable=SC2086
bin/mutual serve --addr 127.0.0.1:0 --data-dir "$dir/data" ${SERVE_ARGS:-} >"$out" 2>"$dir/serve.log" &
pid=$!
cleanup() {
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$out" | head -n 1)
  [ -n "$url" ] && [ -s "$dir/data/admin-token" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.log" >&2; echo "mutual serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "mutual serve did not start" >&2; exit 1; }
echo "== server $url (pid $pid)"

for m in ${MODES:-uniform hot}; do
  mode=""; [ "$m" = hot ] && mode=--hot
  for workers in ${WORKERS:-8 32}; do
    echo "== mutual bench --workers $workers --duration ${secs}s $mode"
    bin/mutual bench --url "$url" --data-dir "$dir/data" --workers "$workers" --duration "${secs}s" --accounts 1000 $mode | grep -v '^ '
    grep -E '^VmRSS|^VmHWM' "/proc/$pid/status" | tr -s ' \t' ' ' | sed 's/^/   server /'
  done
done
