#!/usr/bin/env bash
# scripts/stress.sh: the stress suite of make test.
#
# Runs against the cluster the PG* variables name (scripts/test.sh starts
# one and exports PGHOST, PGPORT, PGUSER); it starts and stops nothing.
# In a database of its own, inventory_stress, 40 pgbench clients hammer one
# hot SKU and random carts of 50 others for STRESS_SECONDS (13) seconds:
# buyers pay, fail to pay or walk away (1 s holds), the sweeper (background
# worker, every 100 ms) and pgbench clients calling inv_sweep() expire holds
# side by side, the warehouse receives and writes off units, and an outbox
# relay drains the events as they commit.  Then it waits past the ttl,
# sweeps, drains the relay, and checks every invariant twice, with
# inv_verify() and with its own queries, and that the relay got every event.  One line per check, "PASS name" or "FAIL name: details";
# the exit status is non-zero when any check fails.
#
# The pgbench scripts and the SQL they call are in test/pgbench/.

source "$(dirname "$0")/lib.sh"

: "${PGHOST:?stress.sh runs against a running cluster: export PGHOST, PGPORT, PGUSER}"
export PGHOST PGPORT PGUSER

DB=inventory_stress
CLIENTS=${STRESS_CLIENTS:-40}
DURATION=${STRESS_SECONDS:-13}
HOT=HOT
HOT_STOCK=400
NSKUS=50
ABANDON_TTL=1
PGB=$INV_ROOT/test/pgbench

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

q() { psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

failed=0
# check NAME: the SQL on stdin returns one row per problem, none when all is well.
check() {
	local name=$1 out
	if ! out=$(q 2>&1); then
		echo "FAIL $name: query failed: $(paste -sd' ' <<<"$out")"
		failed=1
	elif [ -n "$out" ]; then
		echo "FAIL $name: $(head -5 <<<"$out" | paste -sd';' -)$([ "$(wc -l <<<"$out")" -gt 5 ] && echo ' ...')"
		failed=1
	else
		echo "PASS $name"
	fi
}

inv_log "stress: database $DB, $CLIENTS clients for ${DURATION} s"
PGOPTIONS="-c client_min_messages=warning" inv_psql -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
inv_psql -d "$DB" -c "CREATE EXTENSION inventory" -f "$PGB/harness.sql"
# the sweeper runs during the stress only (make test keeps it off otherwise)
inv_psql -d postgres -c "ALTER SYSTEM SET inventory.sweep_interval = '100ms'" -c "SELECT pg_reload_conf()" >/dev/null
trap 'inv_psql -d postgres -c "ALTER SYSTEM RESET inventory.sweep_interval" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
q >/dev/null <<SQL
CREATE TABLE harness.delivered (seq bigint NOT NULL);
SELECT inv_outbox_subscribe('stress-relay', 0);
SQL

# The catalogue: HOT, and SKU-001..SKU-050 with 10 to 99 units; then the start.
q >/dev/null <<SQL
SELECT inv_set_stock('$HOT', $HOT_STOCK, 'stress: initial count');
SELECT inv_set_stock(harness.sku(i), 10 + (i * 37) % 90, 'stress: initial count')
  FROM generate_series(1, $NSKUS) i;
CREATE TABLE harness.start_stock AS SELECT sku, on_hand, reserved FROM harness.stock;
CREATE TABLE harness.start_mark AS
SELECT (SELECT coalesce(max(id), 0) FROM inventory.adjustment) AS adjustment_id,
       (SELECT coalesce(max(seq), 0) FROM inventory.outbox) AS outbox_seq,
       (SELECT count(*) FROM inventory.reservation) AS reservations;
SQL

# 87 % buyers (a third each: the hot SKU, inv_reserve_cart, inv_try_reserve_cart),
# 4 % sweeps, 9 % receipts and write-offs.
pgbench_rc=0
relay_rc=0
pgbench -n -c 1 -T "$DURATION" -f "$PGB/relay.sql" "$DB" >"$work/relay.log" 2>&1 &
relay_pid=$!
pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" \
	-f "$PGB/hold.sql@20" -f "$PGB/sweep.sql@1" -f "$PGB/adjust.sql@2" \
	-D sku=$HOT -D max_qty=3 -D cart_pct=33 -D try_pct=33 -D max_lines=4 \
	-D nskus=$NSKUS -D cart_hot_pct=30 -D commit_pct=40 -D release_pct=30 \
	-D hold_ttl=600 -D abandon_ttl=$ABANDON_TTL -D pay_ms=10 \
	"$DB" >"$work/pgbench.log" 2>&1 || pgbench_rc=$?

wait "$relay_pid" || relay_rc=$?
sweeper=$(q -c "SELECT sweeper_pid FROM inventory.stats")

# Past the ttl of the last abandoned hold, expire everything overdue; then
# let the relay take what is left.
sleep "$ABANDON_TTL.5"
while [ "$(q -c 'SELECT inv_sweep(10000)')" -gt 0 ]; do :; done
for _ in $(seq 100); do
	[ "$(q -c "SELECT backlog FROM inventory.outbox_consumers WHERE consumer = 'stress-relay'")" -eq 0 ] && break
	pgbench -n -c 1 -t 50 -f "$PGB/relay.sql" "$DB" >>"$work/relay.log" 2>&1 || relay_rc=$?
done

echo "# pgbench (exit $pgbench_rc)"
grep -E 'number of (transactions|failed)|tps =|aborted|error|ERROR' "$work/pgbench.log" | head -20 || true
echo "# attempts (api, status, count)"
q -c "SELECT api, status, count(*) FROM harness.attempt GROUP BY 1, 2 ORDER BY 1, 2"
echo "# holds (state, count, units of $HOT, units in all)"
q -c "SELECT r.state, count(DISTINCT r.id), coalesce(sum(l.qty) FILTER (WHERE l.sku = '$HOT'), 0), sum(l.qty)
        FROM inventory.reservation r JOIN inventory.reservation_line l ON l.reservation_id = r.id
       GROUP BY 1 ORDER BY 1"
echo "# events (type, count)"
q -c "SELECT type, count(*) FROM inventory.outbox GROUP BY 1 ORDER BY 1"

# --- the run itself -----------------------------------------------------

if [ "$pgbench_rc" -eq 0 ] && ! grep -qiE 'aborted|error' "$work/pgbench.log" \
	&& grep -qE '^number of failed transactions: 0 ' "$work/pgbench.log"; then
	echo "PASS pgbench_run"
else
	echo "FAIL pgbench_run: exit $pgbench_rc: $(grep -iE 'aborted|error|failed' "$work/pgbench.log" | head -3 | paste -sd';' -)"
	failed=1
fi

if [ "$relay_rc" -eq 0 ] && [ -n "$sweeper" ]; then
	echo "PASS relay_and_sweeper_ran"
else
	echo "FAIL relay_and_sweeper_ran: relay exit $relay_rc, sweeper pid '${sweeper}': $(grep -iE 'error|abort' "$work/relay.log" | head -3 | paste -sd';' -)"
	failed=1
fi

check relay_got_every_event <<SQL
-- at least once, none skipped: every event of the outbox reached the
-- relay, and it got nothing that is not in the outbox
SELECT 'seq ' || seq || ' never delivered' FROM
  (SELECT seq FROM inventory.outbox EXCEPT SELECT seq FROM harness.delivered) m
UNION ALL
SELECT 'seq ' || seq || ' delivered but not in the outbox' FROM
  (SELECT seq FROM harness.delivered EXCEPT SELECT seq FROM inventory.outbox) x
UNION ALL
SELECT 'delivered only ' || count(*) || ' events' FROM harness.delivered HAVING count(*) < 1000
SQL

check sweeper_expired_holds <<SQL
SELECT 'inventory.stats: sweeps ' || sweeps || ', expirations ' || expirations
  FROM inventory.stats WHERE sweeps = 0 OR expirations = 0
SQL

check no_deadlocks <<SQL
SELECT 'deadlocks: ' || deadlocks FROM pg_stat_database WHERE datname = '$DB' AND deadlocks > 0
SQL

check run_not_vacuous <<SQL
SELECT what || ' is 0' FROM (VALUES
	('commits', (SELECT count(*) FROM inventory.reservation WHERE state = 'committed')),
	('releases', (SELECT count(*) FROM inventory.reservation WHERE state = 'released')),
	('expirations', (SELECT count(*) FROM inventory.reservation WHERE state = 'expired')),
	('refusals of $HOT', (SELECT count(*) FROM harness.attempt
						   WHERE api = 'inv_reserve' AND status = 'insufficient_stock')),
	('holds of inv_reserve_cart', (SELECT count(*) FROM harness.attempt
								   WHERE api = 'inv_reserve_cart' AND reservation_id IS NOT NULL)),
	('refusals of inv_reserve_cart', (SELECT count(*) FROM harness.attempt
									  WHERE api = 'inv_reserve_cart' AND status = 'insufficient_stock')),
	('holds of inv_try_reserve_cart', (SELECT count(*) FROM harness.attempt
									   WHERE api = 'inv_try_reserve_cart' AND reservation_id IS NOT NULL)),
	('refusals of inv_try_reserve_cart', (SELECT count(*) FROM harness.attempt
										  WHERE api = 'inv_try_reserve_cart' AND status = 'insufficient_stock')),
	('adjustments', (SELECT count(*) FROM inventory.adjustment
					  WHERE id > (SELECT adjustment_id FROM harness.start_mark)))) v(what, n)
 WHERE n = 0
SQL

# --- the extension's own check, then ours ---------------------------------

check inv_verify <<SQL
SELECT sku || ': ' || problem || ' (expected ' || expected || ', actual ' || actual || ')'
  FROM inv_verify()
SQL

check available_is_what_the_outbox_says <<SQL
-- the stock row keeps available only: it must be what the events add up to
SELECT s.sku || ': available ' || s.available || ', replay '
       || coalesce((h.last_on_hand - h.last_reserved)::text, 'missing')
  FROM inventory.stock s
  LEFT JOIN harness.stock_history() h ON h.sku = s.sku
 WHERE s.available IS DISTINCT FROM h.last_on_hand - h.last_reserved
SQL

check on_hand_is_start_plus_adjustments_minus_sold <<SQL
SELECT s.sku || ': on_hand ' || s.on_hand || ', start ' || st.on_hand || ' + adjusted '
       || coalesce(a.delta, 0) || ' - sold ' || coalesce(c.qty, 0)
  FROM harness.stock s
  JOIN harness.start_stock st ON st.sku = s.sku
  LEFT JOIN (SELECT sku, sum(delta) AS delta FROM inventory.adjustment
              WHERE id > (SELECT adjustment_id FROM harness.start_mark)
              GROUP BY sku) a ON a.sku = s.sku
  LEFT JOIN (SELECT l.sku, sum(l.qty) AS qty
               FROM inventory.reservation_line l
               JOIN inventory.reservation r ON r.id = l.reservation_id AND r.state = 'committed'
              GROUP BY l.sku) c ON c.sku = s.sku
 WHERE s.on_hand <> st.on_hand + coalesce(a.delta, 0) - coalesce(c.qty, 0)
UNION ALL
SELECT 'SKUs: ' || (SELECT count(*) FROM inventory.stock) || ' now, '
       || (SELECT count(*) FROM harness.start_stock) || ' at the start'
 WHERE (SELECT count(*) FROM inventory.stock) <> (SELECT count(*) FROM harness.start_stock)
SQL

check adjustment_ledger_matches_events <<SQL
-- the n-th adjustment of a SKU and its n-th stock.adjusted event agree, and
-- the on_hand and reserved the event reports are those of the replay
SELECT coalesce(a.sku, e.sku) || ': adjustment #' || coalesce(a.n, e.n) || ' '
       || coalesce(a.delta || '->' || a.on_hand, 'missing') || ', event '
       || coalesce(e.delta || '->' || e.on_hand || ' (replay ' || e.replay_on_hand || ')', 'missing')
  FROM (SELECT sku, delta, on_hand, row_number() OVER (PARTITION BY sku ORDER BY id) AS n
          FROM inventory.adjustment) a
  FULL JOIN (SELECT sku, (payload->>'delta')::bigint AS delta, (payload->>'on_hand')::bigint AS on_hand,
                    (payload->>'reserved')::bigint AS reserved, on_hand AS replay_on_hand,
                    reserved AS replay_reserved,
                    row_number() OVER (PARTITION BY sku ORDER BY seq) AS n
               FROM harness.stock_replay() WHERE type = 'stock.adjusted') e
    ON e.sku = a.sku AND e.n = a.n
 WHERE a.sku IS NULL OR e.sku IS NULL
    OR a.delta <> e.delta OR a.on_hand <> e.on_hand
    OR e.on_hand <> e.replay_on_hand OR e.reserved <> e.replay_reserved
SQL

check no_negative_stock <<SQL
SELECT sku || ': on_hand ' || on_hand || ', reserved ' || reserved
  FROM harness.stock
 WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand
SQL

check stock_history_never_negative <<SQL
-- the stock of every SKU replayed from the outbox never went below zero,
-- never had more units reserved than on hand, and ends where the row is
SELECT h.sku || ': lowest on_hand ' || h.min_on_hand || ', lowest reserved ' || h.min_reserved
       || ', lowest available ' || h.min_available || ', replay ends at ' || h.last_on_hand
       || '/' || h.last_reserved || ', row is ' || s.on_hand || '/' || s.reserved
  FROM harness.stock_history() h
  FULL JOIN harness.stock s ON s.sku = h.sku
 WHERE h.sku IS NULL OR s.sku IS NULL
    OR h.min_on_hand < 0 OR h.min_reserved < 0 OR h.min_available < 0
    OR h.last_on_hand <> s.on_hand OR h.last_reserved <> s.reserved
SQL

check hot_sku_not_oversold <<SQL
SELECT '$HOT: sold ' || sold || ' (replay: at most ' || h.max_sold || ') of '
       || st.on_hand || coalesce(' + ' || a.delta, '') || ' units'
  FROM harness.start_stock st
  CROSS JOIN (SELECT coalesce(sum(l.qty), 0) AS sold
                FROM inventory.reservation_line l
                JOIN inventory.reservation r ON r.id = l.reservation_id AND r.state = 'committed'
               WHERE l.sku = '$HOT') c
  LEFT JOIN harness.stock_history() h ON h.sku = st.sku
  LEFT JOIN (SELECT sum(delta) AS delta FROM inventory.adjustment
              WHERE sku = '$HOT' AND id > (SELECT adjustment_id FROM harness.start_mark)) a ON true
 WHERE st.sku = '$HOT'
   AND (c.sold > st.on_hand + coalesce(a.delta, 0) OR h.max_sold IS DISTINCT FROM c.sold)
SQL

check no_holds_left_after_sweep <<SQL
SELECT 'held: ' || count(*) || ' holds' FROM inventory.reservation WHERE state = 'held' HAVING count(*) > 0
UNION ALL
SELECT sku || ': reserved ' || reserved FROM harness.stock WHERE reserved <> 0
SQL

check one_held_event_per_reservation <<SQL
SELECT r.id || ': ' || count(o.id) || ' reservation.held events'
  FROM inventory.reservation r
  LEFT JOIN inventory.outbox o ON o.aggregateid = r.id::text AND o.type = 'reservation.held'
 GROUP BY r.id
HAVING count(o.id) <> 1
SQL

check one_terminal_event_per_finished_hold <<SQL
SELECT r.id || ' (' || r.state || '): terminal events ' || coalesce(e.types, 'none')
  FROM inventory.reservation r
  LEFT JOIN (SELECT aggregateid, string_agg(type, ',' ORDER BY seq) AS types, count(*) AS n,
                    min(occurred_at) AS at1, max(occurred_at) AS at2
               FROM inventory.outbox
              WHERE type IN ('reservation.committed', 'reservation.released', 'reservation.expired')
              GROUP BY aggregateid) e ON e.aggregateid = r.id::text
 WHERE CASE WHEN r.state = 'held' THEN e.n IS NOT NULL
            ELSE e.n IS DISTINCT FROM 1 OR e.types <> 'reservation.' || r.state
                 OR e.at1 <> r.finished_at OR e.at2 <> r.finished_at END
SQL

check events_belong_to_holds_and_stock <<SQL
SELECT o.type || ' event ' || o.seq || ' of unknown ' || o.aggregatetype || ' ' || o.aggregateid
  FROM inventory.outbox o
 WHERE (o.aggregatetype = 'reservation'
        AND NOT EXISTS (SELECT 1 FROM inventory.reservation r WHERE r.id::text = o.aggregateid))
    OR (o.aggregatetype = 'stock'
        AND NOT EXISTS (SELECT 1 FROM inventory.stock s WHERE s.sku = o.aggregateid))
    OR o.aggregatetype NOT IN ('reservation', 'stock')
UNION ALL
SELECT 'events by type do not add up: ' || string_agg(t || ' ' || ev || ' vs ' || holds, ', ')
  FROM (SELECT t,
               (SELECT count(*) FROM inventory.outbox WHERE type = 'reservation.' || t) AS ev,
               (SELECT count(*) FROM inventory.reservation
                 WHERE t = 'held' OR state = t) AS holds
          FROM unnest(ARRAY['held', 'committed', 'released', 'expired']) t) x
 WHERE ev <> holds
HAVING count(*) > 0
SQL

check attempts_match_holds <<SQL
-- every hold was taken by exactly one logged buyer, with the lines asked for
SELECT 'reservation ' || r.id || ' has ' || count(a.reservation_id) || ' attempts'
  FROM inventory.reservation r
  LEFT JOIN harness.attempt a ON a.reservation_id = r.id
 GROUP BY r.id
HAVING count(a.reservation_id) <> 1
UNION ALL
SELECT 'attempt of ' || a.api || ' status ' || a.status || ' with reservation ' || coalesce(a.reservation_id::text, 'none')
  FROM harness.attempt a
 WHERE (a.status IN ('reserved') ) <> (a.reservation_id IS NOT NULL)
    OR a.status NOT IN ('reserved', 'insufficient_stock')
UNION ALL
SELECT 'reservation ' || a.reservation_id || ' has lines ' || l.lines || ', the buyer asked for ' || i.lines
  FROM harness.attempt a
  CROSS JOIN LATERAL (SELECT string_agg(sku || 'x' || qty, ' ' ORDER BY sku COLLATE "C") AS lines
                        FROM (SELECT x->>'sku' AS sku, sum((x->>'qty')::bigint) AS qty
                                FROM jsonb_array_elements(a.items) x GROUP BY 1) y) i
  CROSS JOIN LATERAL (SELECT string_agg(sku || 'x' || qty, ' ' ORDER BY sku COLLATE "C") AS lines
                        FROM inventory.reservation_line
                       WHERE reservation_id = a.reservation_id) l
 WHERE a.reservation_id IS NOT NULL AND i.lines IS DISTINCT FROM l.lines
SQL

check holds_end_as_buyers_did <<SQL
-- paid: committed; payment failed: released; walked away: expired
SELECT a.intent || ': ' || r.state || ' (' || count(*) || ' holds)'
  FROM harness.attempt a
  JOIN inventory.reservation r ON r.id = a.reservation_id
 WHERE r.state <> CASE a.intent WHEN 'commit' THEN 'committed'
                                WHEN 'release' THEN 'released' ELSE 'expired' END
 GROUP BY a.intent, r.state
SQL

[ "$failed" -eq 0 ]
