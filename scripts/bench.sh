#!/usr/bin/env bash
# make bench: the extension against the designs users would otherwise pick,
# side by side, on this machine.
#
# Every contender runs the same workload: a checkout that reserves one
# unit and then commits it, as two transactions (the payment happens in
# between; here it is instant).  The PostgreSQL contenders are pgbench
# scripts (-M prepared), one file per contender in bench/: inventory (this
# extension), guarded_update (the seed: UPDATE ... WHERE on_hand - reserved
# >= 1 plus an order row), select_for_update, optimistic (version column,
# retry loop) and advisory_lock.  redis_lua is a Lua check-and-decrement
# run by redis-benchmark (one call per checkout, see bench/redis_lua.lua).
#
# Four scenarios: one hot SKU that never runs out, uniform traffic over
# 10,000 SKUs, a sold-out SKU where every request is refused (plus a
# SELECT 1 baseline), and a 5-line cart over the 10,000 SKUs (only the
# contenders that have a bench/NAME.cart.sql).  Each at 1, 8, 32 and 64
# clients, with synchronous_commit = on (Redis: appendfsync always), then
# off (everysec).
#
# Interleaved rounds: for each (sync mode, scenario, clients) cell, every
# round runs every contender once, back to back (in the opposite order
# every other round), and the cell's rate is the median over its rounds;
# its ratio to guarded_update is the median of the ratios taken within
# one round, so that no ratio compares runs minutes apart.
#
# Successes are counted from the tables (and from Redis' state), not from
# pgbench's tps; after every run the books are checked, and an oversell is
# reported loudly.  The WAL of every PostgreSQL run is read (pg_walinspect)
# between the same two points as the sales: bytes, records and full-page
# images per checkout.  The report (Markdown), one plot per scenario and
# sync mode (PNG) and every number (CSV) go to bench/results/.
#
# A benchmark, not a test: a slow machine never fails it.  It exits 1 when
# a run could not execute (pgbench or redis-benchmark error) and 3 when a
# contender oversold, after writing the report either way.
#
# Environment:
#   QUICK=1       about 4 minutes instead of about 30: synchronous_commit
#                 = on only, 1 and 32 clients, 2 rounds, 1 s measured per
#                 run (64 clients take a second or more to connect on 2
#                 cores)
#   ROUNDS        rounds per cell (default 3; QUICK 2)
#   DURATION      seconds measured per run (default 1.5; QUICK 1)
#   WARMUP        seconds between the last client's connection and the
#                 start of the measurement (default 0.5)
#   CLIENTS       client counts (default "1 8 32 64"; QUICK "1 32")
#   SCENARIOS     default "hot uniform soldout cart"
#   SYNC_MODES    default "on off" (QUICK "on")
#   CONTENDERS    default all; a new contender is bench/NAME.sql plus its
#                 name in the default list below (bench/NAME.SCENARIO.sql,
#                 when present, replaces it in that scenario; the cart
#                 scenario runs only the contenders that have one)
#   INV_PORT, REDIS_PORT  default: the first unused port from 5491 / 6391
#   INV_TMP       cluster, Redis and logs (default tmp-bench/ of the checkout)
#   BENCH_OUT     default bench/results
#   NO_BUILD=1    use the extension as installed, without make install

BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export INV_TMP=${INV_TMP:-$BENCH_ROOT/tmp-bench}
user_pg_port=${INV_PORT:-}
source "$BENCH_ROOT/scripts/lib.sh"

bench_t0=$(date +%s%N)

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-1}
	CLIENTS=${CLIENTS:-"1 32"}
	SYNC_MODES=${SYNC_MODES:-"on"}
	ROUNDS=${ROUNDS:-2}
else
	DURATION=${DURATION:-1.5}
	CLIENTS=${CLIENTS:-"1 8 32 64"}
	SYNC_MODES=${SYNC_MODES:-"on off"}
	ROUNDS=${ROUNDS:-3}
fi
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive integer" >&2; exit 1; }
SCENARIOS=${SCENARIOS:-"hot uniform soldout cart"}
WARMUP=${WARMUP:-0.5}
CONTENDERS=${CONTENDERS:-"inventory guarded_update select_for_update optimistic advisory_lock redis_lua hold_event lean"}
BASELINE=guarded_update
SEED=${SEED:-20241122}		# pgbench --random-seed: the same draws every run
OUT=${BENCH_OUT:-$BENCH_ROOT/bench/results}
B=$BENCH_ROOT/bench
DB=bench

# Scenarios: SKUs lo..hi (named '0', '1', ...; in Redis stock:000000000000
# ...), each seeded with units.  The hot SKU gets so many units that it
# never sells out during a run; the sold-out one none at all.  A cart
# checkout takes 1 unit of each of SC_LINES consecutive SKUs b .. b+4 (b
# drawn from lo .. hi-4 by its script); its sales are counted in carts.
declare -A SC_LO=([hot]=0 [uniform]=0 [soldout]=0 [cart]=0)
declare -A SC_HI=([hot]=0 [uniform]=9999 [soldout]=0 [cart]=9999)
declare -A SC_UNITS=([hot]=1000000000 [uniform]=1000000 [soldout]=0 [cart]=1000000)
declare -A SC_LINES=([cart]=5)
declare -A SC_TITLE=([hot]="one hot SKU" [uniform]="uniform over 10,000 SKUs"
	[soldout]="sold-out SKU (every request refused)"
	[cart]="5-line cart over 10,000 SKUs")
# what a contender's run is counted and checked against: the extension's
# tables, the bench schema, Redis, the floor's tables (hold_event: a floor,
# not a contender, bench/hold_event.sql), the lean reference's tables
# (bench/lean.sql), or nothing (select_1)
declare -A KIND=([inventory]=inventory [redis_lua]=redis [select_1]=none [hold_event]=floor [lean]=lean)
declare -A SYNC_TITLE=([on]="synchronous_commit = on, Redis appendfsync always"
	[off]="synchronous_commit = off, Redis appendfsync everysec")
declare -A REDIS_FSYNC=([on]=always [off]=everysec)

for s in $SCENARIOS; do
	[ -n "${SC_LO[$s]:-}" ] || { echo "unknown scenario $s" >&2; exit 1; }
done
for c in $CONTENDERS; do
	[ "$c" = redis_lua ] || [ -f "$B/$c.sql" ] || { echo "no pgbench script bench/$c.sql for $c" >&2; exit 1; }
done

kind_of() { echo "${KIND[$1]:-bare}"; }

lines_of() { echo "${SC_LINES[$1]:-1}"; }

# The contenders of a scenario, in table order: the sold-out table also
# has the SELECT 1 floor; the cart scenario has only the contenders with a
# script of their own for it (bench/NAME.cart.sql); the hold_event floor
# and the lean reference cannot refuse, so they sit the sold-out scenario
# out.
contenders_of() {
	local c
	for c in $CONTENDERS; do
		[ "$1" != cart ] || [ -f "$B/$c.cart.sql" ] || continue
		if [ "$1" = soldout ]; then
			case $(kind_of "$c") in floor|lean) continue ;; esac
		fi
		echo "$c"
	done
	[ "$1" = soldout ] && echo select_1
	return 0
}

