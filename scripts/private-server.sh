# Sourced by scripts/loadtest.sh and scripts/pages.sh (bash, set -euo pipefail).
#
# start_server NAME [PREFIX...] starts bin/mutual serve in local mode on a
# free port of 127.0.0.1, with a throwaway data folder under /tmp (where
# the unprivileged PostgreSQL user can reach it when run as root), behind
# PREFIX when given (e.g. nice -n -10) and with SERVE_ARGS added (e.g.
# "--group-commit=false --db-pool 8"). It sets dir (the folder), pid and
# url once the server listens and has saved the admin's token, and stops
# the server and removes the folder when the script exits.
start_server() {
  local name=$1
  shift
  dir=$(mktemp -d "/tmp/mutual-$name.XXXXXX")
  chmod 0711 "$dir"
  local out="$dir/serve.out"
  # shellcheck disable=SC2086
  "$@" bin/mutual serve --addr 127.0.0.1:0 --data-dir "$dir/data" ${SERVE_ARGS:-} >"$out" 2>"$dir/serve.log" &
  pid=$!
  trap 'kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

  url=""
  for _ in $(seq 1 600); do
    url=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$out" | head -n 1)
    [ -n "$url" ] && [ -s "$dir/data/admin-token" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.log" >&2; echo "mutual serve exited" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$url" ] || { echo "mutual serve did not start" >&2; exit 1; }
}
