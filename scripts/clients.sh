#!/usr/bin/env bash
# scripts/clients.sh: the example checkout services of examples/ (Python
# with psycopg 3, Node.js with node-postgres), 32 concurrent buyers each,
# through pgbouncer in transaction pooling mode with fewer server
# connections than clients, against the cluster in PGHOST/PGPORT.  Then:
# each ran without an error, sold out at least once, and every buyer it
# told "paid" has a committed hold, and no other hold was committed;
# nothing is oversold and inv_verify() is clean.
#
# Prints "PASS name" or "FAIL name: details" per check, exits non-zero on
# any FAIL.  Installs pgbouncer, python3-psycopg and nodejs (and npm) when
# missing; the Node client's pg module comes from the npm registry.
# DURATION (default 8) seconds per client.

source "$(dirname "$0")/lib.sh"

DB=inventory_clients
DURATION=${DURATION:-8}
work=$INV_TMP/clients
bport=$((PGPORT + 3))
failures=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

inv_packages pgbouncer python3-psycopg
command -v node >/dev/null || inv_packages nodejs
command -v npm >/dev/null || inv_packages npm

rm -rf "$work"
mkdir -p "$work"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q -c "CREATE EXTENSION inventory"

# pgbouncer: transaction pooling, 6 server connections for 32 clients
cat >"$work/pgbouncer.ini" <<INI
[databases]
$DB = host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB
[pgbouncer]
listen_addr =
unix_socket_dir = $work
listen_port = $bport
auth_type = any
pool_mode = transaction
default_pool_size = 6
max_client_conn = 200
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
as_server pgbouncer -d "$work/pgbouncer.ini"
trap '[ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -S "$work/.s.PGSQL.$bport" ] && break; sleep 0.1; done

