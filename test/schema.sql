-- test/schema.sql: the schema contract of the inventory extension
-- (sql/inventory--0.1.0.sql and the updates to the current version):
-- tables, columns, keys, checks, indexes, the views, the functions and the
-- pg_dump registration of the config tables.
--
-- Runs in a database that already has pgtap and inventory installed.

\set QUIET 1
-- the schema the functions were installed into (public by default)
SELECT n.nspname AS extschema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'inventory' \gset

BEGIN;
SELECT plan(280);

-- ---------------------------------------------------------------------
-- schema, relations
-- ---------------------------------------------------------------------
SELECT has_schema('inventory');
SELECT has_table('inventory', 'stock', 'table inventory.stock exists');
SELECT has_table('inventory', 'reservation', 'table inventory.reservation exists');
SELECT has_view('inventory', 'reservation_line', 'view inventory.reservation_line exists');
SELECT has_table('inventory', 'outbox', 'table inventory.outbox exists');
SELECT has_table('inventory', 'adjustment', 'table inventory.adjustment exists');
SELECT has_view('inventory', 'stock_levels', 'view inventory.stock_levels exists');
SELECT tables_are('inventory',
	ARRAY['stock', 'reservation', 'outbox', 'adjustment',
		  'outbox_horizon', 'outbox_consumer', 'purged_sales', 'purge_state',
		  'sku_limit'],
	'schema inventory holds exactly the tables of the contract');
SELECT views_are('inventory', ARRAY['stock_levels', 'outbox_consumers', 'stats', 'reservation_line'],
	'schema inventory holds exactly the views of the contract');
SELECT sequences_are('inventory', ARRAY['outbox_seq_seq', 'adjustment_id_seq'],
	'schema inventory holds exactly the two identity sequences');

-- ---------------------------------------------------------------------
-- inventory.stock
-- ---------------------------------------------------------------------
SELECT columns_are('inventory', 'stock',
	ARRAY['sku', 'available', 'version', 'updated_at']);
SELECT col_type_is('inventory', 'stock', 'sku', 'text', 'stock.sku is text');
SELECT col_type_is('inventory', 'stock', 'available', 'bigint', 'stock.available is bigint');
SELECT col_type_is('inventory', 'stock', 'version', 'bigint', 'stock.version is bigint');
SELECT col_type_is('inventory', 'stock', 'updated_at', 'timestamp with time zone', 'stock.updated_at is timestamp with time zone');
SELECT col_not_null('inventory', 'stock', 'sku', 'stock.sku is NOT NULL');
SELECT col_not_null('inventory', 'stock', 'available', 'stock.available is NOT NULL');
SELECT col_not_null('inventory', 'stock', 'version', 'stock.version is NOT NULL');
SELECT col_not_null('inventory', 'stock', 'updated_at', 'stock.updated_at is NOT NULL');
SELECT col_hasnt_default('inventory', 'stock', 'available', 'stock.available has no default');
SELECT col_default_is('inventory', 'stock', 'version', '1', 'stock.version defaults to 1');
SELECT col_default_is('inventory', 'stock', 'updated_at', 'now()', 'stock.updated_at defaults to now()');
SELECT has_pk('inventory', 'stock', 'stock has a primary key');
SELECT col_is_pk('inventory', 'stock', 'sku', 'stock primary key is (sku)');

-- ---------------------------------------------------------------------
-- inventory.reservation
-- ---------------------------------------------------------------------
SELECT columns_are('inventory', 'reservation',
	ARRAY['id', 'idempotency_key', 'owner', 'state', 'created_at', 'expires_at',
		  'finished_at', 'reference', 'reason', 'skus', 'qtys']);
SELECT col_type_is('inventory', 'reservation', 'id', 'uuid', 'reservation.id is uuid');
SELECT col_type_is('inventory', 'reservation', 'idempotency_key', 'text', 'reservation.idempotency_key is text');
SELECT col_type_is('inventory', 'reservation', 'owner', 'text', 'reservation.owner is text');
SELECT col_type_is('inventory', 'reservation', 'state', 'text', 'reservation.state is text');
SELECT col_type_is('inventory', 'reservation', 'created_at', 'timestamp with time zone', 'reservation.created_at is timestamp with time zone');
SELECT col_type_is('inventory', 'reservation', 'expires_at', 'timestamp with time zone', 'reservation.expires_at is timestamp with time zone');
SELECT col_type_is('inventory', 'reservation', 'finished_at', 'timestamp with time zone', 'reservation.finished_at is timestamp with time zone');
SELECT col_type_is('inventory', 'reservation', 'reference', 'text', 'reservation.reference is text');
SELECT col_type_is('inventory', 'reservation', 'reason', 'text', 'reservation.reason is text');
SELECT col_type_is('inventory', 'reservation', 'skus', 'text[]', 'reservation.skus is text[]');
SELECT col_type_is('inventory', 'reservation', 'qtys', 'bigint[]', 'reservation.qtys is bigint[]');
SELECT col_not_null('inventory', 'reservation', 'skus', 'reservation.skus is NOT NULL');
SELECT col_not_null('inventory', 'reservation', 'qtys', 'reservation.qtys is NOT NULL');
SELECT col_not_null('inventory', 'reservation', 'id', 'reservation.id is NOT NULL');
SELECT col_not_null('inventory', 'reservation', 'state', 'reservation.state is NOT NULL');
SELECT col_not_null('inventory', 'reservation', 'created_at', 'reservation.created_at is NOT NULL');
SELECT col_not_null('inventory', 'reservation', 'expires_at', 'reservation.expires_at is NOT NULL');
SELECT col_is_null('inventory', 'reservation', 'idempotency_key', 'reservation.idempotency_key allows NULL');
SELECT col_is_null('inventory', 'reservation', 'owner', 'reservation.owner allows NULL');
SELECT col_is_null('inventory', 'reservation', 'finished_at', 'reservation.finished_at allows NULL');
SELECT col_is_null('inventory', 'reservation', 'reference', 'reservation.reference allows NULL');
SELECT col_is_null('inventory', 'reservation', 'reason', 'reservation.reason allows NULL');
SELECT col_default_is('inventory', 'reservation', 'id', 'gen_random_uuid()',
	'reservation.id defaults to gen_random_uuid()');
