--
-- upgrade: every version walks to the current one with its data intact.
-- A fresh CREATE EXTENSION takes the same path (0.1.0, then each update
-- script); this checks an install made by an older release, with data.
-- Runs last: it drops and re-creates the extension.
--

SELECT version, installed FROM
  (SELECT e.version, e.version = x.extversion AS installed
     FROM pg_available_extension_versions e
     LEFT JOIN pg_extension x ON x.extname = e.name
    WHERE e.name = 'inventory') v
 ORDER BY version;
SELECT * FROM pg_extension_update_paths('inventory') WHERE path IS NOT NULL ORDER BY 1, 2;

DROP EXTENSION inventory CASCADE;
CREATE EXTENSION inventory VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'inventory';

-- 0.1.0 with today's library: a call needs today's tables, and says what
-- to do (and writes nothing)
SELECT inv_set_stock('UPG-A', 10);
SELECT inv_reserve('UPG-A', 1);
SELECT inv_reserve_cart('[{"sku": "UPG-A", "qty": 1}]');
SELECT count(*) AS nothing_written FROM inventory.stock;

-- the SKU, as the 0.1.0 library made it: row, ledger row and event
WITH s AS (
	INSERT INTO inventory.stock (sku, on_hand, updated_at) VALUES ('UPG-A', 10, now())
	RETURNING sku, on_hand, reserved, version),
a AS (
	INSERT INTO inventory.adjustment (sku, delta, on_hand, created_at)
	SELECT sku, on_hand, on_hand, now() FROM s)
INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)
SELECT now(), 'stock', sku, 'stock.adjusted',
	   jsonb_build_object('sku', sku, 'delta', on_hand, 'on_hand', on_hand,
						  'reserved', reserved, 'version', version)
  FROM s;

-- data that will be upgraded, as the 0.1.0 library wrote it: a hold
-- committed and one in force, each with its line and events
CREATE FUNCTION pg_temp.old_hold(p_state text, p_qty bigint, p_key text)
RETURNS uuid LANGUAGE sql AS $$
	WITH h AS (
		INSERT INTO inventory.reservation (idempotency_key, state, created_at, expires_at, finished_at)
		VALUES (p_key, p_state, now(), now() + interval '10 minutes',
				CASE WHEN p_state <> 'held' THEN now() END)
		RETURNING id),
	l AS (
		INSERT INTO inventory.reservation_line (reservation_id, sku, qty)
		SELECT id, 'UPG-A', p_qty FROM h),
	e AS (
		INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)
		SELECT now(), 'reservation', h.id::text, t.type,
			   jsonb_build_object('reservation_id', h.id, 'lines',
								  jsonb_build_array(jsonb_build_object('sku', 'UPG-A', 'qty', p_qty)))
		  FROM h, (VALUES (1, 'reservation.held'), (2, 'reservation.' || p_state)) AS t(n, type)
		 WHERE t.n = 1 OR p_state <> 'held'
		 ORDER BY t.n),
	s AS (
		UPDATE inventory.stock
		   SET on_hand = on_hand - CASE WHEN p_state = 'committed' THEN p_qty ELSE 0 END,
			   reserved = reserved + CASE WHEN p_state = 'held' THEN p_qty ELSE 0 END,
			   version = version + 1
		 WHERE sku = 'UPG-A')
	SELECT id FROM h
$$;
-- who owns the extension's objects: up to 0.3.0 the superuser that
-- created it; from 0.4.0 the role inventory_owner
CREATE FUNCTION pg_temp.owners()
RETURNS TABLE (kind text, superuser boolean, owner_role boolean, objects bigint)
LANGUAGE sql AS $$
	SELECT CASE WHEN d.classid = 'pg_proc'::regclass THEN 'function'
				ELSE (SELECT c.relkind::text FROM pg_class c WHERE c.oid = d.objid) END,
		   r.rolsuper, r.rolname = 'inventory_owner', count(*)
	  FROM pg_depend d
	  JOIN pg_roles r ON r.oid = CASE WHEN d.classid = 'pg_proc'::regclass
									  THEN (SELECT p.proowner FROM pg_proc p WHERE p.oid = d.objid)
									  ELSE (SELECT c.relowner FROM pg_class c WHERE c.oid = d.objid) END
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
	   AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
	 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;
SELECT * FROM pg_temp.owners();

SELECT pg_temp.old_hold('committed', 2, NULL) IS NOT NULL AS committed;
SELECT pg_temp.old_hold('held', 3, NULL) IS NOT NULL AS held;
SELECT count(*) AS events_before FROM inventory.outbox;

ALTER EXTENSION inventory UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'inventory';

-- the data is intact and the new parts work with it
SELECT sku, on_hand, reserved, available FROM inventory.stock_levels WHERE sku = 'UPG-A';
SELECT * FROM inv_verify();
SELECT inv_outbox_subscribe('upgrade-relay', 0);
SELECT type FROM inv_outbox_next('upgrade-relay') ORDER BY seq;
-- (the counters are NULL when the library is not preloaded)
SELECT coalesce(reserves >= 1,
                current_setting('shared_preload_libraries') NOT LIKE '%inventory%') AS counted
  FROM inventory.stats;

