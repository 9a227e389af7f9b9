#!/usr/bin/env bash
# make test: build, start a throwaway cluster, run every suite, and end
# with "N passed, M failed" (non-zero exit on any failure).
#
#   pg_regress   sql/*.sql vs expected/*.out      one test per file
#   isolation    specs/*.spec vs expected/*.out   one test per spec
#   nopreload    both again, on a cluster without shared_preload_libraries
#   pgTAP        test/*.sql                       one test per assertion
#   TAP          t/*.pl (clusters of their own)   one test per assertion
#   dump         scripts/dump_restore.sh          one test per check
#   stress       scripts/stress.sh                one test per invariant
#   clients      scripts/clients.sh               one test per check
#   broker       scripts/broker.sh                one test per check
#   fuzz         scripts/fuzz.sh                  one test per check
#   docs         scripts/doc_examples.py          one test per page
#   demo         scripts/demo.sh (make demo)      one test
#
# SUITES="regress isolation nopreload pgtap tap dump stress clients broker fuzz docs demo" picks suites (default:
# all); TAP_ONLY=002 runs the TAP files whose names start so.

source "$(dirname "$0")/lib.sh"

SUITES=${SUITES:-"regress isolation nopreload pgtap tap dump stress clients broker fuzz docs demo"}
passed=0
failed=0
failures=()

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); failures+=("$1"); }

# Count pg_regress / pg_isolation_regress result lines of a log.
count_regress() {
	local log=$1 kind=$2 line name
	while IFS= read -r line; do
		name=$(sed -E 's/^(test |     )?[[:space:]]*([^ ]+) +\.\.\. .*/\2/' <<<"$line")
		if grep -qE '\.\.\. ok' <<<"$line"; then pass; else fail "$kind $name"; fi
	done < <(grep -E '^(test |     )?[[:space:]]*[^ ]+ +\.\.\. (ok|FAILED|failed)' "$log")
}

# One PGXS suite: make target, kind, and the folder of its regression.diffs.
run_pgxs_suite() {
	local target=$1 kind=$2 diffs=$3/regression.diffs log=$INV_TMP/$2.log
	inv_log "$kind"
	make -C "$INV_ROOT" -s "$target" >"$log" 2>&1 || true
	cat "$log"
	count_regress "$log" "$kind"
	if [ -s "$diffs" ]; then head -200 "$diffs"; fi
	grep -qE '\.\.\. ' "$log" || fail "$kind (no test ran)"
}

run_regress() { run_pgxs_suite installcheck-regress regress "$INV_ROOT"; }
run_isolation() { run_pgxs_suite installcheck-isolation isolation "$INV_ROOT/output_iso"; }

