#!/usr/bin/env bash
# Starts a private `mutual serve` (local mode, throwaway data folder),
# loads the demo into it, and runs scripts/pages against it: the
# screenshots of the main pages (into docs/screenshots), or the pages'
# benchmark (32 signed-in members browsing at once). Stops the server.
# Used by `make screenshots` and `make bench`.
# Usage: scripts/pages.sh screenshots
#        scripts/pages.sh bench [SECONDS]     (default 90)
# bench runs twice: SECONDS of members reading each page for about a second
# (the realistic load, about 32 pages a second, whose server time p99 is
# the goal; longer than a minute, so that the write each session's use
# costs once a minute is in the figures), then 20 s without pauses (the
# most the server answers, a different figure).
# NICE=-10 runs the server (and so its PostgreSQL) and the clients at that
# niceness: on a machine shared with other jobs (builds, tests), it tells
# what the server does when it is not kept waiting for a core by them;
# say so beside any figure measured that way.
set -euo pipefail
nice=(nice -n "${NICE:-0}")
mode=${1:?usage: scripts/pages.sh screenshots|bench [SECONDS]}
secs=${2:-90}
cd "$(dirname "$0")/.."
go build -o bin/mutual ./cmd/mutual
go build -o bin/pages ./scripts/pages

# shellcheck source=scripts/private-server.sh
source scripts/private-server.sh
start_server pages "${nice[@]}"
# The demo's first two lines say what it loaded; the whole of it (tokens,
# sign-in codes) goes to a file, so that the demo never writes to a closed
# pipe.
bin/mutual demo --url "$url" --data-dir "$dir/data" >"$dir/demo.log"
head -n 2 "$dir/demo.log"

case "$mode" in
  screenshots) bin/pages screenshots -url "$url" -token-file "$dir/data/admin-token" -out docs/screenshots ;;
  bench)
    "${nice[@]}" bin/pages bench -url "$url" -token-file "$dir/data/admin-token" -users 32 -duration "${secs}s" -think 1s -server-pid "$pid"
    "${nice[@]}" bin/pages bench -url "$url" -token-file "$dir/data/admin-token" -users 32 -duration 20s -think 0 -server-pid "$pid" ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