-- 0.2.0 -> 0.3.0 with live data: a hold in force with a key, one without
-- (written as the 0.2.0 library wrote them), and events the relay has not
-- acknowledged yet
SELECT inv_outbox_ack('upgrade-relay', max(seq)) > 0 AS acked FROM inventory.outbox;
SELECT inv_reserve('UPG-A', 1) AS still_too_old;
SELECT pg_temp.old_hold('held', 1, 'upg-key') IS NOT NULL AS keyed;
SELECT pg_temp.old_hold('held', 1, NULL) IS NOT NULL AS unkeyed;
SELECT count(*) AS unacked_before FROM inventory.outbox
 WHERE seq > (SELECT acked_seq FROM inventory.outbox_consumer WHERE consumer = 'upgrade-relay');

ALTER EXTENSION inventory UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'inventory';

-- the data is intact and every path works on it
SELECT sku, on_hand, reserved, available FROM inventory.stock_levels WHERE sku = 'UPG-A';
SELECT * FROM inv_verify();
SELECT type FROM inv_outbox_next('upgrade-relay') ORDER BY seq;
-- and every event written before the update has the payload of 0.3.0
SELECT type, array_agg(DISTINCT k ORDER BY k) AS payload_keys
  FROM inventory.outbox LEFT JOIN jsonb_object_keys(payload) k ON true
 GROUP BY type ORDER BY type;
SELECT inv_commit(id) AS committed FROM inventory.reservation WHERE idempotency_key = 'upg-key';
SELECT inv_reserve('UPG-A', 1, ttl => '10 minutes', idempotency_key => 'upg-key') = id AS replayed
  FROM inventory.reservation WHERE idempotency_key = 'upg-key';
SELECT inv_release(id) AS released FROM inventory.reservation
 WHERE idempotency_key IS NULL AND state = 'held';
SELECT inv_adjust('UPG-A', 2, 'received after the upgrade') AS on_hand;
SELECT sku, on_hand, reserved, available FROM inventory.stock_levels WHERE sku = 'UPG-A';
SELECT sku, available FROM inventory.stock WHERE sku = 'UPG-A';
SELECT * FROM inv_verify();

-- 0.3.0 -> 0.4.0 with live data: an owner's hold in force and one it
-- bought, taken by today's library on the 0.3.0 tables, which serve holds
-- with an owner as long as no limit needs counting them
SELECT inv_reserve('UPG-A', 2, owner => 'upg-owner') IS NOT NULL AS held_by_owner;
SELECT inv_commit(inv_reserve('UPG-A', 1, owner => 'upg-owner')) AS bought_by_owner;
SELECT inv_extend(id, '5 minutes') IS NOT NULL AS extended
  FROM inventory.reservation WHERE owner = 'upg-owner' AND state = 'held';
-- a limit set before the update needs the new tables, says so, writes nothing
SET inventory.max_units_per_owner = 3;
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve('UPG-A', 1, owner => 'upg-owner');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;

SELECT * FROM pg_temp.owners();

-- the update hands the objects to inventory_owner only if that role can do
-- nothing more than own them: one that can log in is refused, and the
-- extension stays at 0.3.0
\set SHOW_CONTEXT never
BEGIN;
ALTER ROLE inventory_owner LOGIN;
ALTER EXTENSION inventory UPDATE TO '0.4.0';
ROLLBACK;
\set SHOW_CONTEXT errors
SELECT extversion FROM pg_extension WHERE extname = 'inventory';

ALTER EXTENSION inventory UPDATE TO '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'inventory';

-- every table, sequence, view and function now belongs to inventory_owner
-- (the calls below run as it), and none to a superuser
SELECT * FROM pg_temp.owners();

-- the owner's index is there, and the limit counts what the owner held
-- and bought before the update: 2 + 1 of 3
SELECT indexdef FROM pg_indexes WHERE indexname = 'reservation_owner_idx';
SELECT code, message FROM test_error($$SELECT inv_reserve('UPG-A', 1, owner => 'upg-owner')$$);
SELECT inv_set_sku_limit('UPG-A', 4);
SELECT inv_reserve('UPG-A', 1, owner => 'upg-owner') IS NOT NULL AS within_the_skus_limit;
SELECT code, message FROM test_error($$SELECT inv_reserve('UPG-A', 1, owner => 'upg-owner')$$);
RESET inventory.max_units_per_owner;
SELECT sku, on_hand, reserved, available FROM inventory.stock_levels WHERE sku = 'UPG-A';
SELECT * FROM inv_verify();
SELECT inv_outbox_unsubscribe('upgrade-relay');

-- back to a fresh install for whatever runs after
DROP EXTENSION inventory CASCADE;
CREATE EXTENSION inventory;
SELECT extversion FROM pg_extension WHERE extname = 'inventory';
SELECT * FROM pg_temp.owners();
