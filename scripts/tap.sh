#!/usr/bin/env bash
# The TAP suite, t/*.pl: each file starts clusters of its own with
# PostgreSQL::Test::Cluster, from the installed server's binaries, with the
# library preloaded.  make installcheck and make test both run it here.
#
# initdb refuses to run as root, so as root the files run as the postgres
# OS user, from a copy of t/ and test/ in a folder that user owns (TAP_DIR,
# default a new folder under /tmp).  Each file's output goes to
# TAP_DIR/NAME.out and its exit code to TAP_DIR/NAME.rc; the outputs are
# printed too.  Exits non-zero when a file failed.
#
# TAP_ONLY=002 runs the files whose names start so.  Needs prove and the
# Perl module IPC::Run (Debian: libipc-run-perl), and pg_cron for t/004
# (postgresql-15-cron); t/008 runs when prometheus-postgres-exporter and
# promtool (prometheus) are installed, and fails without them when
# INV_REQUIRE_MONITORING is set (make test sets it).

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
bindir=$("$PG_CONFIG" --bindir)
pgxs_dir=$(dirname "$("$PG_CONFIG" --pgxs)")/..
perl_lib=$pgxs_dir/test/perl
# Cluster->init runs pg_regress --config-auth
pg_regress=$pgxs_dir/test/regress/pg_regress

for need in "$perl_lib/PostgreSQL/Test/Cluster.pm" "$pg_regress"; do
	if [ ! -e "$need" ]; then
		echo "tap.sh: $need is missing: install the server's development files (Debian: postgresql-server-dev-15)" >&2
		exit 2
	fi
done
if ! command -v prove >/dev/null || ! perl -MIPC::Run -e 1 2>/dev/null; then
	echo "tap.sh: the TAP tests need prove and the Perl module IPC::Run (Debian: libipc-run-perl)" >&2
	exit 2
fi

dir=${TAP_DIR:-$(mktemp -d /tmp/inventory-tap.XXXXXX)}
mkdir -p "$dir"
rm -rf "$dir/t" "$dir/test" "$dir/monitoring" "$dir/tmp_check"
# t/006 loads test/pgbench/harness.sql, as the stress suite does; t/008
# the monitoring kit
cp -r "$root/t" "$root/test" "$root/monitoring" "$dir/"
run_as=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$dir"
	run_as=(runuser -u postgres --)
	echo "# running as root: the TAP tests run as the postgres OS user, in $dir"
fi

status=0
for f in "$dir"/t/${TAP_ONLY:-}*.pl; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .pl)
	rc=0
	(cd "$dir" && "${run_as[@]}" env PATH="$bindir:$PATH" TESTDIR="$dir" \
		PG_REGRESS="$pg_regress" INV_REQUIRE_MONITORING="${INV_REQUIRE_MONITORING:-}" \
		prove -v -I "$perl_lib" "t/$name.pl") >"$dir/$name.out" 2>&1 || rc=$?
	echo "$rc" >"$dir/$name.rc"
	echo "# $name.pl"
	cat "$dir/$name.out"
	if [ "$rc" -ne 0 ]; then
		status=1
		tail -30 "$dir/tmp_check/log/regress_log_$name" 2>/dev/null || true
		tail -30 "$dir/tmp_check/log/${name}"_*.log 2>/dev/null || true
	fi
done
echo "# TAP outputs in $dir"
exit $status