# --- ports ------------------------------------------------------------------

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The first port from $1 up that nothing listens on (TCP on loopback, or a
# PostgreSQL socket in the usual places).
free_port() {
	local p=$1
	while port_in_use "$p" || [ -e "/tmp/.s.PGSQL.$p" ] || [ -e "/var/run/postgresql/.s.PGSQL.$p" ]; do
		p=$((p + 1))
	done
	echo "$p"
}

# --- Redis ------------------------------------------------------------------

# Redis does not mind root, but runs as its own user when there is one,
# like the cluster does as postgres.
as_redis() {
	if [ "$(id -u)" -ne 0 ]; then
		"$@"
	elif id redis >/dev/null 2>&1; then
		runuser -u redis -- "$@"
	else
		runuser -u postgres -- "$@"
	fi
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

redis_started=
redis_start() {
	REDIS_DIR=$INV_TMP/redis
	mkdir -p "$REDIS_DIR"
	if [ "$(id -u)" -eq 0 ]; then
		if id redis >/dev/null 2>&1; then chown redis: "$REDIS_DIR"; else chown postgres: "$REDIS_DIR"; fi
	fi
	# loopback only; AOF on with fsync per write (the pass with on); no
	# RDB snapshots and no AOF rewrite, which would fork in the middle of
	# a run
	cat >"$REDIS_DIR/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $REDIS_DIR/redis.pid
logfile $REDIS_DIR/redis.log
dir $REDIS_DIR
save ""
appendonly yes
appendfsync always
auto-aof-rewrite-percentage 0
EOF
	as_redis redis-server "$REDIS_DIR/redis.conf"
	redis_started=yes
	local i
	for i in $(seq 50); do
		[ "$(rcli ping 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	[ "$(rcli ping 2>/dev/null)" = PONG ] || { cat "$REDIS_DIR/redis.log" >&2; return 1; }
	REDIS_SHA=$(rcli script load "$(cat "$B/redis_lua.lua")")
	inv_log "redis up: 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
	[ -n "$redis_started" ] || return 0
	rcli shutdown nosave >/dev/null 2>&1 || true
	local i
	for i in $(seq 50); do
		[ -f "$REDIS_DIR/redis.pid" ] || break
		kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || break
		sleep 0.1
	done
	if [ -f "$REDIS_DIR/redis.pid" ] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; then
		kill "$(cat "$REDIS_DIR/redis.pid")" || true
	fi
	redis_started=
}

cleanup() {
	redis_stop
	inv_stop
	# the cluster, its WAL and the AOF are throwaway; the pgbench outputs stay
	rm -rf "${INV_TMP:?}/data" "${INV_TMP:?}/redis"
}

# --- helpers ----------------------------------------------------------------

q() { psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# One psql session that stays open through the runs (sql_open): under
# load a new connection can take half a second to start, which would
# throw the measuring window off.  sq SQL prints what SQL returns.
sql_open() {
	coproc SQLS { exec psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" 2>&1; }
}
sq() {
	local line out=()
	printf '%s\n\\echo __sq_done__\n' "$1" >&"${SQLS[1]}"
	while IFS= read -r -t 300 line <&"${SQLS[0]}"; do
		if [ "$line" = __sq_done__ ]; then
			[ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
			return 0
		fi
		out+=("$line")
	done
	[ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}" >&2
	echo "bench: the psql session ended or hung on: $1" >&2
	return 1
}

# nearest-rank percentiles, in ms, of the latencies (µs, one a line) in $1
percentiles() {
	sort -n "$1" | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- -"; exit }
			i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; if (i50 < 1) i50 = 1
			i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1
			printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000
		}'
}

# CPU time (clock ticks) of the machine, busy and in all, and of the
# benchmark itself: the cluster (the postmaster, the backends it has
# reaped, its live children), Redis, and what this shell has run and
# waited for (pgbench, redis-benchmark, psql).  Between two readings,
# busy - ours is what other work took from the runs.
cpu_ticks() {	# prints: total busy ours
	local pm rp hz f line pid
	pm=$(head -1 "$INV_TMP/data/postmaster.pid" 2>/dev/null || echo 0)
	rp=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || echo 0)
	hz=$(getconf CLK_TCK)
	times >"$WORK/times"	# this shell's: no subshell in between
	{
		head -1 /proc/stat
		for f in /proc/[0-9]*/stat; do
			pid=${f#/proc/}
			pid=${pid%/stat}
			# comm, field 2, may hold spaces: put "p PID" for fields 1-2,
			# so the others keep their numbers (4 ppid, 14-17 times)
			IFS= read -r line 2>/dev/null <"$f" && echo "p $pid ${line##*) }"
		done
		tail -1 "$WORK/times"
	} | awk -v pm="$pm" -v rp="$rp" -v hz="$hz" '
		function secs(t) { sub(/s$/, "", t); split(t, a, "m"); return a[1] * 60 + a[2] }
		$1 == "cpu" { for (i = 2; i <= 9; i++) total += $i; busy = total - $5 - $6; next }
		$1 == "p" {
			if ($2 == pm) ours += $14 + $15 + $16 + $17
			else if ($4 == pm || $2 == rp) ours += $14 + $15
			next }
		NF == 2 { ours += (secs($1) + secs($2)) * hz }
		END { printf "%d %d %d\n", total, busy, ours }'
}

# other_pct FILE1 FILE2: the share (%) of the machine's CPU that other
# work took between two cpu_ticks readings
other_pct() {
	awk '{ t[NR] = $1; b[NR] = $2; o[NR] = $3 }
		END { d = t[2] - t[1]; x = (b[2] - b[1]) - (o[2] - o[1]); if (x < 0) x = 0
		      printf "%.0f\n", (d > 0 ? 100 * x / d : 0) }' "$1" "$2"
}

fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.1f\n", a / b }'; }
# a / b with 6 significant digits, "-" when either is missing or b is 0
qdiv() {
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || a == "-" || b == "" || b == "-" || b + 0 == 0) print "-";
		else printf "%.6g\n", a / b }'
}
# the median of the numbers among the arguments ("-" for none; the mean of
# the middle two for an even count)
median() {
	printf '%s\n' "$@" | awk '$1 != "" && $1 != "-"' | sort -g \
		| awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Results of one run, keyed "sync|scenario|contender|clients|round", and of
# a cell over its rounds, keyed "sync|scenario|contender|clients".
#   R_RATE      sales (refusals) per second; the cell: the median of its rounds
#   R_RATIO     the cell: the median of the rounds' R_RATE / guarded_update's;
#               R_RATIOS the rounds' ratios, in round order
#   R_WB, R_WNOFPI, R_WREC  WAL bytes, bytes without full-page images,
#               records per checkout (refusal); the cell: medians
#   R_WRATIO, R_WRATIOS     the same as R_RATIO(S) for R_WB
#   R_P50, R_P99  latency (ms); R_OTHER other work (%; the cell: its
#               worst round); R_CHECK ok, FAILED or OVERSOLD
declare -A R_RATE R_P50 R_P99 R_ATT R_SOLD R_HELD R_SECS R_CHECK R_OTHER
declare -A R_RATES R_RATIO R_RATIOS R_WB R_WNOFPI R_WREC R_WRATIO R_WRATIOS R_WRATIO_NOFPI
failed_runs=0
oversold_runs=0
declare -a ALARMS=()

record_problem() {	# key (of a run), what, details
	local key=$1 what=$2 details=$3 where
	R_CHECK[$key]=$what
	IFS='|' read -r -a where <<<"$key"
	where="${where[0]} ${where[1]} ${where[2]} ${where[3]} clients, round ${where[4]}"
	ALARMS+=("$what: $where: $details")
	printf '\n!!!!! %s: %s: %s\n\n' "$what" "$where" "$details" >&2
	if [ "$what" = OVERSOLD ]; then oversold_runs=$((oversold_runs + 1)); else failed_runs=$((failed_runs + 1)); fi
}

# One pgbench run.  Reset the tables and checkpoint, so that no run
# inherits another's rows or dirty pages.  Then measure a window: it
# opens WARMUP seconds after every client has connected (fresh backends
# load their caches and prepare their statements first: at 64 clients on
# 2 cores the first second sells next to nothing, and pgbench's -T counts
# the connecting too) and lasts DURATION seconds.  Sales are counted in
# the tables at both ends of the window, and the WAL insert position read
# in the same statement; attempts and latencies are the transactions of
# pgbench's log that ended inside it.  Then pgbench is stopped, the WAL
# between the two positions read (pg_walinspect) and the books checked.
#
# The WAL is the cluster's, not pgbench's sessions' alone: the extension's
# sweeper and autovacuum write some too (the cluster is the benchmark's
# own, nothing else writes).  Not pg_stat_wal: PostgreSQL 15's backends
# add to it at most once a second, so over a window of a second or two it
# is off by up to a second of every client's WAL.
run_pg() {
	local sync=$1 scenario=$2 contender=$3 clients=$4 round=$5
	local key="$sync|$scenario|$contender|$clients|$round" id="$sync-$scenario-$contender-c$clients-r$round"
	local kind script lo=${SC_LO[$scenario]} hi=${SC_HI[$scenario]} units=${SC_UNITS[$scenario]}
	local lines
	lines=$(lines_of "$scenario")
	kind=$(kind_of "$contender")
	script=$B/$contender.sql
	[ -f "$B/$contender.$scenario.sql" ] && script=$B/$contender.$scenario.sql
	sq "SELECT bench.reset('$kind', $lo, $hi, $units); CHECKPOINT;" >/dev/null
	rm -f "$WORK/log/$id".*
	local rc=0 pid jobs=$(( clients < NCPU ? clients : NCPU ))
	# -T only as a backstop: the run is ended below, with SIGALRM, which is
	# how pgbench 15 implements -T (the clients finish the transaction in
	# hand, the log is written out)
	"$PG_BINDIR/pgbench" -n -M prepared -c "$clients" -j "$jobs" -T 120 --random-seed="$SEED" \
		-D lo="$lo" -D hi="$hi" -l --log-prefix="$WORK/log/$id" -f "$script" "$DB" \
		>"$WORK/$id.out" 2>&1 &
	pid=$!
	while [ "$(sq "SELECT count(*) FROM pg_stat_activity
	               WHERE datname = '$DB' AND application_name = 'pgbench';")" -lt "$clients" ]; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	sleep "$WARMUP"
	local t1 n1 l1 t2 n2 l2 ended_early= total held problems
	read -r t1 n1 l1 < <(sq "SELECT extract(epoch FROM statement_timestamp()), bench.sold('$kind', $lines),
	                               pg_current_wal_insert_lsn();")
	sleep "$DURATION"
	read -r t2 n2 l2 < <(sq "SELECT extract(epoch FROM statement_timestamp()), bench.sold('$kind', $lines),
	                               pg_current_wal_insert_lsn();")
	kill -ALRM "$pid" 2>/dev/null || ended_early=yes
	wait "$pid" || rc=$?
	# the WAL of the window, per resource manager (kept in WORK for a
	# look at what a contender writes); a durable commit first, so that
	# all of it is flushed, which pg_walinspect wants
	local wbytes wrec wfpi
	sq "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT;" >/dev/null
	wbytes=$(sq "SELECT pg_wal_lsn_diff('$l2', '$l1')::bigint;")
	sq "SELECT rmgr, records, record_bytes, fpi_bytes FROM bench.wal('$l1', '$l2') ORDER BY 1;" >"$WORK/wal-$id.txt"
	read -r wrec wfpi < <(awk '{ r += $2; f += $4 } END { printf "%d %d\n", r, f }' "$WORK/wal-$id.txt")
	IFS='|' read -r total held problems < <(sq "SELECT sold || '|' || held || '|'
		|| coalesce(array_to_string(problems, '; '), '') FROM bench.check('$kind', $lines);")
	# the third field of -l is the latency (µs), the fifth and sixth when
	# the transaction ended (epoch s, µs)
	# (no log at all when pgbench failed at once: pipefail must not end the bench)
	{ cat "$WORK/log/$id".* 2>/dev/null || true; } \
		| awk '$3 ~ /^[0-9]+$/ { printf "%.6f %s\n", $5 + $6 / 1e6, $3 }' >"$WORK/txn"
	rm -f "$WORK/log/$id".*
	if [ -n "$ended_early" ] && [ -s "$WORK/txn" ]; then
		# (pgbench gave up, or a machine slow beyond the backstop): the
		# window closes with the last transaction, and all sold is in it
		t2=$(sort -n "$WORK/txn" | tail -1 | cut -d' ' -f1)
		n2=$total
		inv_log "pgbench ended before the window closed; window cut to its last transaction"
	fi
	awk -v t1="$t1" -v t2="${t2:-0}" '$1 >= t1 && $1 <= t2 { print $2 }' "$WORK/txn" >"$WORK/lat"
	# the cell's latencies are those of all its rounds
	cat "$WORK/lat" >>"$WORK/lat-$sync-$scenario-$contender-c$clients"
	local attempts sold secs p50 p99 per
	attempts=$(wc -l <"$WORK/lat")
	sold=$((n2 - n1))
	secs=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f\n", b - a }')
	read -r p50 p99 < <(percentiles "$WORK/lat")
	R_ATT[$key]=$attempts R_SOLD[$key]=$sold R_HELD[$key]=$held R_SECS[$key]=$secs
	R_P50[$key]=$p50 R_P99[$key]=$p99 R_CHECK[$key]=ok
	if [ "$scenario" = soldout ]; then
		per=$((attempts - sold))
	else
		per=$sold
	fi
	R_RATE[$key]=$(fdiv "$per" "$secs")
	R_WB[$key]=$(qdiv "$wbytes" "$per")
	R_WNOFPI[$key]=$(qdiv $((wbytes - wfpi)) "$per")
	R_WREC[$key]=$(qdiv "$wrec" "$per")
	if [ "$rc" -ne 0 ] || grep -q 'aborted\|error' "$WORK/$id.out"; then
		record_problem "$key" FAILED "pgbench exit $rc: $(grep -m3 -i 'error\|abort' "$WORK/$id.out" | paste -sd' ' -) (see $WORK/$id.out)"
	fi
	if [ -n "$problems" ]; then
		record_problem "$key" OVERSOLD "$problems"
	elif [ "$scenario" = soldout ] && [ "$total" -ne 0 ]; then
		record_problem "$key" OVERSOLD "sold $total units of a sold-out SKU"
	fi
}

redis_seed() {	# lo hi units
	rcli flushall >/dev/null
	rcli eval "$(cat "$B/redis_seed.lua")" 0 "$1" "$2" "$3" >/dev/null
}

# One redis-benchmark run.  It has no duration option, only a number of
# requests: a short probe measures the rate, and the run asks for
# DURATION seconds' worth.  The time is redis-benchmark's own (requests /
# its requests per second).
run_redis() {
	local sync=$1 scenario=$2 contender=$3 clients=$4 round=$5
	local key="$sync|$scenario|$contender|$clients|$round" id="$sync-$scenario-$contender-c$clients-r$round"
	local lo=${SC_LO[$scenario]} hi=${SC_HI[$scenario]} units=${SC_UNITS[$scenario]}
	local sku="stock:$(printf '%012d' "$lo")" rand=()
	if [ "$hi" -gt "$lo" ]; then
		[ "$lo" -eq 0 ] || { echo "redis: random SKUs must start at 0" >&2; exit 1; }
		sku="stock:__rand_int__" rand=(-r $((hi + 1)))
	fi
	# rb -n N: N checkouts.  One benchmark thread (the default): Redis
	# serves from one thread too, and on a small machine a second client
	# thread takes a core from the server (measured: a third fewer refusals/s
	# at 64 clients on 2 cores).
	rb() {
		redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$clients" "${rand[@]}" \
			--csv "$@" EVALSHA "$REDIS_SHA" 2 "$sku" orders
	}
	local rc=0 probe n
	redis_seed "$lo" "$hi" "$units"
	probe=$(rb -n $(( clients * 20 > 500 ? clients * 20 : 500 )) 2>&1 | awk -F'"' 'NR == 2 { print $4 }') || true
	n=$(awk -v r="${probe:-0}" -v d="$DURATION" -v c="$clients" \
		'BEGIN { n = int(r * d); if (n < c * 50) n = c * 50; print n }')
	redis_seed "$lo" "$hi" "$units"
	rb -n "$n" >"$WORK/$id.out" 2>&1 || rc=$?
	local rps p50 p99
	read -r rps p50 p99 < <(awk -F'"' 'NR == 2 { print $4, $10, $14 }' "$WORK/$id.out")
	local check sold problems secs
	mapfile -t check < <(rcli eval "$(cat "$B/redis_check.lua")" 1 orders "$lo" "$hi" "$units")
	sold=${check[0]:-0}
	problems=$(printf '%s; ' "${check[@]:2}")
	problems=${problems%; }
	secs=$(awk -v n="$n" -v r="${rps:-0}" 'BEGIN { if (r > 0) printf "%.3f\n", n / r; else print 0 }')
	R_ATT[$key]=$n R_SOLD[$key]=$sold R_HELD[$key]=0 R_SECS[$key]=$secs
	R_P50[$key]=${p50:--} R_P99[$key]=${p99:--} R_CHECK[$key]=ok
	R_WB[$key]=- R_WNOFPI[$key]=- R_WREC[$key]=-
	if [ "$scenario" = soldout ]; then
		R_RATE[$key]=$(fdiv $((n - sold)) "$secs")
	else
		R_RATE[$key]=$(fdiv "$sold" "$secs")
	fi
	if [ "$rc" -ne 0 ] || [ -z "${rps:-}" ] || grep -q 'Error' "$WORK/$id.out"; then
		record_problem "$key" FAILED "redis-benchmark exit $rc: $(grep -m3 'Error' "$WORK/$id.out" | paste -sd' ' -) (see $WORK/$id.out)"
	fi
	if [ -n "$problems" ]; then
		record_problem "$key" OVERSOLD "$problems"
	elif [ "$scenario" = soldout ] && [ "$sold" -ne 0 ]; then
		record_problem "$key" OVERSOLD "sold $sold units of a sold-out SKU"
	fi
}

# A cell's numbers from its rounds' (see R_* above).  A ratio is taken
# within one round, then the median of those is the cell's.  Latency
# (PostgreSQL): percentiles of all the rounds' windows' transactions
# together; Redis gives only its own percentiles per run: their median.
aggregate_cell() {	# sync scenario clients
	local sync=$1 scenario=$2 n=$3 c r key rk bk check v w
	local -a rates ratios wbs wnofpis wrecs wratios wratios_nofpi p50s p99s others
	for c in $(contenders_of "$scenario"); do
		key="$sync|$scenario|$c|$n"
		rates=() ratios=() wbs=() wnofpis=() wrecs=() wratios=() wratios_nofpi=() p50s=() p99s=() others=()
		check=ok
		R_ATT[$key]=0 R_SOLD[$key]=0 R_HELD[$key]=0 R_SECS[$key]=0
		for r in $(seq "$ROUNDS"); do
			rk="$key|$r" bk="$sync|$scenario|$BASELINE|$n|$r"
			[ -n "${R_CHECK[$rk]:-}" ] || continue
			rates+=("${R_RATE[$rk]}")
			ratios+=("$(qdiv "${R_RATE[$rk]}" "${R_RATE[$bk]:-}")")
			wbs+=("${R_WB[$rk]}") wnofpis+=("${R_WNOFPI[$rk]}") wrecs+=("${R_WREC[$rk]}")
			# a base of less than a byte per checkout (a refusal writes
			# nothing) makes no ratio
			if awk -v b="${R_WB[$bk]:--}" 'BEGIN { exit !(b != "-" && b + 0 >= 1) }'; then
				wratios+=("$(qdiv "${R_WB[$rk]}" "${R_WB[$bk]}")")
				wratios_nofpi+=("$(qdiv "${R_WNOFPI[$rk]}" "${R_WNOFPI[$bk]}")")
			else
				wratios+=(-) wratios_nofpi+=(-)
			fi
			p50s+=("${R_P50[$rk]}") p99s+=("${R_P99[$rk]}") others+=("${R_OTHER[$rk]:-0}")
			R_ATT[$key]=$(( ${R_ATT[$key]} + ${R_ATT[$rk]:-0} ))
			R_SOLD[$key]=$(( ${R_SOLD[$key]} + ${R_SOLD[$rk]:-0} ))
			R_HELD[$key]=$(( ${R_HELD[$key]} + ${R_HELD[$rk]:-0} ))
			R_SECS[$key]=$(awk -v a="${R_SECS[$key]}" -v b="${R_SECS[$rk]}" 'BEGIN { printf "%.3f\n", a + b }')
			case "${R_CHECK[$rk]}" in
				OVERSOLD) check=OVERSOLD ;;
				FAILED) [ "$check" = OVERSOLD ] || check=FAILED ;;
			esac
		done
		[ ${#rates[@]} -gt 0 ] || continue
		R_CHECK[$key]=$check
		R_RATE[$key]=$(median "${rates[@]}")
		R_RATES[$key]=${rates[*]}
		R_RATIO[$key]=$(median "${ratios[@]}")
		R_RATIOS[$key]=${ratios[*]}
		R_WB[$key]=$(median "${wbs[@]}")
		R_WNOFPI[$key]=$(median "${wnofpis[@]}")
		R_WREC[$key]=$(median "${wrecs[@]}")
		R_WRATIO[$key]=$(median "${wratios[@]}")
		R_WRATIOS[$key]=${wratios[*]}
		R_WRATIO_NOFPI[$key]=$(median "${wratios_nofpi[@]}")
		R_OTHER[$key]=$(printf '%s\n' "${others[@]}" | sort -n | tail -1)
		if [ "$(kind_of "$c")" = redis ]; then
			R_P50[$key]=$(median "${p50s[@]}") R_P99[$key]=$(median "${p99s[@]}")
		else
			read -r v w < <(percentiles "$WORK/lat-$sync-$scenario-$c-c$n")
			R_P50[$key]=$v R_P99[$key]=$w
		fi
	done
}

set_sync() {
	local sync=$1 i
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "ALTER SYSTEM SET synchronous_commit = '$sync'"
	q -c "SELECT pg_reload_conf()" >/dev/null
	# the postmaster rereads the file asynchronously: wait until a new
	# session (as pgbench's will be) sees the value
	for i in $(seq 50); do
		[ "$(q -c 'SHOW synchronous_commit')" = "$sync" ] && break
		sleep 0.1
	done
	[ "$(q -c 'SHOW synchronous_commit')" = "$sync" ] || { echo "synchronous_commit did not become $sync" >&2; exit 1; }
	rcli config set appendfsync "${REDIS_FSYNC[$sync]}" >/dev/null
	[ "$(rcli config get appendfsync | tail -1)" = "${REDIS_FSYNC[$sync]}" ] \
		|| { echo "redis appendfsync did not become ${REDIS_FSYNC[$sync]}" >&2; exit 1; }
}

# --- formatting -------------------------------------------------------------

fmt_rate() { awk -v r="$1" 'BEGIN { if (r == "-" || r == "") print "–"; else printf "%.0f\n", r }'; }
# pgbench does not read the clock for every event it logs: many
# transactions under 0.1 ms are logged as 0 µs (a SELECT 1 run logs a third
# of them so).  Below 0.1 ms its percentiles mean nothing, and one
# resolution for every contender keeps the columns comparable.
fmt_ms() {
	awk -v m="$1" 'BEGIN { if (m == "-" || m == "") print "–"; else if (m < 0.1) print "<0.1";
		else if (m < 10) printf "%.2f\n", m; else printf "%.1f\n", m }'
}
# a ratio (R_RATIO, R_WRATIO ...) to two decimals, or a list of them
fmt_x() {
	local v out=()
	for v in ${1:-}; do
		out+=("$(awk -v r="$v" 'BEGIN { if (r == "-" || r == "") print "–"; else printf "%.2f\n", r }')")
	done
	[ ${#out[@]} -gt 0 ] || out=(–)
	echo "${out[*]}"
}
# WAL per checkout: bytes as an integer, records to one decimal
fmt_b() { awk -v r="${1:-}" 'BEGIN { if (r == "-" || r == "") print "–"; else printf "%.0f\n", r }'; }
fmt_rec() { awk -v r="${1:-}" 'BEGIN { if (r == "-" || r == "") print "–"; else printf "%.1f\n", r }'; }
ratio() { fmt_x "${R_RATIO[$1]:-}"; }	# key of a cell
metric_of() {
	case "$1" in
		soldout) echo "refusals/s" ;;
		cart) echo "carts/s" ;;
		*) echo "reservations/s" ;;
	esac
}
# what WAL is counted per: a checkout (a cart in the cart scenario) or a refusal
per_of() {
	case "$1" in
		soldout) echo "refusal" ;;
		cart) echo "cart" ;;
		*) echo "checkout" ;;
	esac
}

# The detailed table of one scenario and sync mode: contender x clients.
table() {
	local sync=$1 scenario=$2 c n key check metric per
	metric=$(metric_of "$scenario")
	per=$(per_of "$scenario")
	printf '| contender | clients | %s | × %s | × %s per round | p50 ms | p99 ms | WAL B/%s | WAL B/%s w/o FPI | WAL rec/%s | × %s WAL | other work | check |\n' \
		"$metric" "$BASELINE" "$BASELINE" "$per" "$per" "$per" "$BASELINE"
	printf '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n'
	for c in $(contenders_of "$scenario"); do
		for n in $CLIENTS; do
			key="$sync|$scenario|$c|$n"
			[ -n "${R_CHECK[$key]:-}" ] || continue
			check=${R_CHECK[$key]}
			[ "$check" = ok ] || check="**$check**"
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s %% | %s |\n' "$c" "$n" \
				"$(fmt_rate "${R_RATE[$key]}")" "$(ratio "$key")" "$(fmt_x "${R_RATIOS[$key]:-}")" \
				"$(fmt_ms "${R_P50[$key]}")" "$(fmt_ms "${R_P99[$key]}")" \
				"$(fmt_b "${R_WB[$key]:-}")" "$(fmt_b "${R_WNOFPI[$key]:-}")" "$(fmt_rec "${R_WREC[$key]:-}")" \
				"$(fmt_x "${R_WRATIO[$key]:-}")" "${R_OTHER[$key]:-?}" "$check"
		done
	done
}

# The compact table: one row per contender, per client count "rate (×ratio)".
summary() {
	local sync=$1 scenario=$2 c n key row
	printf '| %s |' "$(metric_of "$scenario") (× $BASELINE) · WAL/$(per_of "$scenario") × $BASELINE"
	for n in $CLIENTS; do
		if [ "$n" = 1 ]; then printf ' 1 client |'; else printf ' %s clients |' "$n"; fi
	done
	printf '\n|---|'
	for n in $CLIENTS; do printf -- '--:|'; done
	printf '\n'
	for c in $(contenders_of "$scenario"); do
		row="| $c |"
		for n in $CLIENTS; do
			key="$sync|$scenario|$c|$n"
			if [ -z "${R_CHECK[$key]:-}" ]; then
				row+=" – |"
			else
				row+=" $(fmt_rate "${R_RATE[$key]}") (×$(ratio "$key"))"
				case "${R_WRATIO[$key]:--}" in
					-) ;;
					*) row+=" · WAL ×$(fmt_x "${R_WRATIO[$key]}")" ;;
				esac
				[ "${R_CHECK[$key]}" = ok ] || row+=" **${R_CHECK[$key]}**"
				row+=" |"
			fi
		done
		echo "$row"
	done
}

