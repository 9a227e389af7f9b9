#!/usr/bin/env bash
# scripts/broker.sh: the outbox relay of examples/relay, into a real
# RabbitMQ (Debian rabbitmq-server, started here on loopback as a node of
# its own), against the cluster in PGHOST/PGPORT.  While a producer load
# writes events, the relay is killed with SIGKILL twice and restarted, and
# the broker is restarted once.  Then every event of the outbox reached the
# queue at least once, the first delivery of each is in seq order per
# aggregate, nothing else reached it, and every duplicate is an event of
# the batch in flight at a kill or a broker failure.  Last, the relay's
# throughput: events/s from the outbox to confirmed messages.
#
# Prints "PASS name" or "FAIL name: details" per check, exits non-zero on
# any FAIL.  Installs rabbitmq-server, python3-pika and python3-psycopg
# when missing.

source "$(dirname "$0")/lib.sh"

DB=inventory_broker
work=$INV_TMP/broker
amqp_port=$((PGPORT - 30000))
node=inventory-test-$amqp_port@localhost
failures=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

inv_packages rabbitmq-server python3-pika python3-psycopg

rm -rf "$work"
mkdir -p "$work"
echo '[].' >"$work/enabled_plugins"
printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$amqp_port" >"$work/rabbitmq.conf"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"
rmq_env=(env HOME="$work" RABBITMQ_NODENAME="$node" RABBITMQ_NODE_PORT="$amqp_port"
	RABBITMQ_DIST_PORT=$((PGPORT - 29000)) RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
	RABBITMQ_MNESIA_BASE="$work/mnesia" RABBITMQ_LOG_BASE="$work/log"
	RABBITMQ_ENABLED_PLUGINS_FILE="$work/enabled_plugins" RABBITMQ_PID_FILE="$work/pid"
	RABBITMQ_CONFIG_FILE="$work/rabbitmq")
amqp_url="amqp://guest:guest@127.0.0.1:$amqp_port/%2F"

broker_up() {
	/usr/bin/python3 -c "
import sys, time, pika
for _ in range(300):
    try:
        pika.BlockingConnection(pika.URLParameters(sys.argv[1])).close()
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)" "$amqp_url"
}
broker_start() {
	as_server "${rmq_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server >>"$work/broker.out" 2>&1 &
	broker_up
}
broker_stop() {
	as_server "${rmq_env[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -n "$node" stop >/dev/null 2>&1 || true
}
relay_pid=
relay_start() {
	env DSN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER" AMQP_URL="$amqp_url" \
		QUEUE=inventory CONSUMER=rabbitmq-relay LOG="$work/relay.log" BATCH=200 CONFIRM=batch \
		/usr/bin/python3 "$INV_ROOT/examples/relay/relay.py" 2>>"$work/relay.err" &
	relay_pid=$!
}
cleanup() {
	[ -n "$relay_pid" ] && kill -9 "$relay_pid" 2>/dev/null
	broker_stop
}
trap cleanup EXIT

