--
-- tables_schema: a database that already has a schema named "inventory"
-- (the shop's own) installs the extension with its tables in a schema of
-- its choosing, and everything works there: in this session, which used
-- the default install a moment before, and in a new one.
-- Runs after upgrade: it drops and re-creates the extension.
--

-- plans of a default install, kept by this session
SELECT inv_set_stock('TS-DEFAULT', 1);
SELECT inv_reserve('TS-DEFAULT', 1) IS NOT NULL AS reserved;

DROP EXTENSION inventory CASCADE;

-- the shop's own schema, with a table of a name the extension uses too
CREATE SCHEMA inventory;
CREATE TABLE inventory.stock (item text PRIMARY KEY, shelf integer);
INSERT INTO inventory.stock VALUES ('shop-row', 7);

-- a plain CREATE EXTENSION would put the tables in public: refused, with
-- what to do, and nothing made
CREATE EXTENSION inventory;
SELECT code, message FROM test_error('CREATE EXTENSION inventory');
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'inventory';

-- in a schema of its own: functions and tables both there
CREATE SCHEMA shop_inventory;
CREATE EXTENSION inventory SCHEMA shop_inventory;
SELECT n.nspname, c.relkind, count(*)
  FROM pg_depend d
  JOIN pg_class c ON c.oid = d.objid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.classid = 'pg_class'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT DISTINCT n.nspname AS functions_in
  FROM pg_depend d
  JOIN pg_proc p ON p.oid = d.objid
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.classid = 'pg_proc'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory');
-- inv_verify names the tables with the schema, search_path pinned to
-- pg_catalog as for every function
SELECT proconfig, prosrc LIKE '%FROM shop_inventory.reservation r%' AS names_the_schema
  FROM pg_proc WHERE oid = 'shop_inventory.inv_verify()'::regprocedure;
SELECT count(*) AS schema_members
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.classid = 'pg_namespace'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory');

-- this session's statements find the new tables, and so does every path
-- of the C code: plans, direct reads (sold-out refusal, expiry floor),
-- limits, the relay, the sweep, retention
SET search_path = shop_inventory, public;
SELECT FROM inv_stats_reset();
SELECT inv_set_stock('TS-A', 10);
SELECT inv_set_stock('TS-B', 1);
SELECT inv_adjust('TS-A', 2);
SELECT inv_outbox_subscribe('ts-relay', 0) AS subscribed_at;
SELECT reservation_id IS NOT NULL AS held, status
  FROM inv_try_reserve_cart('[{"sku": "TS-A", "qty": 3}, {"sku": "TS-B", "qty": 1}]');
SELECT reservation_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "TS-B", "qty": 1}]');
SELECT code, message FROM test_error($$SELECT inv_reserve('TS-B', 1)$$);
SELECT inv_commit(r.id) FROM shop_inventory.reservation r WHERE r.state = 'held';
SELECT inv_reserve('TS-A', 2, idempotency_key => 'ts-key') = inv_reserve('TS-A', 2, idempotency_key => 'ts-key') AS idempotent;
SELECT inv_extend(r.id, '10 min') IS NOT NULL AS extended
  FROM shop_inventory.reservation r WHERE r.idempotency_key = 'ts-key';
SELECT inv_release(r.id) FROM shop_inventory.reservation r WHERE r.idempotency_key = 'ts-key';
SET inventory.max_units_per_owner = 1;
SELECT inv_reserve('TS-A', 1, owner => 'ts-owner') IS NOT NULL AS within_the_limit;
SELECT code FROM test_error($$SELECT inv_reserve('TS-A', 1, owner => 'ts-owner')$$);
SELECT inv_set_sku_limit('TS-A', 2);
SELECT inv_reserve('TS-A', 1, owner => 'ts-owner') IS NOT NULL AS within_the_skus_limit;
RESET inventory.max_units_per_owner;
SELECT inv_reserve('TS-A', 1, ttl => '1 ms') IS NOT NULL AS short_hold;
SELECT pg_sleep(0.01);
SELECT inv_sweep() >= 1 AS swept;
SELECT sku, on_hand, reserved, available FROM inv_stock('TS-A');
SELECT inv_available('TS-A'), inv_available('TS-B');
SELECT sku, on_hand, reserved, available, overdue FROM shop_inventory.stock_levels ORDER BY sku;
SELECT type, count(*) FROM inv_outbox_next('ts-relay', 100) GROUP BY type ORDER BY type;
SELECT inv_outbox_ack('ts-relay', max(seq)) FROM shop_inventory.outbox;
-- finished holds older than the retention (7 days) are purged, their
-- sales kept in purged_sales
UPDATE shop_inventory.reservation
   SET created_at = created_at - interval '8 days',
	   expires_at = expires_at - interval '8 days',
	   finished_at = finished_at - interval '8 days'
 WHERE state <> 'held';
SELECT inv_purge() AS purged;
SELECT sku, qty FROM shop_inventory.purged_sales ORDER BY sku;
-- the counters (in shared memory: NULL without shared_preload_libraries)
SELECT reserves IS NULL OR (reserves, commits, releases, expirations) = (5, 1, 1, 1)
	   AS counted
  FROM shop_inventory.stats;
SELECT * FROM inv_verify();

-- the shop's table is untouched; its schema is still the shop's
SELECT * FROM inventory.stock;

-- a new session finds the tables too
\c
SET search_path = shop_inventory, public;
SELECT sku, on_hand, reserved, available FROM inv_stock('TS-B');
SELECT * FROM inv_verify();

-- dropping the extension leaves both schemas, and the shop's table
DROP EXTENSION inventory CASCADE;
SELECT nspname FROM pg_namespace WHERE nspname IN ('inventory', 'shop_inventory') ORDER BY 1;
SELECT count(*) AS shop_inventory_objects FROM pg_class WHERE relnamespace = 'shop_inventory'::regnamespace;

-- installed again in the same schema: the grants an earlier install left
-- on it are the extension's own, not the shop's
CREATE EXTENSION inventory SCHEMA shop_inventory;
SELECT shop_inventory.inv_set_stock('TS-AGAIN', 2);
DROP EXTENSION inventory;

-- in the shop's own "inventory": its table "stock" is in the way, and
-- says so; a schema with privileges granted on it is refused (pg_dump
-- would take them for the extension's); each refusal makes nothing
SELECT code, message FROM test_error('CREATE EXTENSION inventory SCHEMA inventory');
CREATE SCHEMA ts_granted;
GRANT USAGE ON SCHEMA ts_granted TO PUBLIC;
SELECT code, message FROM test_error('CREATE EXTENSION inventory SCHEMA ts_granted');
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'inventory';
-- a grant taken back is no grant
REVOKE USAGE ON SCHEMA ts_granted FROM PUBLIC;
CREATE EXTENSION inventory SCHEMA ts_granted;
SELECT ts_granted.inv_set_stock('TS-G', 3);
SELECT sku, on_hand FROM ts_granted.stock_levels;
DROP EXTENSION inventory;
DROP SCHEMA ts_granted;

-- back to a default install for whatever runs after
RESET search_path;
DROP SCHEMA inventory CASCADE;
DROP SCHEMA shop_inventory;
CREATE EXTENSION inventory;
SELECT inv_set_stock('TS-DEFAULT', 1);
SELECT sku, on_hand FROM inventory.stock_levels;
