#!/usr/bin/env bash
# What PostgreSQL alone reaches with the SQL that Mutual's group commit sends,
# on Mutual's own schema, next to the ceiling's transfer_rc on the same
# server: the share of the ledger's figures that is the database's, and the
# share that is the Go side's.
#
# Starts a private `mutual serve` (local mode, throwaway data folder), adds
# 10,000 accounts in SQL, and runs with pgbench (-M prepared), one after the
# other:
#   - ../shared/bench/transfer_rc.sql, in a database of its own on the same
#     server, from 8 clients;
#   - for each GxC: a group transaction of G single transfers as the engine
#     writes it (ledger/engine.go), from C connections at once. Two round
#     trips, as the engine's: BEGIN with the lock of the group's accounts
#     (one VALUES list, in id order, FOR UPDATE), then the transfer rows,
#     their entries, the accounts' new balances and COMMIT. Each transfer
#     moves between two of the 10,000 accounts; a group's 2G accounts are
#     distinct and drawn uniformly. Ids and entry numbers are made in SQL
#     from now() (time-ordered, as the engine's UUIDv7 and per-account
#     numbers are), which costs PostgreSQL a little more than the engine's
#     binary parameters; balances are moved by an amount where the engine
#     sets the value it computed under the locks. The statements follow
#     ledger/engine.go (lockAccountsIn, insertTransfersValues,
#     insertEntriesValues, updateAccountsValues): change them together.
# GxC mirrors the ledger's shape: at 8 callers group commit writes groups of
# about 4 in 2 transactions at once (4x2); 8x1 is every caller in one group.
#
# Usage: scripts/sqlbound.sh [SECONDS] [GxC ...]   (defaults: 20 s; 4x2 8x1)
# Prints one line per run: transfers/s, the ratio to transfer_rc, and the
# CPU per transfer of PostgreSQL and of the whole machine, and the share
# of the machine's time the hypervisor took meanwhile.
set -euo pipefail
secs=${1:-20}
shift || true
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(4x2 8x1)
cd "$(dirname "$0")/.."
bench=../shared/bench
[ -f "$bench/transfer_rc.sql" ] || { echo "no $bench/transfer_rc.sql: ../shared must be beside the repository" >&2; exit 1; }
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/pgbench" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pgbench" ] || { echo "no pgbench: apt-get install -y postgresql" >&2; exit 1; }
go build -o bin/mutual ./cmd/mutual

# shellcheck source=scripts/private-server.sh
source scripts/private-server.sh
start_server sqlbound
pgdata=$dir/data/postgres/pgdata
postmaster=$(sed -n 1p "$pgdata/postmaster.pid")
export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGPASSWORD
PGPORT=$(sed -n 4p "$pgdata/postmaster.pid")
PGPASSWORD=$(cat "$dir/data/postgres/password")
work=$(mktemp -d -t sqlbound.XXXXXX)
trap 'kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir" "$work"' EXIT

accounts=10000
# Account n's id, made from pgbench's integer variable.
account() { echo "('00000000-0000-4000-8000-' || lpad(:$1::text, 12, '0'))::uuid"; }
# Transfer i's id: the transaction's time in microseconds, then a random tail.
transfer() { echo "(lpad(to_hex((extract(epoch from now()) * 1000000)::bigint), 16, '0') || substr(md5((:s::bigint + $1)::text), 1, 16))::uuid"; }
entryseq() { echo "(extract(epoch from now()) * 1000000)::bigint * 10 + $1"; }