broker_start || { fail broker_started "$(tail -20 "$work/broker.out")"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q -c "CREATE EXTENSION inventory" \
  -c "SELECT inv_set_stock(i::text, 1000000) FROM generate_series(0, 99) i" >/dev/null

# the producer: 300 checkouts/s (two events each) for 24 s
cat >"$work/producer.sql" <<'SQL'
\set n random(0, 99)
SELECT inv_reserve(:n::text, 1) AS id \gset
SELECT inv_commit(:id::uuid);
SQL
"$PG_BINDIR/pgbench" -n -M prepared -c 4 -j 2 -T 24 --rate=300 -f "$work/producer.sql" "$DB" >"$work/producer.out" 2>&1 &
producer=$!
relay_start
sleep 4;  kill -9 "$relay_pid" || true; echo "kill" >>"$work/relay.log"; wait "$relay_pid" 2>/dev/null || true; relay_start
sleep 4;  kill -9 "$relay_pid" || true; echo "kill" >>"$work/relay.log"; wait "$relay_pid" 2>/dev/null || true; relay_start
sleep 3;  echo "broker stop" >>"$work/relay.log"; broker_stop
sleep 1;  broker_start || fail broker_restarted "$(tail -20 "$work/broker.out")"
echo "broker up" >>"$work/relay.log"
wait "$producer" || fail producer "$(tail -5 "$work/producer.out")"
for _ in $(seq 600); do
	[ "$(q -c "SELECT backlog FROM inventory.outbox_consumers WHERE consumer = 'rabbitmq-relay'")" = 0 ] && break
	sleep 0.1
done
kill -TERM "$relay_pid" || true; wait "$relay_pid" 2>/dev/null || true; relay_pid=

# what reached the queue, in queue order; what the outbox holds
/usr/bin/python3 - "$amqp_url" >"$work/delivered" <<'PY'
import sys, pika
conn = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
ch = conn.channel()
while True:
    method, props, body = ch.basic_get("inventory", auto_ack=True)
    if method is None:
        break
    print(props.message_id, props.headers["seq"], props.headers["aggregateid"])
conn.close()
PY
q -F ' ' -c "SELECT id, seq, aggregateid FROM inventory.outbox ORDER BY seq" >"$work/outbox"
/usr/bin/python3 - "$work" <<'PY'
import collections, sys
work = sys.argv[1]
delivered = [l.split() for l in open(f"{work}/delivered")]
outbox = {l.split()[0]: (int(l.split()[1]), l.split()[2]) for l in open(f"{work}/outbox")}
count = collections.Counter(d[0] for d in delivered)
missing = [i for i in outbox if i not in count]
strange = [i for i in count if i not in outbox]
first, seen = collections.defaultdict(list), set()
for i, seq, agg in delivered:
    if i not in seen:
        seen.add(i)
        first[agg].append(int(seq))
disorder = [a for a, seqs in first.items() if seqs != sorted(seqs)]
# the batches in flight when the relay was killed or lost the broker: after
# each start (a kill came before) or lost connection, the first batch it
# acknowledged
log = [l.split() for l in open(f"{work}/relay.log")]
suspect, armed = set(), True
for entry in log:
    if entry[0] in ("start", "lost"):
        armed = True
    elif entry[0] == "acked" and armed:
        a, b = map(int, entry[1].split("-"))
        suspect |= set(range(a, b + 1))
        armed = False
dups = {i: n - 1 for i, n in count.items() if n > 1}
unexplained = [i for i in dups if outbox.get(i, (None,))[0] not in suspect]
kills = sum(1 for e in log if e[0] == "kill")
lost = sum(1 for e in log if e[0] == "lost")
print(f"relay: {len(outbox)} events in the outbox, {len(delivered)} deliveries, "
      f"{sum(dups.values())} duplicates of {len(dups)} events; {kills} kills, "
      f"1 broker restart ({lost} lost connections seen by the relay)")
def check(name, ok, detail):
    print(f"PASS {name}" if ok else f"FAIL {name}: {detail}")
check("relay_every_event_delivered", not missing and len(outbox) > 1000,
      f"{len(missing)} of {len(outbox)} never reached the queue: {missing[:5]}")
check("relay_nothing_else_delivered", not strange, f"{strange[:5]}")
check("relay_seq_order_per_aggregate", not disorder, f"{disorder[:5]}")
check("relay_duplicates_explained", not unexplained,
      f"{len(unexplained)} duplicates outside the batches in flight at a kill or a broker failure: {unexplained[:5]}")
check("relay_was_killed_twice", kills == 2, f"{kills} kills")
PY
[ -s "$work/delivered" ] || fail relay_ran "$(tail -20 "$work/relay.err")"

# throughput: N events waiting, one relay per confirm mode, until it has
# acknowledged them all
throughput() {
	local mode=$1 n=$2 t0 t1 left
	q -c "SELECT inv_outbox_subscribe('throughput-$mode', (SELECT max(seq) FROM inventory.outbox))" \
	  -c "SELECT inv_set_stock('T' || i, 1) FROM generate_series(1, $n) i" >/dev/null
	t0=$(date +%s.%N)
	env DSN="host=$PGHOST port=$PGPORT dbname=$DB user=$PGUSER" AMQP_URL="$amqp_url" \
		QUEUE="throughput-$mode" CONSUMER="throughput-$mode" BATCH=500 CONFIRM="$mode" \
		/usr/bin/python3 "$INV_ROOT/examples/relay/relay.py" 2>>"$work/relay.err" &
	relay_pid=$!
	for _ in $(seq 1200); do
		[ "$(q -c "SELECT backlog FROM inventory.outbox_consumers WHERE consumer = 'throughput-$mode'")" = 0 ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	kill -TERM "$relay_pid" || true; wait "$relay_pid" 2>/dev/null || true; relay_pid=
	left=$(q -c "SELECT backlog FROM inventory.outbox_consumers WHERE consumer = 'throughput-$mode'")
	if [ "$left" = 0 ]; then
		echo "relay throughput, CONFIRM=$mode: $n events in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
			"$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }') events/s"
		pass "relay_drains_a_backlog_confirm_$mode"
	else
		fail "relay_drains_a_backlog_confirm_$mode" "$left events left after 120 s"
	fi
}
throughput message 5000
throughput batch 20000