plot() {	# sync scenario: bench/results/<scenario>-<sync>.png
	local sync=$1 scenario=$2 c n data=$WORK/plot-$2-$1.dat
	{
		printf 'clients'
		for c in $(contenders_of "$scenario"); do printf ' %s' "$c"; done
		printf '\n'
		for n in $CLIENTS; do
			printf '%s' "$n"
			for c in $(contenders_of "$scenario"); do
				local r=${R_RATE["$sync|$scenario|$c|$n"]:-}
				[ -z "$r" ] || [ "$r" = - ] && r=NaN
				printf ' %s' "$r"
			done
			printf '\n'
		done
	} >"$data"
	local xt
	xt=$(printf '"%s" %s, ' $(for n in $CLIENTS; do echo "$n $n"; done))
	gnuplot -e "datafile='$data'; outfile='$OUT/$scenario-$sync.png'; plottitle='${SC_TITLE[$scenario]} — ${SYNC_TITLE[$sync]}'; ylabel='$(metric_of "$scenario") (log scale)'; clientstics='${xt%, }'" \
		"$B/plot.gp" 2>"$WORK/gnuplot.err" || { cat "$WORK/gnuplot.err" >&2; echo "gnuplot failed" >&2; }
}

# --- set-up -----------------------------------------------------------------

