-- test/privileges.sql: the tables are closed to everyone but the owner;
-- the inv_* functions are the API and nobody may EXECUTE them until the
-- DBA grants it.  Checked in the catalogs, then by behaviour with roles
-- created (and rolled back) inside this test.
--
-- Runs in a database that already has pgtap and inventory installed.

\set QUIET 1
-- the schema the functions were installed into (public by default)
SELECT n.nspname AS extschema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'inventory' \gset

BEGIN;
SELECT plan(64);

-- ---------------------------------------------------------------------
-- PUBLIC: no privileges at all (catalogs)
-- ---------------------------------------------------------------------
SELECT schema_privs_are('inventory', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on schema inventory');

SELECT table_privs_are('inventory', 'stock', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.stock');
SELECT table_privs_are('inventory', 'reservation', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.reservation');
SELECT table_privs_are('inventory', 'reservation_line', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.reservation_line');
SELECT table_privs_are('inventory', 'outbox', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.outbox');
SELECT table_privs_are('inventory', 'adjustment', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.adjustment');
SELECT table_privs_are('inventory', 'stock_levels', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on the view inventory.stock_levels');
SELECT table_privs_are('inventory', 'outbox_horizon', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.outbox_horizon');
SELECT table_privs_are('inventory', 'outbox_consumer', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.outbox_consumer');
SELECT table_privs_are('inventory', 'outbox_consumers', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on the view inventory.outbox_consumers');
SELECT table_privs_are('inventory', 'sku_limit', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.sku_limit');

SELECT sequence_privs_are('inventory', 'outbox_seq_seq', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.outbox_seq_seq');
SELECT sequence_privs_are('inventory', 'adjustment_id_seq', 'public', ARRAY[]::name[],
	'PUBLIC has no privilege on inventory.adjustment_id_seq');

SELECT function_privs_are(:'extschema', 'inv_set_stock', ARRAY['text', 'bigint', 'text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_adjust', ARRAY['text', 'bigint', 'text', 'bigint'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_stock', ARRAY['text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_available', ARRAY['text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_try_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_commit', ARRAY['uuid', 'text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_release', ARRAY['uuid', 'text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_extend', ARRAY['uuid', 'interval'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_sweep', ARRAY['integer'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_verify', ARRAY[]::name[],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_outbox_subscribe', ARRAY['text', 'bigint'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_outbox_unsubscribe', ARRAY['text'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_outbox_next', ARRAY['text', 'integer'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_outbox_ack', ARRAY['text', 'bigint'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_purge', ARRAY['integer'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_stats_reset', ARRAY[]::name[],
	'public', ARRAY[]::name[]);
SELECT function_privs_are(:'extschema', 'inv_set_sku_limit', ARRAY['text', 'bigint', 'interval'],
	'public', ARRAY[]::name[]);
SELECT function_privs_are('inventory', 'worker_wake', ARRAY[]::name[],
	'public', ARRAY[]::name[]);

-- Catch-all over every object of the extension, columns included, reading
-- the ACLs themselves (a NULL ACL means the built-in default, which for a
-- function is EXECUTE to PUBLIC): no entry may grant anything to PUBLIC.
SELECT is_empty($$
	WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'inventory'),
	members AS (
		SELECT d.classid, d.objid FROM pg_depend d, ext
		 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
		   AND d.deptype = 'e'),
	acls AS (
		SELECT c.oid::regclass::text AS obj,
			   coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner)) AS acl
		  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
		UNION ALL
		SELECT c.oid::regclass::text || '.' || a.attname, a.attacl
		  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
		  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND a.attacl IS NOT NULL
		UNION ALL
		SELECT p.oid::regprocedure::text, coalesce(p.proacl, acldefault('f', p.proowner))
		  FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
		UNION ALL
		SELECT 'schema ' || n.nspname, coalesce(n.nspacl, acldefault('n', n.nspowner))
		  FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid)
	SELECT obj, x.privilege_type
	  FROM acls, aclexplode(acl) x
	 WHERE x.grantee = 0
$$, 'no object of the extension grants anything to PUBLIC');

-- ---------------------------------------------------------------------
-- a fresh role with no grants: locked out
-- ---------------------------------------------------------------------
CREATE ROLE tap_inv_priv_nogrant NOLOGIN;
CREATE ROLE tap_inv_priv_app NOLOGIN;
SELECT is(inv_set_stock('tap-priv-sku', 10, 'privileges test'), 10::bigint,
	'setup: the superuser creates a SKU');

SELECT function_privs_are(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text'],
	'tap_inv_priv_nogrant', ARRAY[]::name[]);
SELECT table_privs_are('inventory', 'stock', 'tap_inv_priv_nogrant', ARRAY[]::name[]);

SET ROLE tap_inv_priv_nogrant;
SELECT throws_ok($$SELECT inv_reserve('tap-priv-sku', 1)$$,
	'42501', NULL, 'without a grant, inv_reserve is refused');
SELECT throws_ok($$SELECT inv_set_stock('tap-priv-sku', 100)$$,
	'42501', NULL, 'without a grant, inv_set_stock is refused');
SELECT throws_ok($$SELECT * FROM inv_stock('tap-priv-sku')$$,
	'42501', NULL, 'without a grant, inv_stock is refused');
SELECT throws_ok($$SELECT * FROM inventory.stock$$,
	'42501', NULL, 'without a grant, inventory.stock cannot be read');
SELECT throws_ok($$SELECT * FROM inventory.stock_levels$$,
	'42501', NULL, 'without a grant, inventory.stock_levels cannot be read');
SELECT throws_ok($$UPDATE inventory.stock SET available = 0$$,
	'42501', NULL, 'without a grant, inventory.stock cannot be updated');
RESET ROLE;

-- ---------------------------------------------------------------------
-- EXECUTE on two functions: the role works through them, and only them
-- ---------------------------------------------------------------------
GRANT EXECUTE ON FUNCTION inv_set_stock(text, bigint, text),
						  inv_reserve(text, bigint, interval, text, text)
   TO tap_inv_priv_app;

SELECT function_privs_are(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text'],
	'tap_inv_priv_app', ARRAY['EXECUTE']);
SELECT function_privs_are(:'extschema', 'inv_set_stock', ARRAY['text', 'bigint', 'text'],
	'tap_inv_priv_app', ARRAY['EXECUTE']);
SELECT function_privs_are(:'extschema', 'inv_commit', ARRAY['uuid', 'text'],
	'tap_inv_priv_app', ARRAY[]::name[]);
SELECT table_privs_are('inventory', 'stock', 'tap_inv_priv_app', ARRAY[]::name[]);

SET ROLE tap_inv_priv_app;
SELECT is(current_user::text, 'tap_inv_priv_app', 'running as the granted role');
SELECT lives_ok($$SELECT inv_set_stock('tap-priv-sku', 12, 'granted role')$$,
	'the granted role can set stock through inv_set_stock');
SELECT lives_ok(
	$$SELECT inv_reserve('tap-priv-sku', 3, interval '10 minutes', 'tap-priv-key', 'tap-priv-owner')$$,
	'the granted role can reserve through inv_reserve');
SELECT throws_ok($$UPDATE inventory.stock SET available = 0 WHERE sku = 'tap-priv-sku'$$,
	'42501', NULL, 'the granted role still cannot UPDATE inventory.stock');
SELECT throws_ok($$SELECT * FROM inventory.stock$$,
	'42501', NULL, 'the granted role still cannot read inventory.stock');
SELECT throws_ok($$INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)
				   VALUES (now(), 'reservation', 'x', 'reservation.held', '{}')$$,
	'42501', NULL, 'the granted role cannot write the outbox');
SELECT throws_ok($$SELECT inv_commit('00000000-0000-0000-0000-000000000000')$$,
	'42501', NULL, 'the granted role cannot call a function it was not granted (inv_commit)');
SELECT throws_ok($$SELECT inventory.lock_sales('{tap-priv-sku}')$$,
	'42501', NULL, 'the granted role cannot take a SKU''s sales lock (inventory.lock_sales)');
RESET ROLE;

SELECT is(current_user::text, session_user::text, 'RESET ROLE is back to the session user');
SELECT results_eq(
	$$SELECT state, owner FROM inventory.reservation WHERE idempotency_key = 'tap-priv-key'$$,
	$$VALUES ('held'::text, 'tap-priv-owner'::text)$$,
	'the hold made by the granted role is in force, with its owner');
SELECT results_eq(
	$$SELECT on_hand, reserved FROM inventory.stock_levels WHERE sku = 'tap-priv-sku'$$,
	$$VALUES (12::bigint, 3::bigint)$$,
	'the stock reflects the granted role''s set_stock and reserve');
SELECT is_empty($$SELECT * FROM inv_verify()$$,
	'the invariants hold after the granted role''s calls');

-- Even with USAGE on the schema, the tables themselves stay closed.
GRANT USAGE ON SCHEMA inventory TO tap_inv_priv_app;
SET ROLE tap_inv_priv_app;
SELECT throws_ok($$UPDATE inventory.stock SET available = 0 WHERE sku = 'tap-priv-sku'$$,
	'42501', 'permission denied for table stock',
	'with USAGE on the schema, UPDATE of inventory.stock is still refused');
SELECT throws_ok($$SELECT * FROM inventory.stock$$,
	'42501', 'permission denied for table stock',
	'with USAGE on the schema, inventory.stock still cannot be read');
SELECT throws_ok($$SELECT * FROM inventory.stock_levels$$,
	'42501', 'permission denied for view stock_levels',
	'with USAGE on the schema, inventory.stock_levels still cannot be read');
SELECT throws_ok($$DELETE FROM inventory.reservation$$,
	'42501', 'permission denied for table reservation',
	'with USAGE on the schema, inventory.reservation cannot be deleted from');
RESET ROLE;

SELECT results_eq(
	$$SELECT count(*)::int FROM inventory.reservation WHERE idempotency_key = 'tap-priv-key'$$,
	$$VALUES (1)$$,
	'the refused DELETE left the hold alone');

SELECT * FROM finish();
ROLLBACK;
