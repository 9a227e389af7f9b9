#!/usr/bin/env bash
# make bench-floor: how fast can a checkout of two durable transactions be
# on this machine at all?  Issue 5's first bar asks the hot SKU for 10x the
# guarded UPDATE; this puts that target next to two floors measured on the
# same cluster, in the same minute:
#   two_commits  two autocommit statements that only take an xid (and so
#                flush a commit record each): no row written at all;
#   hold_event   the least a design with a durable hold and a durable event
#                can write: one narrow row and one event, then an update and
#                a second event (bench/floor/schema.sql);
# and the extension on the hot SKU and on 10,000 SKUs.  pgbench's tps: one
# script run is one checkout; the hot SKU never sells out.
#
# Environment: CLIENTS (default 64), DURATION seconds per run (default 8),
# ROUNDS (default 2; the runs of a round are interleaved), INV_PORT, INV_TMP.

BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export INV_TMP=${INV_TMP:-$BENCH_ROOT/tmp-bench-floor}
export INV_PORT=${INV_PORT:-5492}
source "$BENCH_ROOT/scripts/lib.sh"

CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
B=$BENCH_ROOT/bench
DB=bench

inv_packages
inv_build
inv_start "synchronous_commit = on" "fsync = on" "checkpoint_timeout = 30min" "max_wal_size = 4GB"
trap inv_stop EXIT
inv_psql -d postgres -c "CREATE DATABASE $DB"
inv_psql -d "$DB" -c "CREATE EXTENSION inventory" -f "$B/schema.sql" -f "$B/floor/schema.sql"

# name, pgbench script, SKUs lo, hi, what to seed
RUNS=(
	"guarded_update hot|$B/guarded_update.sql|0|0|bare"
	"inventory hot|$B/inventory.sql|0|0|inventory"
	"inventory uniform|$B/inventory.sql|0|9999|inventory"
	"hold_event|$B/hold_event.sql|0|0|none"
	"two_commits|$B/floor/two_commits.sql|0|0|none"
)
declare -A TPS
for round in $(seq "$ROUNDS"); do
	for r in "${RUNS[@]}"; do
		IFS='|' read -r name script lo hi kind <<<"$r"
		inv_psql -d "$DB" -qAt -c "SELECT bench.reset('$kind', $lo, $hi, 1000000000);
			TRUNCATE floor.hold, floor.event; CHECKPOINT;" >/dev/null
		tps=$("$PG_BINDIR/pgbench" -n -M prepared -c "$CLIENTS" -j "$(nproc)" -T "$DURATION" \
			-D lo="$lo" -D hi="$hi" -f "$script" "$DB" 2>&1 |
			awk '/^tps/ { printf "%.0f", $3 }')
		[ -n "$tps" ] || { echo "bench-floor: $name did not run" >&2; exit 1; }
		inv_log "round $round: $name $tps checkouts/s"
		TPS[$name]="${TPS[$name]:-} $tps"
	done
done

guarded=$(echo ${TPS["guarded_update hot"]} | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.0f", s / NF }')
printf '\n%s clients, synchronous_commit = on, %s s per run, %s rounds (checkouts/s per round)\n\n' \
	"$CLIENTS" "$DURATION" "$ROUNDS"
printf '| run | checkouts/s | mean | x guarded_update hot |\n|---|--:|--:|--:|\n'
for r in "${RUNS[@]}"; do
	name=${r%%|*}
	echo ${TPS[$name]} | awk -v n="$name" -v g="$guarded" '{
		s = 0; for (i = 1; i <= NF; i++) s += $i; m = s / NF
		printf "| %s | %s | %.0f | %.2f |\n", n, $0, m, m / g }'
done
printf '| bar 1 target (10 x guarded_update hot) | | %d | 10.00 |\n' $((guarded * 10))
