#!/usr/bin/env bash
# scripts/dump_restore.sh: pg_dump must carry the extension's rows (they are
# the user's data, registered with pg_extension_config_dump), and a restored
# database must go on where the old one stopped.
#
# Uses the cluster in PGHOST/PGPORT/PGUSER; prints "PASS name" or
# "FAIL name: details" per check, exits non-zero on any FAIL.

source "$(dirname "$0")/lib.sh"

src=inventory_dump_src
dst=inventory_dump_dst
failures=0

check() {
	local name=$1 db=$2 sql=$3 got
	got=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$sql" 2>&1) || true
	if [ "$got" = t ]; then
		echo "PASS $name"
	else
		echo "FAIL $name: $got"
		failures=$((failures + 1))
	fi
}

# every row of every table of the extension, in one value
fingerprint() {
	psql -X -A -t -v ON_ERROR_STOP=1 -d "$1" -c "
		SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
			SELECT 's' || t::text AS x FROM inventory.stock t UNION ALL
			SELECT 'r' || t::text FROM inventory.reservation t UNION ALL
			SELECT 'l' || t::text FROM inventory.reservation_line t UNION ALL
			SELECT 'o' || t::text FROM inventory.outbox t UNION ALL
			SELECT 'a' || t::text FROM inventory.adjustment t UNION ALL
			SELECT 'c' || t::text FROM inventory.outbox_consumer t UNION ALL
			SELECT 'p' || t::text FROM inventory.purged_sales t UNION ALL
			SELECT 'q' || t::text FROM inventory.purge_state t UNION ALL
			SELECT 'k' || t::text FROM inventory.sku_limit t) rows"
}

for db in $src $dst; do
	inv_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
inv_psql -d $src <<'SQL'
CREATE EXTENSION inventory;
SELECT inv_set_stock('DMP-A', 10), inv_set_stock('DMP-B', 5);
SELECT inv_reserve('DMP-A', 2, idempotency_key => 'dump-held');
SELECT inv_commit(inv_reserve_cart('[{"sku": "DMP-A", "qty": 1}, {"sku": "DMP-B", "qty": 1}]'));
SELECT inv_release(inv_reserve('DMP-B', 1), 'card declined');
SELECT inv_reserve('DMP-B', 2, ttl => '100 milliseconds');
SELECT pg_sleep(0.2), inv_sweep();
SELECT inv_adjust('DMP-A', 4, 'delivery');
-- a relay that has acknowledged part of the outbox
SELECT inv_outbox_subscribe('dump-relay', 0);
SELECT inv_outbox_ack('dump-relay', 3);
-- a SKU's own limit per owner, and an owner's hold under it
SELECT inv_set_sku_limit('DMP-A', 3, '7 days');
SELECT inv_reserve('DMP-A', 2, owner => 'dump-owner');
-- retention's notes, as a purge leaves them
INSERT INTO inventory.purged_sales VALUES ('DMP-A', 0);
INSERT INTO inventory.purge_state (events_before) VALUES ('-infinity');
-- a grant of the shop's own, which the dump must carry
GRANT EXECUTE ON FUNCTION inv_stock(text) TO pg_monitor;
SQL

pg_dump -d $src >"$INV_TMP/dump.sql"
psql -X -q -v ON_ERROR_STOP=1 -d $dst -f "$INV_TMP/dump.sql" >/dev/null

# the extension's objects change owner in its script, and pg_init_privs
# follows (sql/inventory--0.3.0--0.4.0.sql): the dump has only the shop's
# own grant, no REVOKE from the superuser that installed the extension
acl=$(grep -E '^(GRANT|REVOKE) ' "$INV_TMP/dump.sql" || true)
if [ "$acl" = "GRANT ALL ON FUNCTION public.inv_stock(sku text) TO pg_monitor;" ]; then
	echo "PASS dump_has_only_the_shops_grants"
else
	echo "FAIL dump_has_only_the_shops_grants: $acl"
	failures=$((failures + 1))
fi
check restored_objects_belong_to_inventory_owner $dst "
	SELECT NOT EXISTS (SELECT FROM pg_class
						WHERE relnamespace = 'inventory'::regnamespace
						  AND relowner <> 'inventory_owner'::regrole)
	   AND NOT EXISTS (SELECT FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
						WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
						  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
						  AND p.proowner <> 'inventory_owner'::regrole)"
check restored_grant_of_the_shop $dst "
	SELECT has_function_privilege('pg_monitor', 'inv_stock(text)', 'EXECUTE')
	   AND NOT has_function_privilege('public', 'inv_stock(text)', 'EXECUTE')"

if [ "$(fingerprint $src)" = "$(fingerprint $dst)" ]; then
	echo "PASS dump_keeps_every_row"
else
	echo "FAIL dump_keeps_every_row: tables differ after restore"
	failures=$((failures + 1))
fi
check restored_invariants_hold $dst "SELECT NOT EXISTS (SELECT FROM inv_verify())"
check restored_key_replays $dst "
	SELECT inv_reserve('DMP-A', 2, idempotency_key => 'dump-held')
	     = (SELECT id FROM inventory.reservation WHERE idempotency_key = 'dump-held')"
# identity sequences restored: the next event and ledger row go on after
# the last ones (a reset sequence would collide with the UNIQUE seq)
check restored_sequences_go_on $dst "
	SELECT (SELECT last_value FROM inventory.outbox_seq_seq)
	       >= (SELECT max(seq) FROM inventory.outbox)
	   AND (SELECT last_value FROM inventory.adjustment_id_seq)
	       >= (SELECT max(id) FROM inventory.adjustment)"
check restored_relay_goes_on $dst "
	SELECT (SELECT min(seq) FROM inv_outbox_next('dump-relay')) = 4
	   AND inv_outbox_ack('dump-relay', (SELECT max(seq) FROM inventory.outbox))
	       = (SELECT max(seq) FROM inventory.outbox)"
# the SKU's limit came back and applies, to the owner's hold that came back
if inv_psql -d $dst -c "DO \$\$ BEGIN
		PERFORM inv_reserve('DMP-A', 2, owner => 'dump-owner');
		RAISE EXCEPTION 'a reserve past the SKU''s limit was not refused';
	EXCEPTION WHEN SQLSTATE 'IV007' THEN NULL; END \$\$" >/dev/null; then
	echo "PASS restored_sku_limit_applies"
else
	echo "FAIL restored_sku_limit_applies"
	failures=$((failures + 1))
fi
check restored_database_takes_holds $dst "
	SELECT inv_commit(inv_reserve('DMP-A', 1)) AND inv_adjust('DMP-B', 1) = 5"
check restored_database_stays_consistent $dst "
	SELECT NOT EXISTS (SELECT FROM inv_verify())"

exit $((failures > 0))