inv_packages redis-server redis-tools gnuplot-nox
if [ "${NO_BUILD:-0}" != 1 ]; then
	# others may be installing the extension at the same time
	exec 9>/tmp/inv-build.lock
	flock 9
	inv_build
fi

INV_PORT=${user_pg_port:-$(free_port 5491)}
REDIS_PORT=${REDIS_PORT:-$(free_port 6391)}
port_in_use "$REDIS_PORT" && { echo "port $REDIS_PORT is in use" >&2; exit 1; }
NCPU=$(nproc)

# Durable: fsync on (the default, said aloud) so that synchronous_commit
# decides what a commit waits for.  Checkpoints come from the harness
# (before every run); the WAL of a whole run fits in max_wal_size and
# checkpoint_timeout is longer than the benchmark, so none falls in a run.
inv_start "synchronous_commit = on" "fsync = on" "checkpoint_timeout = 30min" "max_wal_size = 4GB"
trap cleanup EXIT
WORK=$INV_TMP/work
mkdir -p "$WORK/log" "$OUT"
# the lock covers build, start and CREATE EXTENSION: from here on the
# cluster has the library it loaded at start, whatever others install
inv_psql -d postgres -c "CREATE DATABASE $DB"
inv_psql -d "$DB" -c "CREATE EXTENSION inventory" -f "$B/schema.sql" -f "$B/floor/schema.sql" \
	-f "$B/lean/schema.sql"
