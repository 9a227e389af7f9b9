#!/usr/bin/env bash
# make budget: what one checkout costs, counted, not timed: statements run
# (top level and inside the functions, by pg_stat_statements with
# track = all), WAL records, full-page images and WAL bytes (pg_stat_wal),
# per reserve and per commit, for the extension and for the guarded UPDATE
# of make bench, and per checkout for make bench's floor (hold_event), its
# lean reference (the brief's plpgsql checkout) and
# for the guarded UPDATE writing the extension's two events besides: what
# the outbox contract alone costs a checkout, whatever else it does.  These numbers do not drift with the machine's load.
#
# One client, N checkouts over 1,000 SKUs (N=2000 by default), each step a
# transaction of its own, as in make bench; the tables are warmed and a
# checkpoint taken first, so that full-page images are counted apart.
# VERBOSE=1 also writes each step's statements, with their calls per
# checkout, next to its script (tmp-budget/*.statements).

root=$(cd "$(dirname "$0")/.." && pwd)
export INV_TMP=${INV_TMP:-$root/tmp-budget}
INV_PORT=${INV_PORT:-54360}
source "$root/scripts/lib.sh"
N=${N:-2000}
B=$INV_ROOT/bench

inv_packages
[ "${NO_BUILD:-0}" = 1 ] || inv_build
INV_PRELOAD='inventory,pg_stat_statements' inv_start \
	"pg_stat_statements.track = all" "pg_stat_statements.max = 1000" \
	"inventory.sweep_interval = 0" "autovacuum = off" >/dev/null
trap inv_stop EXIT
inv_psql -d postgres -c "CREATE DATABASE budget"
inv_psql -d budget -c "CREATE EXTENSION inventory" -c "CREATE EXTENSION pg_stat_statements" \
	-f "$B/schema.sql" -f "$B/floor/schema.sql" -f "$B/lean/schema.sql" >/dev/null
inv_psql -d budget -c "SELECT bench.reset('inventory', 0, 999, 1000000000)" \
	-c "INSERT INTO bench.stock (sku, on_hand) SELECT sku, on_hand FROM bench.seed" \
	-c "INSERT INTO lean.stock (sku, available) SELECT sku, on_hand FROM bench.seed" >/dev/null

# reserve only: the extension's and the guarded UPDATE's first step
cat >"$INV_TMP/inventory.reserve.sql" <<'SQL'
\set n random(:lo, :hi)
SELECT inv_reserve(:n::text, 1);
SQL
sed -n '/^\\set n/,/\\gset/p' "$B/guarded_update.sql" >"$INV_TMP/guarded_update.reserve.sql"

# run SCRIPT: prints "statements wal_records wal_fpi wal_bytes" per run of it
measure() {
	local script=$1
	# warm every page the script touches, then checkpoint
	"$PG_BINDIR/pgbench" -n -M prepared -c 1 -t "$N" -D lo=0 -D hi=999 -f "$script" budget >/dev/null
	inv_psql -d budget -Atc "CHECKPOINT" -c "SELECT pg_stat_statements_reset()" \
		-c "SELECT pg_stat_reset_shared('wal')" >/dev/null
	"$PG_BINDIR/pgbench" -n -M prepared -c 1 -t "$N" -D lo=0 -D hi=999 -f "$script" budget >/dev/null
	sleep 1.2	# backends report WAL counters when idle, at most once a second
	if [ "${VERBOSE:-0}" = 1 ]; then
		inv_psql -d budget -Atc "
			SELECT round(calls / $N.0, 2) || '  ' || left(regexp_replace(query, '\s+', ' ', 'g'), 160)
			  FROM pg_stat_statements WHERE query !~* 'pg_stat|CHECKPOINT'
			 ORDER BY calls DESC, query" >"$INV_TMP/$(basename "$script" .sql).statements"
	fi
	inv_psql -d budget -Atc "
		SELECT round((SELECT sum(calls) FROM pg_stat_statements
		               WHERE query !~* 'pg_stat|CHECKPOINT') / $N.0, 1),
		       round(wal_records / $N.0, 1), round(wal_fpi / $N.0, 2),
		       round(wal_bytes / $N.0)
		  FROM pg_stat_wal"
}