# One client: name, SKU prefix, command.  Its SKUs are its own, 120 units
# each: enough to sell for a while, few enough to sell out.
run_client() {
	local name=$1 prefix=$2
	shift 2
	local skus="$prefix-1,$prefix-2,$prefix-3" json=$work/$name.json paid
	q -c "SELECT inv_set_stock(s, 120) FROM unnest(string_to_array('$skus', ',')) s" >/dev/null
	inv_log "$name: 32 buyers for ${DURATION}s through pgbouncer (transaction pooling)"
	if ! "$@" >"$json" 2>"$work/$name.err"; then
		fail "${name}_ran" "$(head -c 600 "$json") $(head -c 600 "$work/$name.err")"
		return
	fi
	read -r paid sold_out expired errors < <(/usr/bin/python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
print(len(o["paid"]), o["counts"].get("sold_out", 0),
      o["counts"].get("expired_before_payment", 0), len(o["errors"]))' "$json")
	echo "$name: $(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"])' "$json")"
	# each branch taken: paid, IV001 (sold out), IV004 (paid too late)
	if [ "$errors" -eq 0 ] && [ "$paid" -gt 0 ] && [ "$sold_out" -gt 0 ] && [ "$expired" -gt 0 ]; then
		pass "${name}_ran"
	else
		fail "${name}_ran" "paid $paid, sold out $sold_out, expired before payment $expired, errors $errors: $(head -c 600 "$json")"
	fi
	# every hold a buyer was told "paid" for is committed, and no other of
	# this client's SKUs
	/usr/bin/python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["paid"]))' \
		"$json" >"$work/$name.paid"
	local got
	got=$(q -c "CREATE TEMP TABLE paid (id uuid)" -c "\\copy paid FROM '$work/$name.paid'" -c "
		SELECT (SELECT count(*) FROM paid) || ' paid, '
		       || (SELECT count(*) FROM paid p JOIN inventory.reservation r USING (id)
		            WHERE r.state = 'committed') || ' of them committed, '
		       || (SELECT count(*) FROM inventory.reservation r
		            WHERE r.state = 'committed' AND r.skus[1] LIKE '$prefix-%'
		              AND r.id NOT IN (SELECT id FROM paid)) || ' committed unpaid'")
	if [[ "$got" =~ ^([0-9]+)\ paid,\ ([0-9]+)\ of\ them\ committed,\ 0\ committed\ unpaid$ ]] &&
		[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
		pass "${name}_paid_means_committed"
	else
		fail "${name}_paid_means_committed" "$got"
	fi
}

run_client python PY env DSN="host=$work port=$bport dbname=$DB user=$PGUSER" \
	WORKERS=32 DURATION="$DURATION" SKUS=PY-1,PY-2,PY-3 \
	/usr/bin/python3 "$INV_ROOT/examples/python/checkout.py"

cp "$INV_ROOT/examples/node/package.json" "$INV_ROOT/examples/node/checkout.js" "$work/"
if (cd "$work" && npm install --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1); then
	run_client node JS env PGHOST="$work" PGPORT="$bport" PGDATABASE="$DB" PGUSER="$PGUSER" \
		WORKERS=32 DURATION="$DURATION" SKUS=JS-1,JS-2,JS-3 node "$work/checkout.js"
else
	fail node_ran "npm install: $(tail -5 "$work/npm.log")"
fi

# What transaction pooling breaks, as the pooler section of doc/operations.md says.
# psycopg's default: statements prepared on one server connection, then
# executed on another (26000) or prepared twice on one (42P05).
q -c "SELECT inv_set_stock(s, 1000000) FROM unnest('{PX-1,PX-2,PX-3}'::text[]) s" >/dev/null
got=$(env DSN="host=$work port=$bport dbname=$DB user=$PGUSER" WORKERS=32 DURATION=2 \
	SKUS=PX-1,PX-2,PX-3 PREPARE_THRESHOLD=5 /usr/bin/python3 "$INV_ROOT/examples/python/checkout.py" \
	2>/dev/null | /usr/bin/python3 -c '
import collections, json, re, sys
o = json.load(sys.stdin)
print(" ".join(f"{k}:{v}" for k, v in sorted(collections.Counter(
    m.group(1) for e in o["errors"] for m in [re.search(r": (26000|42P05) ", e)] if m).items())))' \
	|| true)
if [[ "$got" =~ 26000|42P05 ]]; then
	pass pooler_breaks_psycopg_prepared_statements
else
	fail pooler_breaks_psycopg_prepared_statements "no 26000/42P05 with prepare_threshold=5: $got"
fi
# LISTEN: a listener behind the pooler hears nothing; one on a direct
# connection hears the NOTIFY that follows a write
got=$(/usr/bin/python3 - "$work" "$bport" "$PGHOST" "$PGPORT" "$DB" "$PGUSER" <<'PY'
import sys, time
import psycopg
work, bport, host, port, db, user = sys.argv[1:7]
heard = []
for h, p in ((work, bport), (host, port)):
    conns = [psycopg.connect(f"host={h} port={p} dbname={db} user={user}",
                             autocommit=True, prepare_threshold=None) for _ in range(8)]
    got = []
    conns[0].add_notify_handler(got.append)
    conns[0].execute("LISTEN inventory_outbox")
    for c in conns[1:]:
        c.execute("SELECT pg_sleep(0.1)")
    conns[1].execute("SELECT inv_set_stock('LISTEN-1', 1)")
    time.sleep(1.5)
    conns[0].execute("SELECT 1")
    heard.append(len(got))
print(" ".join(map(str, heard)))
PY
) || true
if [ "$got" = "0 1" ]; then
	pass pooler_listen_needs_a_direct_connection
else
	fail pooler_listen_needs_a_direct_connection "notifications heard behind the pooler, then direct: $got"
fi

# the books: holds left by walkers-away expire; nothing oversold
q -c "SELECT pg_sleep(2.1)" -c "SELECT inv_sweep()" >/dev/null
got=$(q -c "SELECT count(*) FROM inv_verify()")
[ "$got" = 0 ] && pass clients_inv_verify_clean || fail clients_inv_verify_clean "$(q -c 'SELECT * FROM inv_verify() LIMIT 5')"
got=$(q -c "
	SELECT string_agg(s.sku || ': on_hand ' || s.on_hand || ', reserved ' || s.reserved
	                  || ', sold ' || coalesce(c.qty, 0) || ' of ' || a.received, '; ')
	  FROM (SELECT sku, on_hand, reserved + overdue AS reserved FROM inventory.stock_levels) s
	  JOIN (SELECT sku, sum(delta) AS received FROM inventory.adjustment GROUP BY sku) a USING (sku)
	  LEFT JOIN (SELECT l.sku, sum(l.qty) AS qty FROM inventory.reservation_line l
	               JOIN inventory.reservation r ON r.id = l.reservation_id
	              WHERE r.state = 'committed' GROUP BY l.sku) c USING (sku)
	 WHERE s.on_hand < 0 OR s.reserved <> 0 OR coalesce(c.qty, 0) > a.received
	    OR coalesce(c.qty, 0) + s.on_hand <> a.received")
[ -z "$got" ] && pass clients_nothing_oversold || fail clients_nothing_oversold "$got"

[ "$failures" -eq 0 ]