SELECT col_default_is('inventory', 'reservation', 'state', 'held'::text,
	'reservation.state defaults to held');
SELECT has_pk('inventory', 'reservation', 'reservation has a primary key');
SELECT col_is_pk('inventory', 'reservation', 'id', 'reservation primary key is (id)');
SELECT has_index('inventory', 'reservation', 'reservation_idempotency_key_idx', 'idempotency_key',
	'reservation.idempotency_key is indexed (unique where not NULL: see indexes)');

-- ---------------------------------------------------------------------
-- inventory.reservation_line
-- ---------------------------------------------------------------------
-- a view since 0.3.0: the lines live in their hold's row (skus, qtys)
SELECT columns_are('inventory', 'reservation_line', ARRAY['reservation_id', 'sku', 'qty']);
SELECT col_type_is('inventory', 'reservation_line', 'reservation_id', 'uuid', 'reservation_line.reservation_id is uuid');
SELECT col_type_is('inventory', 'reservation_line', 'sku', 'text', 'reservation_line.sku is text');
SELECT col_type_is('inventory', 'reservation_line', 'qty', 'bigint', 'reservation_line.qty is bigint');

-- ---------------------------------------------------------------------
-- inventory.outbox
-- ---------------------------------------------------------------------
SELECT columns_are('inventory', 'outbox',
	ARRAY['id', 'seq', 'occurred_at', 'aggregatetype', 'aggregateid', 'type', 'payload']);
SELECT col_type_is('inventory', 'outbox', 'id', 'uuid', 'outbox.id is uuid');
SELECT col_type_is('inventory', 'outbox', 'seq', 'bigint', 'outbox.seq is bigint');
SELECT col_type_is('inventory', 'outbox', 'occurred_at', 'timestamp with time zone', 'outbox.occurred_at is timestamp with time zone');
SELECT col_type_is('inventory', 'outbox', 'aggregatetype', 'text', 'outbox.aggregatetype is text');
SELECT col_type_is('inventory', 'outbox', 'aggregateid', 'text', 'outbox.aggregateid is text');
SELECT col_type_is('inventory', 'outbox', 'type', 'text', 'outbox.type is text');
SELECT col_type_is('inventory', 'outbox', 'payload', 'jsonb', 'outbox.payload is jsonb');
SELECT col_not_null('inventory', 'outbox', 'id', 'outbox.id is NOT NULL');
SELECT col_not_null('inventory', 'outbox', 'seq', 'outbox.seq is NOT NULL');
SELECT col_not_null('inventory', 'outbox', 'occurred_at', 'outbox.occurred_at is NOT NULL');
SELECT col_not_null('inventory', 'outbox', 'aggregatetype', 'outbox.aggregatetype is NOT NULL');
SELECT col_not_null('inventory', 'outbox', 'aggregateid', 'outbox.aggregateid is NOT NULL');
SELECT col_not_null('inventory', 'outbox', 'type', 'outbox.type is NOT NULL');
SELECT col_not_null('inventory', 'outbox', 'payload', 'outbox.payload is NOT NULL');
SELECT col_default_is('inventory', 'outbox', 'id', 'gen_random_uuid()',
	'outbox.id defaults to gen_random_uuid()');
SELECT is((SELECT attidentity::text FROM pg_attribute
			WHERE attrelid = 'inventory.outbox'::regclass AND attname = 'seq'),
	'a', 'outbox.seq is GENERATED ALWAYS AS IDENTITY');
SELECT has_pk('inventory', 'outbox', 'outbox has a primary key');
SELECT col_is_pk('inventory', 'outbox', 'seq', 'outbox primary key is (seq): one index entry per event');

-- ---------------------------------------------------------------------
-- inventory.adjustment
-- ---------------------------------------------------------------------
SELECT columns_are('inventory', 'adjustment',
	ARRAY['id', 'sku', 'delta', 'on_hand', 'reason', 'created_at']);
SELECT col_type_is('inventory', 'adjustment', 'id', 'bigint', 'adjustment.id is bigint');
SELECT col_type_is('inventory', 'adjustment', 'sku', 'text', 'adjustment.sku is text');
SELECT col_type_is('inventory', 'adjustment', 'delta', 'bigint', 'adjustment.delta is bigint');
SELECT col_type_is('inventory', 'adjustment', 'on_hand', 'bigint', 'adjustment.on_hand is bigint');
SELECT col_type_is('inventory', 'adjustment', 'reason', 'text', 'adjustment.reason is text');
SELECT col_type_is('inventory', 'adjustment', 'created_at', 'timestamp with time zone', 'adjustment.created_at is timestamp with time zone');
SELECT col_not_null('inventory', 'adjustment', 'id', 'adjustment.id is NOT NULL');
SELECT col_not_null('inventory', 'adjustment', 'sku', 'adjustment.sku is NOT NULL');
SELECT col_not_null('inventory', 'adjustment', 'delta', 'adjustment.delta is NOT NULL');
SELECT col_not_null('inventory', 'adjustment', 'on_hand', 'adjustment.on_hand is NOT NULL');
SELECT col_not_null('inventory', 'adjustment', 'created_at', 'adjustment.created_at is NOT NULL');
SELECT col_is_null('inventory', 'adjustment', 'reason', 'adjustment.reason allows NULL');
SELECT is((SELECT attidentity::text FROM pg_attribute
			WHERE attrelid = 'inventory.adjustment'::regclass AND attname = 'id'),
	'a', 'adjustment.id is GENERATED ALWAYS AS IDENTITY');