# The regression and isolation suites again, on a second cluster without
# shared_preload_libraries: README's other way to install.  Their outputs
# go to tmp/, so they never mix with the main run's.
run_nopreload() {
	local dir=$INV_TMP/nopreload kind
	inv_log "without shared_preload_libraries"
	mkdir -p "$dir"
	[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
	(
		INV_TMP=$dir/cluster INV_PORT=$((INV_PORT + 2)) INV_PRELOAD='' inv_start "fsync = off" >/dev/null 2>&1 ||
			{ echo "nopreload: the cluster did not start"; exit 0; }
		trap inv_stop EXIT
		make -C "$INV_ROOT" -s installcheck-regress \
			REGRESS_OPTS="--load-extension=inventory --outputdir=$dir/regress" >"$dir/regress.log" 2>&1 || true
		make -C "$INV_ROOT" -s installcheck-isolation \
			ISOLATION_OPTS="--load-extension=inventory --outputdir=$dir/isolation" >"$dir/isolation.log" 2>&1 || true
	)
	for kind in regress isolation; do
		if [ ! -e "$dir/$kind.log" ]; then
			fail "nopreload $kind (did not run)"
			continue
		fi
		cat "$dir/$kind.log"
		count_regress "$dir/$kind.log" "nopreload $kind"
		if [ -s "$dir/$kind/regression.diffs" ]; then head -200 "$dir/$kind/regression.diffs"; fi
		grep -qE '\.\.\. ' "$dir/$kind.log" || fail "nopreload $kind (no test ran)"
	done
}

# pgTAP: each file runs in a fresh database; every "ok"/"not ok" counts,
# and a file whose plan does not match what ran fails as a whole.
run_pgtap() {
	local f out planned ran ok notok
	inv_log "pgTAP"
	for f in "$INV_ROOT"/test/*.sql; do
		[ -e "$f" ] || continue
		if ! inv_psql -d postgres -c "DROP DATABASE IF EXISTS inventory_tap" \
			-c "CREATE DATABASE inventory_tap" ||
			! inv_psql -d inventory_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION inventory"; then
			fail "pgtap $(basename "$f"): could not prepare its database"
			continue
		fi
		out=$(psql -X -A -t -v ON_ERROR_STOP=1 -d inventory_tap -f "$f" 2>&1) || true
		echo "# $(basename "$f")"
		echo "$out" | grep -E '^(not )?ok |^1\.\.|^#|ERROR' || true
		ok=$(grep -cE '^ok ' <<<"$out" || true)
		notok=$(grep -cE '^not ok ' <<<"$out" || true)
		planned=$(sed -nE 's/^1\.\.([0-9]+)$/\1/p' <<<"$out" | head -1)
		ran=$((ok + notok))
		passed=$((passed + ok))
		failed=$((failed + notok))
		[ "$notok" -eq 0 ] || failures+=("pgtap $(basename "$f"): $notok not ok")
		if [ -z "$planned" ] || [ "$planned" -ne "$ran" ] || grep -q ERROR <<<"$out"; then
			fail "pgtap $(basename "$f"): planned ${planned:-?}, ran $ran"
		fi
	done
}

# TAP: scripts/tap.sh runs each t/*.pl (clusters of their own, with the
# sweepers preloaded; as the postgres OS user when we are root); every
# "ok"/"not ok" counts, and a file that dies or misses its plan fails.
run_tap() {
	local dir=$INV_TMP/tap f name out ok notok rc
	inv_log "TAP"
	rm -rf "$dir"
	TAP_DIR=$dir PG_CONFIG=$PG_CONFIG INV_REQUIRE_MONITORING=1 \
		"$INV_ROOT/scripts/tap.sh" >"$INV_TMP/tap.log" 2>&1 || true
	grep -E '^(not )?ok |^#|^Result' "$INV_TMP/tap.log" || true
	for f in "$dir"/*.rc; do
		[ -e "$f" ] || { fail "tap (no test ran)"; cat "$INV_TMP/tap.log"; return; }
		name=$(basename "$f" .rc)
		out=$(cat "$dir/$name.out")
		rc=$(cat "$f")
		ok=$(grep -cE '^ok [0-9]' <<<"$out" || true)
		notok=$(grep -cE '^not ok [0-9]' <<<"$out" || true)
		passed=$((passed + ok))
		failed=$((failed + notok))
		[ "$notok" -eq 0 ] || failures+=("tap $name.pl: $notok not ok")
		if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
			fail "tap $name.pl: died (exit $rc)"
		fi
		if [ "$rc" -ne 0 ]; then
			tail -30 "$dir"/tmp_check/log/regress_log_"$name" 2>/dev/null || true
			tail -30 "$dir"/tmp_check/log/"$name"_*.log 2>/dev/null || true
		fi
	done
}

# A script that prints "PASS name" / "FAIL name: details" per check.
run_checks() {
	local kind=$1 script=$2 log=$INV_TMP/$1.log line
	inv_log "$kind"
	"$script" >"$log" 2>&1 || true
	cat "$log"
	while IFS= read -r line; do
		case "$line" in
			PASS\ *) pass ;;
			FAIL\ *) fail "$kind ${line#FAIL }" ;;
		esac
	done <"$log"
	grep -qE '^(PASS|FAIL) ' "$log" || fail "$kind (no check ran)"
}

run_stress() { run_checks stress "$INV_ROOT/scripts/stress.sh"; }
# the example services of examples/, through pgbouncer (transaction pooling)
run_clients() { run_checks clients "$INV_ROOT/scripts/clients.sh"; }
# the outbox relay of examples/relay into RabbitMQ, with kills and a broker restart
run_broker() { run_checks broker "$INV_ROOT/scripts/broker.sh"; }
# random API sequences against a model (Hypothesis), and sqlsmith
run_fuzz() { run_checks fuzz "$INV_ROOT/scripts/fuzz.sh"; }

# every sql example of README.md and doc/*.md, run as shown, output compared
docs_check() {
	inv_packages python3 >/dev/null
	PSQL="$PG_BINDIR/psql" /usr/bin/python3 "$INV_ROOT/scripts/doc_examples.py" \
		"$INV_ROOT/README.md" "$INV_ROOT"/doc/*.md
}
run_docs() { run_checks docs docs_check; }

# make demo, the README's other command, on a cluster of its own
run_demo() {
	local log=$INV_TMP/demo.log
	inv_log "demo"
	if INV_TMP=$INV_TMP/demo INV_PORT=$((INV_PORT + 1)) "$INV_ROOT/scripts/demo.sh" >"$log" 2>&1 &&
		grep -q '^Sold exactly 100, oversold 0, inv_verify() clean' "$log"; then
		tail -3 "$log"
		pass
	else
		tail -40 "$log"
		fail "demo"
	fi
}
run_dump() { run_checks dump "$INV_ROOT/scripts/dump_restore.sh"; }

summary() {
	echo
	if [ ${#failures[@]} -gt 0 ]; then
		echo "Failures:"
		printf '  %s\n' "${failures[@]}"
	fi
	echo "$passed passed, $failed failed"
}

# a set-up that fails still ends with the summary line
setup_failed() { fail "set-up: $1"; summary; exit 1; }
# pg_cron for t/004; the exporter and promtool for t/008 (the monitoring kit)
inv_packages postgresql-15-cron prometheus-postgres-exporter prometheus \
	|| setup_failed "installing packages"
inv_build || setup_failed "building the extension"
# durability is not under test here: fsync off keeps the suite fast.  The
# cluster is set up as README tells a DBA to (the library preloaded, the
# sweepers on), so the regression and isolation suites run as make
# installcheck does on such a server: they turn the sweeper off in their
# own databases, to decide when holds expire.
inv_start "fsync = off" || setup_failed "starting the cluster"
trap inv_stop EXIT
rm -rf "$INV_ROOT/results" "$INV_ROOT/output_iso" "$INV_ROOT/regression.diffs" "$INV_ROOT/regression.out"

for suite in $SUITES; do
	"run_$suite"
done

summary
[ "$failed" -eq 0 ]
