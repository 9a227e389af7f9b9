#!/usr/bin/env bash
# scripts/fuzz.sh: bad input, tried by machines, against the cluster in
# PGHOST/PGPORT (its server log in $INV_TMP/server.log).
#
#   api_model   test/fuzz/api_model.py (Hypothesis): random sequences of API
#               calls with valid and garbage arguments, checked against a
#               model after every call; two processes at once, on SKUs of
#               their own, in one database.  A failure is shrunk to a short
#               sequence and printed.
#   sqlsmith    random SQL (Debian's sqlsmith) as a role that may call every
#               inv_* function and read the views, against a database with
#               stock and holds.
# Then: no backend died by a signal (the server log, and the postmaster did
# not restart), and inv_verify() is clean in both databases.
#
# Prints "PASS name" or "FAIL name: details" per check.
#   FUZZ_SEED     seed of both (default 1; the second api_model process
#                 takes FUZZ_SEED + 1)
#   FUZZ_EXAMPLES, FUZZ_STEPS  sequences per api_model process and most
#                 calls per sequence (default 60 and 40)
#   FUZZ_QUERIES  queries sqlsmith sends (default 3000)
# A longer run by hand: FUZZ_EXAMPLES=2000 FUZZ_QUERIES=100000 and a seed of
# your own, on a cluster started with scripts/lib.sh's inv_start.

source "$(dirname "$0")/lib.sh"

SEED=${FUZZ_SEED:-1}
EXAMPLES=${FUZZ_EXAMPLES:-60}
STEPS=${FUZZ_STEPS:-40}
QUERIES=${FUZZ_QUERIES:-3000}
API_DB=inventory_fuzz
SMITH_DB=inventory_smith
work=$INV_TMP/fuzz
failures=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

inv_packages sqlsmith python3-hypothesis python3-psycopg
rm -rf "$work"
mkdir -p "$work"
log_start=$(stat -c %s "$INV_TMP/server.log")
started=$(q -d postgres -c "SELECT pg_postmaster_start_time()")

# --- the API, against its model --------------------------------------------
# No sweeper in this database: a hold expires when a step says so.
q -d postgres -c "DROP DATABASE IF EXISTS $API_DB" -c "CREATE DATABASE $API_DB" \
	-c "ALTER DATABASE $API_DB SET inventory.sweeper = off"
q -d "$API_DB" -c "CREATE EXTENSION inventory"
pids=()
for i in 0 1; do
	PGDATABASE=$API_DB FUZZ_PREFIX="F$i-" FUZZ_SEED=$((SEED + i)) FUZZ_EXAMPLES=$EXAMPLES \
		FUZZ_STEPS=$STEPS /usr/bin/python3 "$INV_ROOT/test/fuzz/api_model.py" \
		>"$work/api_model.$i.log" 2>&1 &
	pids+=($!)
done
for i in 0 1; do
	wait "${pids[$i]}" || true
	grep -E '^# ' "$work/api_model.$i.log" || true
	if grep -qE '^(PASS|FAIL) ' "$work/api_model.$i.log"; then
		grep -E '^(PASS|FAIL) ' "$work/api_model.$i.log"
		grep -qE '^FAIL ' "$work/api_model.$i.log" && { sed -n '/Falsifying example/,/^$/p' "$work/api_model.$i.log"; failures=$((failures + 1)); }
	else
		fail "api_model (F$i-)" "no result: $(tail -3 "$work/api_model.$i.log" | paste -sd';' -)"
	fi
done

# --- random SQL -------------------------------------------------------------
q -d postgres -c "DROP DATABASE IF EXISTS $SMITH_DB" -c "CREATE DATABASE $SMITH_DB" \
	-c "ALTER DATABASE $SMITH_DB SET track_functions = 'all'" \
	-c "DROP ROLE IF EXISTS inventory_fuzzer" -c "CREATE ROLE inventory_fuzzer LOGIN"
q -d "$SMITH_DB" >/dev/null <<SQL
CREATE EXTENSION inventory;
SELECT inv_set_stock('S' || g, 20) FROM generate_series(1, 30) g;
SELECT inv_reserve('S' || g, 2, '10 minutes') FROM generate_series(1, 10) g;
SELECT inv_commit(inv_reserve('S' || g, 1)) FROM generate_series(1, 5) g;
SELECT inv_release(inv_reserve_cart('[{"sku": "S1", "qty": 1}, {"sku": "S2", "qty": 1}]'));
SELECT inv_outbox_subscribe('smith-relay', 0);
-- every function of the API and every view: the widest a granted role gets
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO inventory_fuzzer;
GRANT USAGE ON SCHEMA inventory TO inventory_fuzzer;
GRANT SELECT ON inventory.stock_levels, inventory.stats, inventory.outbox_consumers,
	inventory.reservation_line TO inventory_fuzzer;
SQL
sleep 0.6	# (the set-up's own calls reach the statistics, to be reset)
q -d "$SMITH_DB" -c "SELECT pg_stat_reset()" >/dev/null
smith_rc=0
sqlsmith --target="host=$PGHOST port=$PGPORT dbname=$SMITH_DB user=inventory_fuzzer" \
	--seed="$SEED" --max-queries="$QUERIES" --exclude-catalog --verbose \
	>"$work/sqlsmith.log" 2>&1 || smith_rc=$?
echo "# sqlsmith: $QUERIES queries, seed $SEED, exit $smith_rc; its most frequent errors:"
grep -E '^[0-9]+\s+' "$work/sqlsmith.log" | head -5 | sed 's/^/#   /' || true
sleep 0.6	# backends report function counts when idle, at most twice a second
echo "# calls of the API it made: $(q -d "$SMITH_DB" -c "
	SELECT coalesce(string_agg(funcname || ' ' || calls, ', ' ORDER BY funcname), 'none')
	  FROM pg_stat_user_functions WHERE funcname LIKE 'inv\_%'")"
if [ "$smith_rc" -eq 0 ]; then
	pass "sqlsmith_ran"
else
	fail "sqlsmith_ran" "exit $smith_rc: $(tail -3 "$work/sqlsmith.log" | paste -sd';' -)"
fi

# --- what must hold after both ----------------------------------------------
died=$(tail -c +"$((log_start + 1))" "$INV_TMP/server.log" | grep -E 'terminated by signal|was terminated|TRAP:|server process .* exited with exit code [^0]' | head -3 || true)
if [ -z "$died" ] && [ "$(q -d postgres -c "SELECT pg_postmaster_start_time()")" = "$started" ]; then
	pass "no_backend_died"
else
	fail "no_backend_died" "${died:-the postmaster restarted}"
fi
for db in "$API_DB" "$SMITH_DB"; do
	problems=$(q -d "$db" -c "SELECT sku || ': ' || problem FROM inv_verify()" 2>&1 | head -3 | paste -sd';' - || true)
	if [ -z "$problems" ]; then
		pass "inv_verify_clean ($db)"
	else
		fail "inv_verify_clean ($db)" "$problems"
	fi
done
q -d postgres -c "DROP DATABASE $SMITH_DB" -c "DROP ROLE inventory_fuzzer" >/dev/null 2>&1 || true

[ "$failures" -eq 0 ]
