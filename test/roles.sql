-- test/roles.sql: the roles of doc/operations.md ("Privileges"),
-- granted as the recipe there says, can do exactly what it says and
-- nothing more: EXECUTE on exactly their functions of the API, SELECT on
-- exactly their views, no table of the extension; and pg_monitor reads
-- inventory.stats and nothing else of it.  The recipe is repeated here
-- under names of this test (tap_inv_*), in a transaction that rolls back;
-- keep the two in step.
--
-- Runs in a database that already has pgtap and inventory installed.

\set QUIET 1
BEGIN;
SELECT plan(15);

CREATE ROLE tap_inv_shop_app NOLOGIN;
GRANT EXECUTE ON FUNCTION inv_reserve(text, bigint, interval, text, text),
                          inv_reserve_cart(jsonb, interval, text, text),
                          inv_try_reserve_cart(jsonb, interval, text, text),
                          inv_commit(uuid, text), inv_release(uuid, text),
                          inv_extend(uuid, interval),
                          inv_stock(text), inv_available(text)
   TO tap_inv_shop_app;
GRANT USAGE ON SCHEMA inventory TO tap_inv_shop_app;
GRANT SELECT ON inventory.stock_levels TO tap_inv_shop_app;

CREATE ROLE tap_inv_warehouse NOLOGIN;
GRANT EXECUTE ON FUNCTION inv_set_stock(text, bigint, text),
                          inv_adjust(text, bigint, text, bigint),
                          inv_stock(text), inv_available(text)
   TO tap_inv_warehouse;
GRANT USAGE ON SCHEMA inventory TO tap_inv_warehouse;
GRANT SELECT ON inventory.stock_levels TO tap_inv_warehouse;

CREATE ROLE tap_inv_relay NOLOGIN;
GRANT EXECUTE ON FUNCTION inv_outbox_subscribe(text, bigint),
                          inv_outbox_next(text, integer),
                          inv_outbox_ack(text, bigint),
                          inv_outbox_unsubscribe(text)
   TO tap_inv_relay;
GRANT USAGE ON SCHEMA inventory TO tap_inv_relay;
GRANT SELECT ON inventory.outbox_consumers TO tap_inv_relay;

CREATE ROLE tap_inv_ops NOLOGIN IN ROLE tap_inv_warehouse;
GRANT EXECUTE ON FUNCTION inv_verify(), inv_sweep(integer), inv_purge(integer),
                          inv_stats_reset(), inv_set_sku_limit(text, bigint, interval)
   TO tap_inv_ops;
GRANT SELECT ON inventory.stats, inventory.outbox_consumers TO tap_inv_ops;
GRANT EXECUTE ON FUNCTION inventory.stats_counters() TO tap_inv_ops;

CREATE ROLE tap_inv_monitor NOLOGIN IN ROLE pg_monitor;

-- every function of the extension a role may run, as name(argument types)
CREATE FUNCTION pg_temp.may_run(r name) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')'
	  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
	   AND has_function_privilege(r, p.oid, 'EXECUTE')
$$;
-- every table or view of the extension a role may read or write, with how
CREATE FUNCTION pg_temp.may_touch(r name) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT c.relname || ' ' || m.priv
	  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid,
		   unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS m(priv)
	 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
	   AND has_table_privilege(r, c.oid, m.priv)
$$;

SELECT set_eq($$SELECT pg_temp.may_run('tap_inv_shop_app')$$,
	ARRAY['inv_reserve(text, bigint, interval, text, text)',
		  'inv_reserve_cart(jsonb, interval, text, text)',
		  'inv_try_reserve_cart(jsonb, interval, text, text)',
		  'inv_commit(uuid, text)', 'inv_release(uuid, text)', 'inv_extend(uuid, interval)',
		  'inv_stock(text)', 'inv_available(text)'],
	'the application role runs the checkout and the stock reads, nothing else');
SELECT set_eq($$SELECT pg_temp.may_touch('tap_inv_shop_app')$$,
	ARRAY['stock_levels SELECT'],
	'the application role reads stock_levels, and no table');

SELECT set_eq($$SELECT pg_temp.may_run('tap_inv_warehouse')$$,
	ARRAY['inv_set_stock(text, bigint, text)', 'inv_adjust(text, bigint, text, bigint)',
		  'inv_stock(text)', 'inv_available(text)'],
	'the warehouse role counts and adjusts stock, and reads it; it takes no hold');
SELECT set_eq($$SELECT pg_temp.may_touch('tap_inv_warehouse')$$,
	ARRAY['stock_levels SELECT'],
	'the warehouse role reads stock_levels, and no table');

SELECT set_eq($$SELECT pg_temp.may_run('tap_inv_relay')$$,
	ARRAY['inv_outbox_subscribe(text, bigint)', 'inv_outbox_next(text, integer)',
		  'inv_outbox_ack(text, bigint)', 'inv_outbox_unsubscribe(text)'],
	'the relay role consumes the outbox, nothing else');
SELECT set_eq($$SELECT pg_temp.may_touch('tap_inv_relay')$$,
	ARRAY['outbox_consumers SELECT'],
	'the relay role reads the consumers'' positions, not the outbox table');

SELECT set_eq($$SELECT pg_temp.may_run('tap_inv_ops')$$,
	ARRAY['inv_set_stock(text, bigint, text)', 'inv_adjust(text, bigint, text, bigint)',
		  'inv_stock(text)', 'inv_available(text)',
		  'inv_verify()', 'inv_sweep(integer)', 'inv_purge(integer)', 'inv_stats_reset()',
		  'inv_set_sku_limit(text, bigint, interval)', 'stats_counters()'],
	'the operator role does what the warehouse does, and verifies, sweeps, purges, resets, sets SKU limits');
SELECT set_eq($$SELECT pg_temp.may_touch('tap_inv_ops')$$,
	ARRAY['stock_levels SELECT', 'stats SELECT', 'outbox_consumers SELECT'],
	'the operator role reads stock_levels, stats and outbox_consumers, and no table');

SELECT set_eq($$SELECT pg_temp.may_run('tap_inv_monitor')$$,
	ARRAY['stats_counters()'],
	'a member of pg_monitor runs only what inventory.stats calls');
SELECT set_eq($$SELECT pg_temp.may_touch('tap_inv_monitor')$$,
	ARRAY['stats SELECT'],
	'a member of pg_monitor reads inventory.stats, and nothing else of the extension');

-- and by behaviour: each is refused what it was not granted
SELECT inv_set_stock('tap-roles-sku', 10);
SET ROLE tap_inv_shop_app;
SELECT throws_ok($$SELECT inv_set_sku_limit('tap-roles-sku', 1000)$$, '42501', NULL,
	'the application role cannot set (so cannot raise) a SKU''s limit per owner');
SELECT throws_ok($$INSERT INTO inventory.sku_limit (sku, max_units_per_owner) VALUES ('tap-roles-sku', 1000)$$,
	'42501', NULL, 'nor write the table of SKU limits');
RESET ROLE;
SET ROLE tap_inv_ops;
SELECT lives_ok($$SELECT inv_set_sku_limit('tap-roles-sku', 2)$$,
	'the operator role sets a SKU''s limit per owner');
RESET ROLE;
SET ROLE tap_inv_relay;
SELECT throws_ok($$SELECT count(*) FROM inventory.outbox$$, '42501', NULL,
	'the relay role cannot read the outbox table behind inv_outbox_next');
RESET ROLE;
SET ROLE tap_inv_monitor;
SELECT lives_ok($$SELECT sweeps FROM inventory.stats$$,
	'a member of pg_monitor reads inventory.stats');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