SELECT has_pk('inventory', 'adjustment', 'adjustment has a primary key');
SELECT col_is_pk('inventory', 'adjustment', 'id', 'adjustment primary key is (id)');
SELECT fk_ok('inventory', 'adjustment', 'sku', 'inventory', 'stock', 'sku',
	'adjustment.sku references stock.sku');

-- ---------------------------------------------------------------------
-- foreign key actions
-- ---------------------------------------------------------------------
SELECT is((SELECT confdeltype::text FROM pg_constraint
			WHERE conrelid = 'inventory.adjustment'::regclass
			  AND confrelid = 'inventory.stock'::regclass AND contype = 'f'),
	'a', 'a SKU with adjustments cannot be deleted (NO ACTION)');
SELECT is((SELECT count(*)::int FROM pg_constraint
			WHERE connamespace = 'inventory'::regnamespace AND contype = 'f'),
	1, 'schema inventory has exactly one foreign key');

-- ---------------------------------------------------------------------
-- CHECK constraints: declared
-- ---------------------------------------------------------------------
SELECT col_has_check('inventory', 'stock', 'sku', 'stock.sku has a CHECK');
SELECT col_has_check('inventory', 'stock', 'available', 'stock.available has a CHECK');
SELECT col_has_check('inventory', 'reservation', 'state', 'reservation.state has a CHECK');
SELECT col_has_check('inventory', 'reservation', ARRAY['skus', 'qtys'], 'reservation.skus and qtys have a CHECK');
SELECT col_has_check('inventory', 'adjustment', 'on_hand', 'adjustment.on_hand has a CHECK');
SELECT set_eq(
	$$SELECT conrelid::regclass::text, pg_get_constraintdef(oid)
		FROM pg_constraint
	   WHERE connamespace = 'inventory'::regnamespace AND contype = 'c'$$,
	$$VALUES ('inventory.stock', 'CHECK ((sku <> ''''::text))'),
			 ('inventory.stock', 'CHECK ((available >= 0))'),
			 ('inventory.reservation', 'CHECK ((state = ANY (ARRAY[''held''::text, ''committed''::text, ''released''::text, ''expired''::text])))'),
			 ('inventory.reservation', 'CHECK (((state = ''held''::text) = (finished_at IS NULL)))'),
			 ('inventory.reservation', 'CHECK ((expires_at > created_at))'),
			 ('inventory.reservation', 'CHECK (((cardinality(skus) = cardinality(qtys)) AND (0 < ALL (qtys))))'),
			 ('inventory.adjustment', 'CHECK ((on_hand >= 0))'),
			 ('inventory.outbox_horizon', 'CHECK (onerow)'),
			 ('inventory.outbox_horizon', 'CHECK ((safe_seq >= 0))'),
			 ('inventory.outbox_horizon', 'CHECK (((pending_seq IS NULL) = (pending_xid IS NULL)))'),
			 ('inventory.outbox_consumer', 'CHECK ((consumer <> ''''::text))'),
			 ('inventory.outbox_consumer', 'CHECK ((acked_seq >= 0))'),
			 ('inventory.purged_sales', 'CHECK ((qty >= 0))'),
			 ('inventory.purge_state', 'CHECK (singleton)'),
			 ('inventory.sku_limit', 'CHECK ((sku <> ''''::text))'),
			 ('inventory.sku_limit', 'CHECK ((max_units_per_owner >= 0))'),
			 ('inventory.sku_limit', 'CHECK ((owner_window >= ''00:00:00''::interval))')$$,
	'the CHECK constraints of schema inventory are exactly the contract''s');

-- ---------------------------------------------------------------------
-- CHECK constraints: enforced (as superuser, straight on the tables)
-- ---------------------------------------------------------------------
INSERT INTO inventory.stock (sku, available) VALUES ('tap-schema-sku', 5);
INSERT INTO inventory.reservation (id, idempotency_key, state, created_at, expires_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'tap-schema-key', 'held',
		now(), now() + interval '1 minute');

SELECT throws_ok($$UPDATE inventory.stock SET available = -1 WHERE sku = 'tap-schema-sku'$$,
	'23514', NULL, 'negative available is rejected');
SELECT throws_ok($$UPDATE inventory.stock SET available = NULL WHERE sku = 'tap-schema-sku'$$,
	'23502', NULL, 'NULL available is rejected');
SELECT lives_ok($$UPDATE inventory.stock SET available = 0 WHERE sku = 'tap-schema-sku'$$,
	'available = 0 is allowed');
SELECT throws_ok($$INSERT INTO inventory.stock (sku, available) VALUES ('', 1)$$,
	'23514', NULL, 'empty sku is rejected');
SELECT throws_ok($$INSERT INTO inventory.stock (sku, available) VALUES (NULL, 1)$$,
	'23502', NULL, 'NULL sku is rejected');
SELECT throws_ok($$INSERT INTO inventory.stock (sku, available) VALUES ('tap-schema-sku', 1)$$,
	'23505', NULL, 'duplicate sku is rejected');
SELECT throws_ok(
	$$INSERT INTO inventory.reservation (state, created_at, expires_at, finished_at)
	  VALUES ('cancelled', now(), now() + interval '1 minute', now())$$,
	'23514', NULL, 'a state outside the four is rejected');
SELECT lives_ok(
	$$INSERT INTO inventory.reservation (state, created_at, expires_at, finished_at)
	  VALUES ('committed', now(), now() + interval '1 minute', now()),
			 ('released',  now(), now() + interval '1 minute', now()),
			 ('expired',   now(), now() + interval '1 minute', now())$$,
	'the finished states committed, released, expired are accepted');
SELECT throws_ok(
	$$INSERT INTO inventory.reservation (state, created_at, expires_at, finished_at)
	  VALUES ('held', now(), now() + interval '1 minute', now())$$,
	'23514', NULL, 'a held reservation with finished_at is rejected');
SELECT throws_ok(
	$$INSERT INTO inventory.reservation (state, created_at, expires_at)
	  VALUES ('committed', now(), now() + interval '1 minute')$$,
	'23514', NULL, 'a finished reservation without finished_at is rejected');
SELECT throws_ok(
	$$INSERT INTO inventory.reservation (created_at, expires_at)
	  VALUES (now(), now())$$,
	'23514', NULL, 'expires_at must be after created_at');
SELECT throws_ok(
	$$INSERT INTO inventory.reservation (idempotency_key, created_at, expires_at)
	  VALUES ('tap-schema-key', now(), now() + interval '1 minute')$$,
	'23505', NULL, 'a duplicate idempotency_key is rejected');
SELECT lives_ok(
	$$INSERT INTO inventory.reservation (idempotency_key, created_at, expires_at)
	  VALUES (NULL, now(), now() + interval '1 minute'),
			 (NULL, now(), now() + interval '1 minute')$$,
	'many reservations may have no idempotency_key');
SELECT throws_ok(
	$$UPDATE inventory.reservation SET skus = '{tap-schema-sku}', qtys = '{0}'
	   WHERE id = '00000000-0000-0000-0000-0000000000a1'$$,
	'23514', NULL, 'a line with qty 0 is rejected');
SELECT throws_ok(
	$$UPDATE inventory.reservation SET skus = '{tap-schema-sku}', qtys = '{-1}'
	   WHERE id = '00000000-0000-0000-0000-0000000000a1'$$,
	'23514', NULL, 'a line with negative qty is rejected');
SELECT throws_ok(
	$$UPDATE inventory.reservation SET skus = '{tap-schema-sku}', qtys = '{1,1}'
	   WHERE id = '00000000-0000-0000-0000-0000000000a1'$$,
	'23514', NULL, 'a hold with more quantities than SKUs is rejected');
-- no key on the lines since 0.3.0: inv_verify() reports what they said
SELECT lives_ok(
	$$UPDATE inventory.reservation SET skus = '{tap-no-such-sku}', qtys = '{1}'
	   WHERE id = '00000000-0000-0000-0000-0000000000a1'$$,
	'the table takes a line for an unknown SKU (only the functions write lines)');
SELECT results_eq(
	$$SELECT problem FROM inv_verify() WHERE sku = 'tap-no-such-sku'$$,
	$$VALUES ('line of an unknown SKU')$$,
	'inv_verify() reports a line of an unknown SKU');
SELECT results_eq(
	$$SELECT reservation_id, sku, qty FROM inventory.reservation_line
	   WHERE reservation_id = '00000000-0000-0000-0000-0000000000a1'$$,
	$$VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, 'tap-no-such-sku', 1::bigint)$$,
	'the view inventory.reservation_line shows a hold''s lines, one row each');
UPDATE inventory.reservation SET skus = '{}', qtys = '{}'
 WHERE id = '00000000-0000-0000-0000-0000000000a1';
SELECT throws_ok(
	$$INSERT INTO inventory.adjustment (sku, delta, on_hand, created_at)
	  VALUES ('tap-schema-sku', -1, -1, now())$$,
	'23514', NULL, 'an adjustment leaving on_hand negative is rejected');
SELECT throws_ok(
	$$INSERT INTO inventory.adjustment (sku, delta, on_hand, created_at)
	  VALUES ('tap-no-such-sku', 1, 1, now())$$,
	'23503', NULL, 'an adjustment for an unknown SKU is rejected');
SELECT throws_ok(
	$$INSERT INTO inventory.outbox (seq, occurred_at, aggregatetype, aggregateid, type, payload)
	  VALUES (1, now(), 'reservation', 'x', 'reservation.held', '{}')$$,
	'428C9', NULL, 'outbox.seq cannot be set by hand');
SELECT throws_ok(
	$$INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)
	  VALUES (now(), 'reservation', 'x', 'reservation.held', NULL)$$,
	'23502', NULL, 'an outbox event without payload is rejected');
-- a hold with no line (what the columns' defaults make): inv_verify() says so
SELECT results_eq(
	$$SELECT problem FROM inv_verify()
	   WHERE sku = '00000000-0000-0000-0000-0000000000a1' AND problem ~ 'line'$$,
	$$VALUES ('reservation has no line')$$,
	'inv_verify() reports a hold without lines');
DELETE FROM inventory.reservation WHERE id = '00000000-0000-0000-0000-0000000000a1';

-- ---------------------------------------------------------------------
-- indexes
-- ---------------------------------------------------------------------
SELECT indexes_are('inventory', 'stock', ARRAY['stock_pkey']);
SELECT indexes_are('inventory', 'reservation',
	ARRAY['reservation_pkey', 'reservation_idempotency_key_idx',
		  'reservation_held_expires_at_idx', 'reservation_finished_at_idx',
		  'reservation_owner_idx']);
SELECT indexes_are('inventory', 'outbox', ARRAY['outbox_pkey']);
SELECT indexes_are('inventory', 'adjustment', ARRAY['adjustment_pkey', 'adjustment_sku_idx']);
SELECT has_index('inventory', 'reservation', 'reservation_held_expires_at_idx', 'expires_at');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
			WHERE indexrelid = 'inventory.reservation_held_expires_at_idx'::regclass),
	'(state = ''held''::text)', 'reservation_held_expires_at_idx covers held holds only');
SELECT has_index('inventory', 'reservation', 'reservation_finished_at_idx', 'finished_at');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
			WHERE indexrelid = 'inventory.reservation_finished_at_idx'::regclass),
	'(finished_at IS NOT NULL)', 'reservation_finished_at_idx covers finished holds only');
SELECT has_index('inventory', 'adjustment', 'adjustment_sku_idx', 'sku');
SELECT has_index('inventory', 'reservation', 'reservation_owner_idx', 'owner');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
			WHERE indexrelid = 'inventory.reservation_owner_idx'::regclass),
	'(owner IS NOT NULL)', 'reservation_owner_idx holds holds with an owner only');
SELECT index_is_unique('inventory', 'reservation', 'reservation_idempotency_key_idx');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
			WHERE indexrelid = 'inventory.reservation_idempotency_key_idx'::regclass),
	'(idempotency_key IS NOT NULL)', 'reservation_idempotency_key_idx holds keys only');
SELECT index_is_unique('inventory', 'outbox', 'outbox_pkey');

-- ---------------------------------------------------------------------
-- the view
-- ---------------------------------------------------------------------
SELECT columns_are('inventory', 'stock_levels',
	ARRAY['sku', 'on_hand', 'reserved', 'available', 'version', 'updated_at', 'overdue']);
SELECT col_type_is('inventory', 'stock_levels', 'sku', 'text', 'stock_levels.sku is text');
SELECT col_type_is('inventory', 'stock_levels', 'on_hand', 'bigint', 'stock_levels.on_hand is bigint');
SELECT col_type_is('inventory', 'stock_levels', 'reserved', 'bigint', 'stock_levels.reserved is bigint');
SELECT col_type_is('inventory', 'stock_levels', 'available', 'bigint', 'stock_levels.available is bigint');
SELECT col_type_is('inventory', 'stock_levels', 'version', 'bigint', 'stock_levels.version is bigint');
SELECT col_type_is('inventory', 'stock_levels', 'updated_at', 'timestamp with time zone', 'stock_levels.updated_at is timestamp with time zone');
SELECT col_type_is('inventory', 'stock_levels', 'overdue', 'bigint', 'stock_levels.overdue is bigint');

-- ---------------------------------------------------------------------
-- the outbox relay (0.2.0): its state, the consumers, their view
-- ---------------------------------------------------------------------
SELECT columns_are('inventory', 'outbox_horizon',
	ARRAY['onerow', 'safe_seq', 'pending_seq', 'pending_xid']);
SELECT col_type_is('inventory', 'outbox_horizon', 'safe_seq', 'bigint', 'outbox_horizon.safe_seq is bigint');
SELECT col_type_is('inventory', 'outbox_horizon', 'pending_seq', 'bigint', 'outbox_horizon.pending_seq is bigint');
SELECT col_type_is('inventory', 'outbox_horizon', 'pending_xid', 'xid8', 'outbox_horizon.pending_xid is xid8');
SELECT col_is_pk('inventory', 'outbox_horizon', 'onerow',
	'outbox_horizon has a primary key (a replica identity for FOR ALL TABLES publications)');
SELECT results_eq($$SELECT count(*)::int FROM inventory.outbox_horizon$$, ARRAY[1],
	'outbox_horizon has its one row');
SELECT throws_ok($$INSERT INTO inventory.outbox_horizon DEFAULT VALUES$$,
	'23505', NULL, 'outbox_horizon cannot get a second row');
SELECT throws_ok($$UPDATE inventory.outbox_horizon SET pending_seq = 1$$,
	'23514', NULL, 'a pending horizon needs both its seq and its xid');
SELECT columns_are('inventory', 'outbox_consumer',
	ARRAY['consumer', 'acked_seq', 'subscribed_at', 'acked_at']);
SELECT col_type_is('inventory', 'outbox_consumer', 'consumer', 'text', 'outbox_consumer.consumer is text');
SELECT col_type_is('inventory', 'outbox_consumer', 'acked_seq', 'bigint', 'outbox_consumer.acked_seq is bigint');
SELECT col_type_is('inventory', 'outbox_consumer', 'subscribed_at', 'timestamp with time zone', 'outbox_consumer.subscribed_at is timestamp with time zone');
SELECT col_type_is('inventory', 'outbox_consumer', 'acked_at', 'timestamp with time zone', 'outbox_consumer.acked_at is timestamp with time zone');
SELECT col_not_null('inventory', 'outbox_consumer', 'acked_seq', 'outbox_consumer.acked_seq is NOT NULL');
SELECT col_is_null('inventory', 'outbox_consumer', 'acked_at', 'outbox_consumer.acked_at is NULL until the first ack');

-- retention's notes (0.2.0)
SELECT columns_are('inventory', 'purged_sales', ARRAY['sku', 'qty']);
SELECT col_is_pk('inventory', 'purged_sales', 'sku', 'purged_sales has one row per SKU');
SELECT columns_are('inventory', 'purge_state', ARRAY['singleton', 'events_before']);
SELECT throws_ok($$INSERT INTO inventory.purge_state VALUES (false, now())$$,
	'23514', NULL, 'purge_state has at most one row');
-- statistics (0.2.0)
SELECT columns_are('inventory', 'stats',
	ARRAY['reserves', 'replays', 'refused_insufficient_stock', 'refused_unknown_sku',
		  'commits', 'releases', 'expirations', 'sweeps', 'last_sweep_at', 'last_sweep_ms',
		  'overdue_holds', 'oldest_overdue_age', 'outbox_backlog', 'purged_holds',
		  'purged_events', 'sweeper_pid', 'stats_since']);
SELECT is((SELECT count(*) FROM inventory.stats), 1::bigint, 'inventory.stats has one row');
SELECT col_is_pk('inventory', 'outbox_consumer', 'consumer', 'outbox_consumer primary key is (consumer)');
SELECT indexes_are('inventory', 'outbox_horizon', ARRAY['outbox_horizon_pkey']);
SELECT indexes_are('inventory', 'outbox_consumer', ARRAY['outbox_consumer_pkey']);
SELECT columns_are('inventory', 'outbox_consumers',
	ARRAY['consumer', 'acked_seq', 'backlog', 'subscribed_at', 'acked_at']);
SELECT col_type_is('inventory', 'outbox_consumers', 'backlog', 'bigint', 'outbox_consumers.backlog is bigint');
-- the horizon's bound needs seqs handed out in time order: no cached values
SELECT results_eq(
	$$SELECT cache_size FROM pg_sequences
	   WHERE schemaname = 'inventory' AND sequencename = 'outbox_seq_seq'$$,
	ARRAY[1::bigint], 'inventory.outbox_seq_seq has CACHE 1');

-- ---------------------------------------------------------------------
-- the SKUs' own limits (0.4.0)
-- ---------------------------------------------------------------------
SELECT columns_are('inventory', 'sku_limit',
	ARRAY['sku', 'max_units_per_owner', 'owner_window', 'updated_at']);
SELECT col_is_pk('inventory', 'sku_limit', 'sku', 'sku_limit has one row per SKU');
SELECT col_type_is('inventory', 'sku_limit', 'max_units_per_owner', 'bigint', 'sku_limit.max_units_per_owner is bigint');
SELECT col_type_is('inventory', 'sku_limit', 'owner_window', 'interval', 'sku_limit.owner_window is interval');
SELECT col_not_null('inventory', 'sku_limit', 'max_units_per_owner', 'sku_limit.max_units_per_owner is NOT NULL');
SELECT col_is_null('inventory', 'sku_limit', 'owner_window', 'sku_limit.owner_window allows NULL (the setting''s window)');
SELECT col_not_null('inventory', 'sku_limit', 'updated_at', 'sku_limit.updated_at is NOT NULL');
SELECT indexes_are('inventory', 'sku_limit', ARRAY['sku_limit_pkey']);
SELECT throws_ok($$INSERT INTO inventory.sku_limit (sku, max_units_per_owner) VALUES ('tap-sku', -1)$$,
	'23514', NULL, 'a negative limit is rejected');
SELECT throws_ok($$INSERT INTO inventory.sku_limit (sku, max_units_per_owner, owner_window)
				   VALUES ('tap-sku', 1, '-1 day')$$,
	'23514', NULL, 'a negative window is rejected');
-- every change of it, by any statement, tells the backends to read it again
SELECT trigger_is('inventory', 'sku_limit', 'sku_limit_changed', 'inventory', 'sku_limit_changed',
	'a change of sku_limit runs inventory.sku_limit_changed()');
SELECT is((SELECT tgtype::int & 127 FROM pg_trigger
			WHERE tgrelid = 'inventory.sku_limit'::regclass AND tgname = 'sku_limit_changed'),
	60, 'the trigger runs once per INSERT, UPDATE, DELETE and TRUNCATE statement, after it');

-- ---------------------------------------------------------------------
-- functions: signature, result, SECURITY DEFINER, language, volatility
-- ---------------------------------------------------------------------
SELECT has_function(:'extschema', 'inv_set_stock', ARRAY['text', 'bigint', 'text']);
SELECT has_function(:'extschema', 'inv_adjust', ARRAY['text', 'bigint', 'text', 'bigint']);
SELECT has_function(:'extschema', 'inv_stock', ARRAY['text']);
SELECT has_function(:'extschema', 'inv_available', ARRAY['text']);
SELECT has_function(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text']);
SELECT has_function(:'extschema', 'inv_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text']);
SELECT has_function(:'extschema', 'inv_try_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text']);
SELECT has_function(:'extschema', 'inv_commit', ARRAY['uuid', 'text']);
SELECT has_function(:'extschema', 'inv_release', ARRAY['uuid', 'text']);
SELECT has_function(:'extschema', 'inv_extend', ARRAY['uuid', 'interval']);
SELECT has_function(:'extschema', 'inv_sweep', ARRAY['integer']);
SELECT has_function(:'extschema', 'inv_verify', ARRAY[]::name[]);
SELECT has_function(:'extschema', 'inv_outbox_subscribe', ARRAY['text', 'bigint']);
SELECT has_function(:'extschema', 'inv_outbox_unsubscribe', ARRAY['text']);
SELECT has_function(:'extschema', 'inv_outbox_next', ARRAY['text', 'integer']);
SELECT has_function(:'extschema', 'inv_outbox_ack', ARRAY['text', 'bigint']);
SELECT has_function(:'extschema', 'inv_set_sku_limit', ARRAY['text', 'bigint', 'interval']);

SELECT function_returns(:'extschema', 'inv_set_stock', ARRAY['text', 'bigint', 'text'], 'bigint');
SELECT function_returns(:'extschema', 'inv_adjust', ARRAY['text', 'bigint', 'text', 'bigint'], 'bigint');
SELECT function_returns(:'extschema', 'inv_stock', ARRAY['text'], 'setof record');
SELECT function_returns(:'extschema', 'inv_available', ARRAY['text'], 'bigint');
SELECT function_returns(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text'], 'uuid');
SELECT function_returns(:'extschema', 'inv_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'], 'uuid');
SELECT function_returns(:'extschema', 'inv_try_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'], 'setof record');
SELECT function_returns(:'extschema', 'inv_commit', ARRAY['uuid', 'text'], 'boolean');
SELECT function_returns(:'extschema', 'inv_release', ARRAY['uuid', 'text'], 'boolean');
SELECT function_returns(:'extschema', 'inv_extend', ARRAY['uuid', 'interval'], 'timestamp with time zone');
SELECT function_returns(:'extschema', 'inv_sweep', ARRAY['integer'], 'integer');
SELECT function_returns(:'extschema', 'inv_verify', ARRAY[]::name[], 'setof record');
SELECT function_returns(:'extschema', 'inv_outbox_subscribe', ARRAY['text', 'bigint'], 'bigint');
SELECT function_returns(:'extschema', 'inv_outbox_unsubscribe', ARRAY['text'], 'boolean');
SELECT function_returns(:'extschema', 'inv_outbox_next', ARRAY['text', 'integer'], 'setof inventory.outbox');
SELECT function_returns(:'extschema', 'inv_outbox_ack', ARRAY['text', 'bigint'], 'bigint');
SELECT function_returns(:'extschema', 'inv_set_sku_limit', ARRAY['text', 'bigint', 'interval'], 'bigint');

-- the columns of the set-returning functions
SELECT is(pg_get_function_result(format('%I.inv_stock(text)', :'extschema')::regprocedure),
	'TABLE(sku text, on_hand bigint, reserved bigint, available bigint, version bigint, updated_at timestamp with time zone)',
	'inv_stock returns (sku, on_hand, reserved, available, version, updated_at)');
SELECT is(pg_get_function_result(format('%I.inv_try_reserve_cart(jsonb, interval, text, text)', :'extschema')::regprocedure),
	'TABLE(reservation_id uuid, status text, shortfall jsonb)',
	'inv_try_reserve_cart returns (reservation_id, status, shortfall)');
SELECT is(pg_get_function_result(format('%I.inv_verify()', :'extschema')::regprocedure),
	'TABLE(sku text, problem text, expected bigint, actual bigint)',
	'inv_verify returns (sku, problem, expected, actual)');

SELECT is_definer(:'extschema', 'inv_set_stock', ARRAY['text', 'bigint', 'text']);
SELECT is_definer(:'extschema', 'inv_adjust', ARRAY['text', 'bigint', 'text', 'bigint']);
SELECT is_definer(:'extschema', 'inv_stock', ARRAY['text']);
SELECT is_definer(:'extschema', 'inv_available', ARRAY['text']);
SELECT is_definer(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text']);
SELECT is_definer(:'extschema', 'inv_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text']);
SELECT is_definer(:'extschema', 'inv_try_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text']);
SELECT is_definer(:'extschema', 'inv_commit', ARRAY['uuid', 'text']);
SELECT is_definer(:'extschema', 'inv_release', ARRAY['uuid', 'text']);
SELECT is_definer(:'extschema', 'inv_extend', ARRAY['uuid', 'interval']);
SELECT is_definer(:'extschema', 'inv_sweep', ARRAY['integer']);
SELECT is_definer(:'extschema', 'inv_verify', ARRAY[]::name[]);
SELECT is_definer(:'extschema', 'inv_outbox_subscribe', ARRAY['text', 'bigint']);
SELECT is_definer(:'extschema', 'inv_outbox_unsubscribe', ARRAY['text']);
SELECT is_definer(:'extschema', 'inv_outbox_next', ARRAY['text', 'integer']);
SELECT is_definer(:'extschema', 'inv_outbox_ack', ARRAY['text', 'bigint']);
SELECT is_definer(:'extschema', 'inv_set_sku_limit', ARRAY['text', 'bigint', 'interval']);

SELECT function_lang_is(:'extschema', 'inv_set_stock', ARRAY['text', 'bigint', 'text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_adjust', ARRAY['text', 'bigint', 'text', 'bigint'], 'c');
SELECT function_lang_is(:'extschema', 'inv_stock', ARRAY['text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_available', ARRAY['text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_try_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_commit', ARRAY['uuid', 'text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_release', ARRAY['uuid', 'text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_extend', ARRAY['uuid', 'interval'], 'c');
SELECT function_lang_is(:'extschema', 'inv_sweep', ARRAY['integer'], 'c');
SELECT function_lang_is(:'extschema', 'inv_verify', ARRAY[]::name[], 'sql');
SELECT function_lang_is(:'extschema', 'inv_outbox_subscribe', ARRAY['text', 'bigint'], 'c');
SELECT function_lang_is(:'extschema', 'inv_outbox_unsubscribe', ARRAY['text'], 'c');
SELECT function_lang_is(:'extschema', 'inv_outbox_next', ARRAY['text', 'integer'], 'c');
SELECT function_lang_is(:'extschema', 'inv_outbox_ack', ARRAY['text', 'bigint'], 'c');
SELECT function_lang_is(:'extschema', 'inv_set_sku_limit', ARRAY['text', 'bigint', 'interval'], 'c');

SELECT volatility_is(:'extschema', 'inv_set_stock', ARRAY['text', 'bigint', 'text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_adjust', ARRAY['text', 'bigint', 'text', 'bigint'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_stock', ARRAY['text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_available', ARRAY['text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_reserve', ARRAY['text', 'bigint', 'interval', 'text', 'text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_try_reserve_cart', ARRAY['jsonb', 'interval', 'text', 'text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_commit', ARRAY['uuid', 'text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_release', ARRAY['uuid', 'text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_extend', ARRAY['uuid', 'interval'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_sweep', ARRAY['integer'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_verify', ARRAY[]::name[], 'stable');
SELECT volatility_is(:'extschema', 'inv_outbox_subscribe', ARRAY['text', 'bigint'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_outbox_unsubscribe', ARRAY['text'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_outbox_next', ARRAY['text', 'integer'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_outbox_ack', ARRAY['text', 'bigint'], 'volatile');
SELECT volatility_is(:'extschema', 'inv_set_sku_limit', ARRAY['text', 'bigint', 'interval'], 'volatile');

-- every function of the extension pins search_path (a SECURITY DEFINER
-- function without it can be hijacked through the caller's search_path);
-- but inventory.lock_sales, which every commit calls: a C function that
-- looks nothing up by name, closed to PUBLIC, and not SECURITY DEFINER,
-- where a SET would cost each commit a save and restore of the setting
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text, p.proconfig
		FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	   WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
		 AND d.refclassid = 'pg_extension'::regclass
		 AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
		 AND p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp']
		 AND p.oid <> 'inventory.lock_sales(text[])'::regprocedure$$,
	'every function of the extension has SET search_path = pg_catalog, pg_temp');

-- ---------------------------------------------------------------------
-- where the extension's objects live
-- ---------------------------------------------------------------------
SELECT set_eq(
	$$SELECT n.nspname::text, p.proname::text
		FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
		JOIN pg_namespace n ON n.oid = p.pronamespace
	   WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
		 AND d.refclassid = 'pg_extension'::regclass
		 AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')$$,
	format($$SELECT %L::text, f FROM unnest(ARRAY['inv_set_stock', 'inv_adjust', 'inv_stock',
		'inv_available', 'inv_reserve', 'inv_reserve_cart', 'inv_try_reserve_cart',
		'inv_commit', 'inv_release', 'inv_extend', 'inv_sweep', 'inv_verify',
		'inv_outbox_subscribe', 'inv_outbox_unsubscribe', 'inv_outbox_next',
		'inv_outbox_ack', 'inv_purge', 'inv_stats_reset', 'inv_set_sku_limit']) f
	   UNION ALL VALUES ('inventory', 'stats_counters'), ('inventory', 'worker_wake'),
						('inventory', 'lock_sales'), ('inventory', 'sku_limit_changed')$$,
		:'extschema'),
	'the extension''s functions are exactly the inv_* functions of the contract, all in its schema, and four internal ones in schema inventory');
SELECT set_eq(
	$$SELECT n.nspname::text, c.relname::text, c.relkind::text
		FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
		JOIN pg_namespace n ON n.oid = c.relnamespace
	   WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
		 AND d.refclassid = 'pg_extension'::regclass
		 AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')$$,
	$$VALUES ('inventory', 'stock', 'r'), ('inventory', 'reservation', 'r'),
			 ('inventory', 'reservation_line', 'v'), ('inventory', 'outbox', 'r'),
			 ('inventory', 'adjustment', 'r'), ('inventory', 'stock_levels', 'v'),
			 ('inventory', 'outbox_seq_seq', 'S'), ('inventory', 'adjustment_id_seq', 'S'),
			 ('inventory', 'outbox_horizon', 'r'), ('inventory', 'outbox_consumer', 'r'),
			 ('inventory', 'outbox_consumers', 'v'), ('inventory', 'purged_sales', 'r'),
			 ('inventory', 'purge_state', 'r'), ('inventory', 'stats', 'v'),
			 ('inventory', 'sku_limit', 'r')$$,
	'the extension''s tables, view and sequences all sit in schema inventory');
SELECT set_eq(
	$$SELECT proname::text FROM pg_proc WHERE pronamespace = 'inventory'::regnamespace$$,
	ARRAY['stats_counters', 'worker_wake', 'lock_sales', 'sku_limit_changed'],
	'schema inventory holds no functions but the four internal ones');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'inventory'),
	false, 'the extension is not relocatable (the tables'' schema is chosen once, at install)');

-- ---------------------------------------------------------------------
-- pg_dump: the config tables and their sequences are registered
-- ---------------------------------------------------------------------
SELECT set_eq(
	$$SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) c
	   WHERE e.extname = 'inventory'$$,
	ARRAY['inventory.stock', 'inventory.reservation',
		  'inventory.outbox', 'inventory.outbox_seq_seq',
		  'inventory.adjustment', 'inventory.adjustment_id_seq',
		  'inventory.outbox_consumer', 'inventory.purged_sales', 'inventory.purge_state',
		  'inventory.sku_limit'],
	'pg_extension.extconfig lists every table of user data and its identity sequence (not outbox_horizon: it starts again at 0 after a restore)');
SELECT is((SELECT array_length(extconfig, 1) = array_length(extcondition, 1)
			  AND coalesce(array_position(extcondition, NULL), 0) = 0
			  AND extcondition <@ ARRAY['']
			 FROM pg_extension WHERE extname = 'inventory'),
	true, 'pg_dump keeps every row of the config tables (empty filter conditions)');

SELECT * FROM finish();
ROLLBACK;