# group G writes the pgbench script of a group transaction of G transfers.
group() {
  local g=$1 n=$(($1 * 2)) span i
  span=$((accounts / n))
  for ((i = 1; i <= n; i++)); do echo "\\set a$i $(((i - 1) * span)) + random(1, $span)"; done
  for ((i = 1; i <= g; i++)); do echo "\\set m$i random(1, 1000)"; done
  echo '\set s random(1, 1000000000000000)'
  echo '\startpipeline'
  echo 'BEGIN ISOLATION LEVEL READ COMMITTED;'
  local keys=() tr=() en=() up=()
  for ((i = 1; i <= n; i++)); do keys+=("($(account "a$i"))"); done
  echo "SELECT a.id, a.unit, a.status, a.lower_bound, a.upper_bound, a.balance, a.pending_debits, a.pending_credits, a.entry_seq, a.last_entry_at, a.region FROM (VALUES $(IFS=,; echo "${keys[*]}")) AS k(id), LATERAL (SELECT id, unit, status, lower_bound, upper_bound, balance, pending_debits, pending_credits, entry_seq, last_entry_at, region FROM accounts WHERE accounts.id = k.id FOR UPDATE) AS a;"
  echo '\endpipeline'
  echo '\startpipeline'
  for ((i = 1; i <= g; i++)); do
    local from to t
    from=$(account "a$((2 * i - 1))") to=$(account "a$((2 * i))") t=$(transfer "$i")
    tr+=("($t, NULL, NULL, 'posted', ('[{\"to\": \"' || $to || '\", \"from\": \"' || $from || '\", \"unit\": \"HOUR\", \"amount\": \"' || :m$i || '.00\"}]')::jsonb, '', NULL, NULL, NULL, NULL, now(), '')")
    en+=("($from, $(entryseq "$i"), $t, 0, -1 * :m$i, -1 * :m$i, now(), '')" "($to, $(entryseq "$i"), $t, 0, :m$i, :m$i, now(), '')")
    up+=("($from, -1 * :m$i::numeric, 0::numeric, 0::numeric, $(entryseq "$i"), now())" "($to, :m$i::numeric, 0::numeric, 0::numeric, $(entryseq "$i"), now())")
  done
  echo "INSERT INTO transfers (id, idempotency_key, request_hash, state, postings, memo, metadata, pending_id, reverses, expires_at, created_at, region) VALUES $(IFS=,; echo "${tr[*]}");"
  echo "INSERT INTO entries (account_id, seq, transfer_id, posting, amount, balance_after, posted_at, region) VALUES $(IFS=,; echo "${en[*]}");"
  echo "UPDATE accounts SET balance = accounts.balance + a.balance, pending_debits = a.pd, pending_credits = a.pc, entry_seq = a.seq, last_entry_at = a.last FROM (VALUES $(IFS=,; echo "${up[*]}")) AS a(id, balance, pd, pc, seq, last) WHERE accounts.id = a.id;"
  echo 'COMMIT;'
  echo '\endpipeline'
}

psql -q -v ON_ERROR_STOP=1 -d mutual >/dev/null <<SQL
INSERT INTO units (code, scale, created_at) VALUES ('HOUR', 2, now()) ON CONFLICT DO NOTHING;
INSERT INTO accounts (id, unit, kind, lower_bound, created_at)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'HOUR', 'member', -1000000000, now()
FROM generate_series(1, $accounts) g;
VACUUM ANALYZE accounts;
CREATE DATABASE ceiling;
SQL
psql -q -v ON_ERROR_STOP=1 -d ceiling -f "$bench/schema.sql" >/dev/null 2>&1

# cpu prints the machine's busy ticks and the cluster's CPU ticks (the
# postmaster with its ended backends, and its live children).
cpu() {
  local t p
  t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")
  for p in $(cat /proc/"$postmaster"/task/*/children); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$(awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat) $t"
}

# run NAME G C DB SCRIPT [PGBENCH ARGS...] runs pgbench (through
# scripts/stolen.sh, for the hypervisor's share) and prints its line.
ceiling=0
run() {
  local name=$1 g=$2 c=$3 db=$4 script=$5
  shift 5
  local before after out tps n stolen
  before=$(cpu)
  # Two threads, as ceiling.sh runs pgbench (one for one connection).
  out=$(bash scripts/stolen.sh "$bindir/pgbench" -n -c "$c" -j "$((c < 2 ? c : 2))" -T "$secs" "$@" -f "$script" "$db" 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
  sleep 0.3 # the backends end and the postmaster collects their CPU time
  after=$(cpu)
  tps=$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  n=$(printf '%s\n' "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
  stolen=$(printf '%s\n' "$out" | sed -n 's/^stolen by the hypervisor: \([0-9.]*\)%.*/\1/p')
  awk -v name="$name" -v g="$g" -v tps="$tps" -v n="$n" -v ceiling="$ceiling" -v b="$before" -v a="$after" -v stolen="$stolen" 'BEGIN {
    split(b, x, " "); split(a, y, " "); n *= g; hz = 100
    rate = tps * g; ratio = ceiling > 0 ? sprintf("%.2fx transfer_rc", rate / ceiling) : "the ceiling"
    printf "%-24s transfers/s=%-6.0f %-18s pg-µs/transfer=%-5.0f machine-µs/transfer=%-5.0f stolen=%s%%\n",
      name, rate, ratio, (y[2] - x[2]) * 1e6 / hz / n, (y[1] - x[1]) * 1e6 / hz / n, stolen
  }'
  if [ "$ceiling" = 0 ]; then ceiling=$(awk -v t="$tps" 'BEGIN {printf "%.0f", t}'); fi
}

echo "== the ledger's group SQL by pgbench on its own schema, ${secs}s per run (server $PGHOST:$PGPORT)"
run "transfer_rc clients=8" 1 8 ceiling "$bench/transfer_rc.sql" --max-tries=20
for shape in "${shapes[@]}"; do
  g=${shape%x*} c=${shape#*x}
  group "$g" >"$work/group$g.sql"
  run "groups of $g, $c at once" "$g" "$c" mutual "$work/group$g.sql" -M prepared
done