printf '%-34s %10s %10s %8s %10s\n' "" statements "WAL recs" FPI "WAL bytes"
for c in inventory guarded_update; do
	for step in reserve checkout; do
		if [ "$step" = reserve ]; then s=$INV_TMP/$c.reserve.sql; else s=$B/$c.sql; fi
		read -r st rec fpi bytes < <(measure "$s" | tr '|' ' ')
		printf '%-34s %10s %10s %8s %10s\n' "$c $step" "$st" "$rec" "$fpi" "$bytes"
	done
done
# the floor of make bench: a narrow hold and two narrow events, nothing else
read -r st rec fpi bytes < <(measure "$B/hold_event.sql" | tr '|' ' ')
printf '%-34s %10s %10s %8s %10s\n' "hold_event checkout (floor)" "$st" "$rec" "$fpi" "$bytes"
# the lean reference of make bench: the brief's plpgsql checkout
read -r st rec fpi bytes < <(measure "$B/lean.sql" | tr '|' ' ')
printf '%-34s %10s %10s %8s %10s\n' "lean checkout (reference)" "$st" "$rec" "$fpi" "$bytes"
# the floor of the outbox contract: the guarded UPDATE's checkout, each of
# its two transactions also writing the event the extension writes (the
# same columns, key and payload) to a table shaped like inventory.outbox
inv_psql -d budget -c "CREATE TABLE bench.outbox (LIKE inventory.outbox INCLUDING ALL)" >/dev/null
cat >"$INV_TMP/guarded_outbox.sql" <<'SQL'
\set n random(:lo, :hi)
WITH s AS (UPDATE bench.stock SET reserved = reserved + 1
            WHERE sku = :n::text AND on_hand - reserved >= 1
           RETURNING sku),
     o AS (INSERT INTO bench.orders (sku, qty) SELECT sku, 1 FROM s RETURNING id, sku, qty, created_at),
     e AS (INSERT INTO bench.outbox (occurred_at, aggregatetype, aggregateid, type, payload)
           SELECT o.created_at, 'reservation', o.id::text, 'reservation.held',
                  jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', o.sku, 'qty', o.qty)),
                                     'expires_at', o.created_at + interval '5 minutes')
             FROM o)
SELECT coalesce((SELECT id FROM o), 0) AS id \gset
WITH o AS (UPDATE bench.orders SET state = 'sold', sold_at = now()
            WHERE id = :id AND state = 'held'
           RETURNING id, sku, qty, sold_at),
     e AS (INSERT INTO bench.outbox (occurred_at, aggregatetype, aggregateid, type, payload)
           SELECT o.sold_at, 'reservation', o.id::text, 'reservation.committed',
                  jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', o.sku, 'qty', o.qty)))
             FROM o)
UPDATE bench.stock s SET on_hand = s.on_hand - o.qty, reserved = s.reserved - o.qty
  FROM o WHERE s.sku = o.sku;
SQL
read -r st rec fpi bytes < <(measure "$INV_TMP/guarded_outbox.sql" | tr '|' ' ')
printf '%-34s %10s %10s %8s %10s\n' "guarded_update + its events" "$st" "$rec" "$fpi" "$bytes"
# and with what a hold that expires needs besides: an index of the held
# orders by their expiry (created_at stands for it: a timestamptz all the
# same), so that a sweeper finds the overdue ones.  Its predicate names the
# state, so marking an order sold is no longer a HOT update either.
inv_psql -d budget -c "CREATE INDEX ON bench.orders (created_at) WHERE state = 'held'" >/dev/null
read -r st rec fpi bytes < <(measure "$INV_TMP/guarded_outbox.sql" | tr '|' ' ')
printf '%-34s %10s %10s %8s %10s\n' "... + an index of held orders" "$st" "$rec" "$fpi" "$bytes"
inv_psql -d budget -Atc "SELECT count(*) FROM inv_verify()" | grep -qx 0 || echo "inv_verify() is not clean" >&2
# what the rows weigh (heap tuple data, without the 24-byte tuple header)
inv_psql -d budget -Atc "
	SELECT 'average row: outbox event ' || round(avg(pg_column_size(o.*))) || ' B (payload '
	       || round(avg(pg_column_size(o.payload))) || ' B), hold '
	       || (SELECT round(avg(pg_column_size(r.*))) FROM inventory.reservation r) || ' B (its lines '
	       || (SELECT round(avg(pg_column_size(r.skus) + pg_column_size(r.qtys))) FROM inventory.reservation r)
	       || ' B of it), order row '
	       || (SELECT round(avg(pg_column_size(b.*))) FROM bench.orders b) || ' B'
	  FROM inventory.outbox o WHERE o.aggregatetype = 'reservation'"