[ "${NO_BUILD:-0}" = 1 ] || flock -u 9

# The disk: fdatasync rate where the cluster's WAL is (the first test of
# pg_test_fsync, cut short once it has printed it).
inv_log "pg_test_fsync: fdatasync rate of $INV_TMP"
"$PG_BINDIR/pg_test_fsync" -s 1 -f "$WORK/fsync.test" >"$WORK/fsync.out" 2>&1 &
fsync_pid=$!
for _ in $(seq 100); do
	grep -q 'fdatasync .*ops/sec' "$WORK/fsync.out" && break
	kill -0 "$fsync_pid" 2>/dev/null || break
	sleep 0.1
done
kill "$fsync_pid" 2>/dev/null || true
wait "$fsync_pid" 2>/dev/null || true
rm -f "$WORK/fsync.test"
FDATASYNC=$(awk '/fdatasync/ && /ops\/sec/ { printf "%.0f", $2; exit }' "$WORK/fsync.out")

redis_start
sql_open

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
setup_s=$(fdiv $(( $(date +%s%N) - bench_t0 )) 1000000000)
inv_log "set-up took $setup_s s; runs of $DURATION s, clients $CLIENTS, sync $SYNC_MODES"

# --- the runs ---------------------------------------------------------------

# Clients outside, then rounds, contenders inside: the runs a ratio
# compares are taken back to back, so a drift of the machine touches them
# alike; every other round runs them in the opposite order, so that none
# always runs first (or right after another).
declare -A OTHER_PCT
cpu_ticks >"$WORK/ticks-start"
for sync in $SYNC_MODES; do
	set_sync "$sync"
	cpu_ticks >"$WORK/ticks-$sync-start"
	for scenario in $SCENARIOS; do
		for n in $CLIENTS; do
			for c in $(contenders_of "$scenario"); do rm -f "$WORK/lat-$sync-$scenario-$c-c$n"; done
			for round in $(seq "$ROUNDS"); do
				order=$(contenders_of "$scenario")
				[ $((round % 2)) -eq 1 ] || order=$(echo $order | tr ' ' '\n' | tac)
				for c in $order; do
					key="$sync|$scenario|$c|$n|$round"
					cpu_ticks >"$WORK/ticks-run-start"
					if [ "$(kind_of "$c")" = redis ]; then
						run_redis "$sync" "$scenario" "$c" "$n" "$round"
					else
						run_pg "$sync" "$scenario" "$c" "$n" "$round"
					fi
					cpu_ticks >"$WORK/ticks-run-end"
					R_OTHER[$key]=$(other_pct "$WORK/ticks-run-start" "$WORK/ticks-run-end")
					printf '==> %-4s %-8s %2s clients round %s/%s %-18s %8s %s  p50 %s ms  p99 %s ms  WAL %s B %s rec/%s  other work %s %%  %s\n' \
						"$sync" "$scenario" "$n" "$round" "$ROUNDS" "$c" "$(fmt_rate "${R_RATE[$key]}")" "$(metric_of "$scenario")" \
						"$(fmt_ms "${R_P50[$key]}")" "$(fmt_ms "${R_P99[$key]}")" "$(fmt_b "${R_WB[$key]}")" \
						"$(fmt_rec "${R_WREC[$key]}")" "$(per_of "$scenario")" "${R_OTHER[$key]}" "${R_CHECK[$key]}" >&2
				done
			done
			aggregate_cell "$sync" "$scenario" "$n"
		done
		printf '\n### %s — %s\n\n' "${SC_TITLE[$scenario]}" "${SYNC_TITLE[$sync]}"
		table "$sync" "$scenario"
		echo
	done
	cpu_ticks >"$WORK/ticks-$sync-end"
	OTHER_PCT[$sync]=$(other_pct "$WORK/ticks-$sync-start" "$WORK/ticks-$sync-end")
	[ "${OTHER_PCT[$sync]}" -le 10 ] \
		|| inv_log "other work took ${OTHER_PCT[$sync]} % of the CPU during these runs: their numbers are disturbed"
