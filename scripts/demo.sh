#!/usr/bin/env bash
# make demo: a flash sale on a throwaway cluster.
#
# 100 units of one SKU, PS5, and 64 concurrent buyers (pgbench clients)
# who keep coming until the stock is gone, each trying to reserve 1 unit.
# Of those who get a hold, half pay (inv_commit), a quarter fail their
# payment (inv_release), a quarter walk away: their hold (ttl 2 s) expires.
# Between rounds of buyers the demo waits past the ttl and runs
# inv_sweep() itself (no background worker yet).  At the end it prints
# what happened, every number read back from the tables, and exits
# non-zero when the sale went wrong (not exactly 100 sold, an oversell,
# or inv_verify() not clean).
#
# The pgbench script and the SQL it calls are in test/pgbench/, shared
# with the stress test.

source "$(dirname "$0")/lib.sh"

DB=inventory_demo
SKU=PS5
STOCK=100
CLIENTS=64
ROUND_SECONDS=3		# buyers come for this long, then a pause
TTL=2				# a walked-away hold expires after this (s)
MAX_ROUNDS=10
PGB=$INV_ROOT/test/pgbench

inv_packages
inv_build
inv_start
trap inv_stop EXIT

q() { psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

inv_psql -d postgres -c "CREATE DATABASE $DB"
inv_psql -d "$DB" -c "CREATE EXTENSION inventory" -f "$PGB/harness.sql"
q -c "SELECT inv_set_stock('$SKU', $STOCK, 'flash sale stock')" >/dev/null
# CREATE EXTENSION asked the launcher for a sweeper in this database
for _ in $(seq 100); do
	sweeper=$(q -c "SELECT pid FROM pg_stat_activity
	                 WHERE backend_type = 'inventory sweeper' AND datname = current_database()")
	[ -n "$sweeper" ] && break
	sleep 0.1
done
[ -n "$sweeper" ] || { echo "no inventory sweeper started in $DB" >&2; exit 1; }

cat <<EOF

Flash sale: $STOCK x $SKU, $CLIENTS buyers at a time, each wants 1 unit.
A buyer with a hold pays (50 %), fails the payment (25 %) or walks away (25 %:
the hold, ttl $TTL s, is left to expire).  Nobody runs a sweep: the sweeper
(background worker, pid $sweeper, inventory.sweep_interval = 1 s) puts the
abandoned holds back on sale by itself.  Between rounds the demo just waits.

EOF

round=0
buying_ns=0
swept_total=0
while :; do
	round=$((round + 1))
	log=$INV_TMP/demo-round-$round.log
	t0=$(date +%s%N)
	if ! pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$ROUND_SECONDS" -f "$PGB/hold.sql" \
		-D sku=$SKU -D max_qty=1 -D cart_pct=0 -D try_pct=0 -D max_lines=1 \
		-D nskus=0 -D cart_hot_pct=0 -D commit_pct=50 -D release_pct=25 \
		-D hold_ttl=60 -D abandon_ttl=$TTL -D pay_ms=50 \
		"$DB" >"$log" 2>&1; then
		cat "$log" >&2
		echo "pgbench failed: a buyer hit an error other than 'sold out'" >&2
		exit 1
	fi
	buying_ns=$((buying_ns + $(date +%s%N) - t0))
	read -r buyers holds sold waiting < <(q -c "
		SELECT (SELECT count(*) FROM harness.attempt),
		       (SELECT count(*) FROM inventory.reservation),
		       (SELECT coalesce(sum(l.qty), 0) FROM inventory.reservation_line l
		          JOIN inventory.reservation r ON r.id = l.reservation_id
		         WHERE r.state = 'committed' AND l.sku = '$SKU'),
		       (SELECT count(*) FROM inventory.reservation WHERE state = 'held')")
	printf 'round %d: %d s of buyers; so far: buyers %d, holds %d, sold %d; abandoned holds in the way: %d\n' \
		"$round" "$ROUND_SECONDS" "$buyers" "$holds" "$sold" "$waiting"
	# nobody buys now: every hold that expires meanwhile is the sweeper's
	before=$(q -c "SELECT count(*) FROM inventory.reservation WHERE state = 'expired'")
	sleep "$((TTL + 1)).5"
	read -r swept still < <(q -c "
		SELECT count(*) FILTER (WHERE state = 'expired') - $before,
		       count(*) FILTER (WHERE state = 'held')
		  FROM inventory.reservation")
	swept_total=$((swept_total + swept))
	printf '         %s s later, nobody connected: the sweeper expired %d by itself, %d still held\n' \
		"$((TTL + 1)).5" "$swept" "$still"
	left=$(q -c "SELECT on_hand FROM harness.stock WHERE sku = '$SKU'")
	[ "$left" -eq 0 ] && break
	if [ "$round" -ge "$MAX_ROUNDS" ]; then
		echo "still $left units unsold after $round rounds" >&2
		break
	fi
done

# --- what happened, read from the tables ---------------------------------

declare -A n
while read -r key value; do n[$key]=$value; done < <(q <<SQL
WITH lines AS (
	SELECT r.state, l.qty FROM inventory.reservation r
	  JOIN inventory.reservation_line l ON l.reservation_id = r.id
	 WHERE l.sku = '$SKU'),
hist AS (SELECT * FROM harness.stock_history() WHERE sku = '$SKU')
SELECT 'attempts', count(*) FROM harness.attempt
UNION ALL SELECT 'refused', count(*) FROM harness.attempt WHERE reservation_id IS NULL
UNION ALL SELECT 'holds', count(*) FROM inventory.reservation
UNION ALL SELECT 'committed', count(*) FROM inventory.reservation WHERE state = 'committed'
UNION ALL SELECT 'released', count(*) FROM inventory.reservation WHERE state = 'released'
UNION ALL SELECT 'expired', count(*) FROM inventory.reservation WHERE state = 'expired'
UNION ALL SELECT 'held', count(*) FROM inventory.reservation WHERE state = 'held'
UNION ALL SELECT 'sold', coalesce(sum(qty), 0) FROM lines WHERE state = 'committed'
UNION ALL SELECT 'stock', coalesce(sum(delta), 0) FROM inventory.adjustment WHERE sku = '$SKU'
UNION ALL SELECT 'on_hand', on_hand FROM harness.stock WHERE sku = '$SKU'
UNION ALL SELECT 'reserved', reserved FROM harness.stock WHERE sku = '$SKU'
UNION ALL SELECT 'min_on_hand', min_on_hand FROM hist
UNION ALL SELECT 'min_reserved', min_reserved FROM hist
UNION ALL SELECT 'max_reserved', max_reserved FROM hist
UNION ALL SELECT 'min_available', min_available FROM hist
UNION ALL SELECT 'max_sold', max_sold FROM hist
UNION ALL SELECT 'verify', count(*) FROM inv_verify()
UNION ALL SELECT 'events', count(*) FROM inventory.outbox
SQL
)

oversold=$(( n[max_sold] > n[stock] ? n[max_sold] - n[stock] : 0 ))
never_below_zero=yes
[ "${n[min_on_hand]}" -ge 0 ] && [ "${n[min_reserved]}" -ge 0 ] && [ "${n[min_available]}" -ge 0 ] \
	|| never_below_zero=NO
buying_ms=$((buying_ns / 1000000))

echo
echo "What happened (read from the tables):"
printf '  %-22s %s\n' \
	"stock" "${n[stock]} x $SKU" \
	"buyers (attempts)" "${n[attempts]} in $round rounds, $(( n[attempts] * 1000 / buying_ms )) per second" \
	"refused" "${n[refused]} (no unit free at that moment: IV001 insufficient stock)" \
	"holds taken" "${n[holds]}, $(( n[holds] * 1000 / buying_ms )) reservations per second (${n[holds]} holds / $((buying_ms / 1000)).$(printf '%03d' $((buying_ms % 1000))) s of buying)" \
	"  paid (committed)" "${n[committed]}" \
	"  payment failed" "${n[released]} released" \
	"  walked away" "${n[expired]} expired ($swept_total by the sweeper while nobody bought, $(( n[expired] - swept_total )) during the rounds, by the sweeper or taken back by later buyers' reserves)" \
	"  still held" "${n[held]}" \
	"sold" "${n[sold]} (committed units)" \
	"oversold" "$oversold (at most ${n[max_sold]} sold at any point of the outbox replay)" \
	"never below zero" "$never_below_zero (lowest on_hand ${n[min_on_hand]}, lowest available ${n[min_available]}, peak reserved ${n[max_reserved]})" \
	"left" "on_hand ${n[on_hand]}, reserved ${n[reserved]}"
echo "  events written (outbox, ${n[events]}):"
q -c "SELECT type, count(*) FROM inventory.outbox GROUP BY 1 ORDER BY min(seq)" \
	| while read -r type count; do printf '    %-24s %s\n' "$type" "$count"; done
echo "  inventory.stats (counters in shared memory):"
q -c "SELECT 'reserves ' || reserves || ', refused (IV001) ' || refused_insufficient_stock
            || ', commits ' || commits || ', releases ' || releases
            || ', expirations ' || expirations || ', sweeps ' || sweeps
            || ', last sweep ' || round(last_sweep_ms::numeric, 1) || ' ms'
       FROM inventory.stats" | sed 's/^/    /'
if [ "${n[verify]}" -eq 0 ]; then
	echo "  inv_verify()           clean (no row: every invariant holds)"
else
	echo "  inv_verify()           ${n[verify]} BROKEN INVARIANTS:"
	q -c "SELECT * FROM inv_verify() LIMIT 20" | sed 's/^/    /'
fi

ok=yes
[ "${n[sold]}" -eq "$STOCK" ] || { echo "FAILED: sold ${n[sold]}, not $STOCK" >&2; ok=no; }
[ "$oversold" -eq 0 ] && [ "$never_below_zero" = yes ] || { echo "FAILED: oversold" >&2; ok=no; }
[ "${n[verify]}" -eq 0 ] || { echo "FAILED: inv_verify() is not clean" >&2; ok=no; }
echo
if [ "$ok" = yes ]; then
	echo "Sold exactly $STOCK, oversold 0, inv_verify() clean."
else
	exit 1
fi
