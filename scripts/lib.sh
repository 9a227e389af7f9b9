# scripts/lib.sh: what make demo, make test and make bench share.
#
# Installs the Debian packages the project needs, builds and installs the
# extension, and runs a throwaway PostgreSQL cluster on a unix socket in a
# folder of the checkout (tmp/), as the postgres OS user when we are root,
# since PostgreSQL refuses to run as root.  Clients run as the invoking
# user and connect as the database superuser "postgres" over the socket.
#
# Source it; set INV_TMP to use another folder (one cluster per folder).

set -euo pipefail

INV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INV_TMP=${INV_TMP:-$INV_ROOT/tmp}
INV_PORT=${INV_PORT:-54329}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
# build against 15 even where other server-dev versions are installed
export PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
INV_PACKAGES=${INV_PACKAGES:-"postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap libipc-run-perl make gcc"}

inv_log() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install whatever Debian package of $INV_PACKAGES (and $*) is missing.
inv_packages() {
	local missing=() p
	for p in $INV_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	inv_log "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

inv_build() {
	inv_log "building and installing the extension"
	make -C "$INV_ROOT" -s PG_CONFIG="$PG_CONFIG"
	# PG_CONFIG on the command line: sudo drops the environment
	as_root make -C "$INV_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# The user that runs the server: postgres when we are root.
inv_server_user() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_server() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

inv_stop() {
	if [ -f "$INV_TMP/data/postmaster.pid" ]; then
		as_server "$PG_BINDIR/pg_ctl" -D "$INV_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	# only a socket folder this process made (never one inherited)
	if [ -n "${inv_sock_made:-}" ]; then
		rm -rf "$inv_sock_made"
		inv_sock_made=
	fi
}

# Start a fresh cluster; each argument is one more postgresql.conf line
# ("name = value").  The library is preloaded unless INV_PRELOAD is set
# empty.
inv_start() {
	inv_stop
	rm -rf "$INV_TMP"
	mkdir -p "$INV_TMP"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$INV_TMP"
		# the server needs to reach its folder; a checkout under /root is closed
		if ! runuser -u postgres -- test -w "$INV_TMP"; then
			INV_TMP=$(mktemp -d /tmp/inventory.XXXXXX)
			chown postgres: "$INV_TMP"
			inv_log "checkout not reachable by postgres; cluster in $INV_TMP"
		fi
	fi
	# a unix socket path may not exceed 107 bytes: a deep checkout puts the
	# socket in a short private folder instead
	INV_SOCK=$INV_TMP
	if [ $(( ${#INV_TMP} + ${#INV_PORT} + 10 )) -gt 100 ]; then
		INV_SOCK=$(mktemp -d /tmp/inv-sock.XXXXXX)
		inv_sock_made=$INV_SOCK
		[ "$(id -u)" -eq 0 ] && chown postgres: "$INV_SOCK"
		inv_log "checkout path too long for a socket; socket in $INV_SOCK"
	fi
	as_server "$PG_BINDIR/initdb" -D "$INV_TMP/data" -U postgres --auth=trust \
		--no-instructions -E UTF8 --locale=C.UTF-8 >"$INV_TMP/initdb.log" 2>&1 \
		|| { cat "$INV_TMP/initdb.log" >&2; return 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$INV_SOCK'"
		echo "port = $INV_PORT"
		[ -z "${INV_PRELOAD-inventory}" ] || echo "shared_preload_libraries = '${INV_PRELOAD-inventory}'"
		echo "max_connections = 300"
		echo "max_prepared_transactions = 10"
		echo "logging_collector = off"
		local s
		for s in "$@"; do echo "$s"; done
	} | as_server tee -a "$INV_TMP/data/postgresql.conf" >/dev/null
	as_server "$PG_BINDIR/pg_ctl" -D "$INV_TMP/data" -l "$INV_TMP/server.log" -w start >/dev/null \
		|| { cat "$INV_TMP/server.log" >&2; return 1; }
	export INV_TMP INV_SOCK
	export PGHOST=$INV_SOCK PGPORT=$INV_PORT PGUSER=postgres PGDATABASE=postgres
	inv_log "cluster up: PGHOST=$PGHOST PGPORT=$PGPORT"
}

inv_psql() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}