done
cpu_ticks >"$WORK/ticks-end"
OTHER_ALL=$(other_pct "$WORK/ticks-start" "$WORK/ticks-end")
other_detail=
for sync in $SYNC_MODES; do other_detail+="${other_detail:+, }${OTHER_PCT[$sync]} % with sync $sync"; done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the report -------------------------------------------------------------

for sync in $SYNC_MODES; do
	for scenario in $SCENARIOS; do plot "$sync" "$scenario"; done
done

# a CSV field: a number (5 significant digits) or a space-separated list
# of them, "-" for a missing one; a lone "-" leaves the field empty
csvx() {
	local v out=()
	for v in ${1:-}; do
		out+=("$(awk -v r="$v" 'BEGIN { if (r == "-") print "-"; else printf "%.5g\n", r }')")
	done
	[ "${out[*]}" != - ] || out=()
	echo "${out[*]}"
}
{
	echo "sync,scenario,contender,clients,rounds,seconds,attempts,sold,held_at_end,metric,per_second,per_second_per_round,ratio_to_$BASELINE,ratio_per_round,p50_ms,p99_ms,wal_bytes_per_checkout,wal_bytes_no_fpi_per_checkout,wal_records_per_checkout,wal_ratio_to_$BASELINE,wal_ratio_per_round,wal_no_fpi_ratio_to_$BASELINE,other_work_pct,check"
	for sync in $SYNC_MODES; do
		for scenario in $SCENARIOS; do
			for c in $(contenders_of "$scenario"); do
				for n in $CLIENTS; do
					key="$sync|$scenario|$c|$n"
					[ -n "${R_CHECK[$key]:-}" ] || continue
					echo "$sync,$scenario,$c,$n,$ROUNDS,${R_SECS[$key]},${R_ATT[$key]},${R_SOLD[$key]},${R_HELD[$key]},$(metric_of "$scenario" | sed 's|/s$|_per_s|'),${R_RATE[$key]},${R_RATES[$key]},$(csvx "${R_RATIO[$key]:-}"),$(csvx "${R_RATIOS[$key]:-}"),${R_P50[$key]},${R_P99[$key]},$(csvx "${R_WB[$key]:-}"),$(csvx "${R_WNOFPI[$key]:-}"),$(csvx "${R_WREC[$key]:-}"),$(csvx "${R_WRATIO[$key]:-}"),$(csvx "${R_WRATIOS[$key]:-}"),$(csvx "${R_WRATIO_NOFPI[$key]:-}"),${R_OTHER[$key]:-},${R_CHECK[$key]}"
				done
			done
		done
	done
} >"$OUT/results.csv"

wall_s=$(fdiv $(( $(date +%s%N) - bench_t0 )) 1000000000)
pg_version=$(q -c "SHOW server_version")
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576; exit }' /proc/meminfo)
disk=$(df -PT "$INV_TMP" | awk 'NR == 2 { print $2 " on " $1 }')
settings=$(q -c "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name)
                   FROM pg_settings WHERE name IN ('shared_buffers', 'wal_sync_method', 'fsync',
                   'full_page_writes', 'max_wal_size', 'wal_buffers', 'commit_delay')")
mode="full run"
[ "$QUICK" = 1 ] && mode="QUICK=1"

{
	echo "# make bench: the extension against the designs users would otherwise pick"
	echo
	echo "Produced by \`make bench\` ($mode) on $(date -u '+%Y-%m-%d %H:%M UTC'), total wall time ${wall_s} s."
	echo "Absolute numbers vary by machine (cores, disk, what else runs); only the"
	echo "ratios measured within one run mean anything."
	echo
	if [ "$OTHER_ALL" -gt 10 ]; then
		echo "> **Other work was running**: it took $OTHER_ALL % of the machine's CPU during the runs"
		echo "> ($other_detail). The numbers below are disturbed by it, the more so"
		echo "> the higher that share; run again on a quiet machine."
		echo
	fi
	if [ ${#ALARMS[@]} -gt 0 ]; then
		echo "## !!! PROBLEMS !!!"
		echo
		for a in "${ALARMS[@]}"; do echo "- **$a**"; done
		echo
	fi
	echo "## Machine"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| cores | $NCPU ($cpu_model) |"
	echo "| memory | $mem |"
	echo "| disk | $disk, fdatasync ${FDATASYNC:-?} ops/s (\`pg_test_fsync -s 1\`, one 8 kB write) |"
	echo "| kernel | $(uname -sr) |"
	echo "| PostgreSQL | $pg_version: $settings |"
	echo "| Redis | $(redis-server --version | awk '{ print $3 }' | tr -d 'v=') |"
	echo "| other work | $OTHER_ALL % of the CPU during the runs ($other_detail): busy time of the machine less the benchmark's own (cluster, Redis, clients); load average $LOAD_BEFORE before, $LOAD_AFTER after |"
	echo "| runs | $ROUNDS rounds per cell, interleaved; $DURATION s measured each, after all clients connected and $WARMUP s more; clients $CLIENTS; pgbench -M prepared -j ≤ $NCPU --random-seed=$SEED |"
	echo
	echo "## What runs"
	echo
	echo "Every contender does the same checkout: **reserve one unit, then commit it**, as"
	echo "two transactions (a shop takes the payment in between; here it is instant)."
	echo
	echo "- \`inventory\`: this extension, \`SELECT inv_reserve(sku, 1)\` then \`SELECT inv_commit(id)\`"
	echo "  (bench/inventory.sql); in the sold-out scenario \`inv_try_reserve_cart\`, which returns"
	echo "  a refusal instead of raising it (bench/inventory.soldout.sql)."
	echo "- \`guarded_update\` (the ratio's base): \`UPDATE stock SET reserved = reserved + 1 WHERE sku = \$1"
	echo "  AND on_hand - reserved >= 1\` and the order row in one statement, then \`UPDATE\` the order"
	echo "  to sold and \`on_hand - 1, reserved - 1\` (bench/guarded_update.sql)."
	echo "- \`select_for_update\`: \`SELECT … FOR UPDATE\`, check, \`UPDATE\` + \`INSERT\`; the commit locks"
	echo "  the order and the stock row the same way (bench/select_for_update.sql)."
	echo "- \`optimistic\`: read the row's version, \`UPDATE … WHERE version = \$v\`, retry on a miss"
	echo "  (the loop in plpgsql, bench/schema.sql, since pgbench cannot loop)."
	echo "- \`advisory_lock\`: \`pg_advisory_xact_lock(hashtext(sku))\`, read, write (bench/advisory_lock.sql)."
	echo "- \`redis_lua\`: one \`EVALSHA\` per checkout that checks and decrements and \`RPUSH\`es the"
	echo "  order (bench/redis_lua.lua), by redis-benchmark. One round trip and one AOF write per"
	echo "  checkout where the others make two transactions: read its row as an upper bound."
	echo "- \`select_1\` (sold-out table only): \`SELECT 1\`, the floor of a round trip."
	echo "- \`hold_event\` (hot and uniform tables): **a reference, not a contender**. A checkout that"
	echo "  inserts a hold (bigint key) and its event, then marks the hold sold and inserts a second"
	echo "  event: no stock row, no check, no expiry index (bench/hold_event.sql, bench/floor/schema.sql)."
	echo "  Every design that keeps a durable hold and a durable event per change writes at least"
	echo "  this much WAL; its rate is what such a design reaches through SQL functions (two"
	echo "  statements per step), not a bound on one that needs fewer."
	echo "- \`lean\` (hot and uniform tables): **a reference, not a contender**: the lean checkout of"
	echo "  the project's brief, in plpgsql (bench/lean.sql, bench/lean/schema.sql). The reserve takes"
	echo "  the units with one guarded \`UPDATE\` of an \`available\` column and inserts a bigint-keyed"
	echo "  hold (indexed by expiry while held) and a small event; the commit flips the hold, inserts"
	echo "  a second event and never touches the stock row. No idempotency, owner, lines, fencing or"
	echo "  payload: what it leaves out is what the extension adds."
	echo
	echo "Scenarios: **hot**: every checkout wants the same SKU (10⁹ units: it never sells out);"
	echo "**uniform**: a random one of 10,000 SKUs (10⁶ units each); **soldout**: one SKU with"
	echo "0 units, so every attempt is refused; **cart**: every checkout is a cart of 5 lines,"
	echo "1 unit of each of 5 consecutive SKUs b … b+4 of the 10,000 (10⁶ units each), reserved"
	echo "all or nothing in one transaction, then committed in another; the same carts (pgbench"
	echo "\`--random-seed\`) for every contender, whose rows are locked in one order (by SKU):"
	echo
	echo "- \`inventory\`: \`inv_reserve_cart\` of the 5 lines (\`[{\"sku\": …, \"qty\": 1}, …]\`), then"
	echo "  \`inv_commit\` (bench/inventory.cart.sql);"
	echo "- \`guarded_update\`: one \`UPDATE stock SET reserved = reserved + 1 WHERE sku IN (5 SKUs) AND"
	echo "  on_hand - reserved >= 1\` (an index scan: rows locked in index order) and the 5 order rows"
	echo "  in one statement, \`ROLLBACK\` unless all 5 rows had a unit; then the 5 orders marked sold"
	echo "  and \`on_hand - 1, reserved - 1\` on the 5 rows (bench/guarded_update.cart.sql);"
	echo "- \`select_for_update\`: the 5 rows locked by \`SELECT … ORDER BY sku FOR UPDATE\`, checked,"
	echo "  written; the commit the same way (bench/select_for_update.cart.sql)."
	echo
	echo "Only the contenders with a \`bench/NAME.cart.sql\` run the cart scenario. Its rate,"
	echo "**carts/s**, counts whole carts (5 order rows sold, or one committed hold of 5 lines)."
	echo
	echo "Counting: before each run every table is emptied and seeded again, and a \`CHECKPOINT\`"
	echo "taken. A PostgreSQL run is measured over a window of $DURATION s that opens $WARMUP s after"
	echo "the last client has connected (fresh backends warm their caches first; at 64 clients on"
	echo "2 cores the first second sells almost nothing). **Reservations/s** = checkouts that sold"
	echo "their unit, counted in the tables at both ends of the window (committed holds in"
	echo "\`inventory.reservation\`, sold rows in \`bench.orders\`), over the window's length. A"
	echo "Redis run follows a short probe run (its warm-up) and counts the \`orders\` list over"
	echo "redis-benchmark's own time. **Refusals/s** (sold-out) = attempts that ended in the window"
	echo "(pgbench's per-transaction log; redis-benchmark's requests) less sales, which must be 0."
	echo "Latency is one whole checkout (both transactions): p50 and p99 of the window's"
	echo "transactions in pgbench's log (\`-l\`; it logs many sub-0.1 ms transactions as 0 µs,"
	echo "so those show as <0.1), redis-benchmark's own histogram for Redis."
	echo
	echo "**Rounds**: each cell (sync mode, scenario, clients) runs $ROUNDS rounds; a round runs every"
	echo "contender of the cell once, back to back (every other round in the opposite order), and"
	echo "the cell's rate is the **median** over its rounds (with 2 rounds, their mean)."
	echo "**× $BASELINE** = the median over the rounds of this contender's rate over guarded_update's"
	echo "in the same round (same scenario, sync mode and clients): no ratio is taken across rounds;"
	echo "**per round** lists those ratios in round order. Latency (PostgreSQL) is taken over the"
	echo "transactions of all rounds' windows together; Redis' is the median of its rounds'."
	echo
	echo "**WAL** (PostgreSQL contenders): the WAL insert position is read in the same statement as"
	echo "the sales at both ends of the window, and the WAL in between read with \`pg_walinspect\`"
	echo "after the run. **WAL B/checkout** = its bytes (every record, full-page images and page"
	echo "headers included) over the checkouts sold in the window (per cart in the cart scenario,"
	echo "per refusal in the sold-out one); **w/o FPI** = the same less the bytes of full-page"
	echo "images (a \`CHECKPOINT\` precedes every run, so the first write of every page after it"
	echo "logs the whole page: a cost of touching many pages, inflated by the short runs);"
	echo "**WAL rec/checkout** = records per checkout. Each is the median over the rounds;"
	echo "**× $BASELINE WAL** = the median of the rounds' ratios of WAL B/checkout (– where"
	echo "guarded_update writes less than a byte, e.g. per refusal). It is the cluster's WAL: the"
	echo "extension's sweeper and autovacuum write a little too (the cluster is the benchmark's own)."
	echo "Not \`pg_stat_wal\`: PostgreSQL 15's backends report to it at most once a second, too"
	echo "coarse for a window of $DURATION s."
	echo
	echo "**check**: after every run, nothing oversold (on_hand ≥ 0, reserved ≤ on_hand, sold ="
	echo "seeded − on_hand = orders; for the extension also \`inv_verify()\` returns no row)."
	echo "**other work**: the share of the machine's CPU that processes other than the"
	echo "benchmark's (cluster, Redis, clients) took during the run; above a few % the run is disturbed."
	for sync in $SYNC_MODES; do
		echo
		echo "## ${SYNC_TITLE[$sync]}"
		for scenario in $SCENARIOS; do
			echo
			echo "### ${SC_TITLE[$scenario]}"
			echo
			summary "$sync" "$scenario"
			echo
			echo "![${SC_TITLE[$scenario]}, ${SYNC_TITLE[$sync]}]($scenario-$sync.png)"
			echo
			table "$sync" "$scenario"
		done
	done
	echo
	echo "Every number: [results.csv](results.csv) (one row per cell: rates and ratios the medians"
	echo "of the rounds, then the rounds' in round order; seconds, attempts and sold summed over the"
	echo "rounds). Reproduce: \`make bench\` (about 30 minutes on 2 cores) or \`QUICK=1 make bench\`"
	echo "(about 4 minutes: sync on, 1 and 32 clients, 2 rounds)."
} >"$OUT/report.md"

inv_log "report: $OUT/report.md (wall time $wall_s s)"
if [ ${#ALARMS[@]} -gt 0 ]; then
	printf '!!!!! %s\n' "${ALARMS[@]}" >&2
fi
[ "$failed_runs" -eq 0 ] || exit 1
[ "$oversold_runs" -eq 0 ] || exit 3
