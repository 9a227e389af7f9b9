--
-- reserve: inv_reserve, its hold, its event, its ttl and settings, its
-- refusals, idempotency keys, the reclaim of overdue holds, savepoints.
-- SKUs: RSV-*
--

SELECT inv_set_stock('RSV-A', 10);

--
-- A hold: held, one line, reserved and version go up, one held event
--
SELECT test_mark() AS mark \gset
SELECT test_keep('rsv1', inv_reserve('RSV-A', 3, NULL, NULL, 'alice')) AS rsv1 \gset
SELECT * FROM test_stock('RSV-A');
SELECT * FROM test_holds('RSV-A');
SELECT * FROM test_events(:mark);
-- every key of a reservation event
SELECT array_agg(k ORDER BY k COLLATE "C") AS payload_keys
  FROM inventory.outbox o, jsonb_object_keys(o.payload) k
 WHERE o.seq > :mark;
-- the payload carries the hold's expiry, the envelope its creation
SELECT (o.payload->>'expires_at')::timestamptz = r.expires_at AS expires_ok,
       o.occurred_at = r.created_at AS created_ok,
       NOT o.payload ?| '{finished_at,state,reservation_id,created_at,at}' AS lean
  FROM inventory.outbox o JOIN inventory.reservation r ON r.id::text = o.aggregateid
 WHERE o.seq > :mark;
-- no ttl given: inventory.default_ttl, 5 minutes
SELECT expires_at - created_at AS ttl FROM inventory.reservation WHERE id = :'rsv1';
SELECT inv_available('RSV-A');
SELECT sku, on_hand, reserved, available FROM inv_stock('RSV-A');

-- a ttl given
SELECT test_keep('rsv2', inv_reserve('RSV-A', 1, '20 minutes')) AS rsv2 \gset
SELECT expires_at - created_at AS ttl FROM inventory.reservation WHERE id = :'rsv2';

--
-- The last units: a reserve may take exactly what is available, no more
--
SELECT inv_set_stock('RSV-L', 2);
SELECT test_keep('rsv3', inv_reserve('RSV-L', 2)) IS NOT NULL AS reserved;
SELECT * FROM test_stock('RSV-L');
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve('RSV-L', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- Settings
--
-- inventory.default_ttl is the ttl of a hold taken without one
SET inventory.default_ttl = '42min';
SELECT test_keep('rsv4', inv_reserve('RSV-A', 1)) AS rsv4 \gset
SELECT expires_at - created_at AS ttl FROM inventory.reservation WHERE id = :'rsv4';
RESET inventory.default_ttl;
-- inventory.max_ttl caps the ttl given (IV007), inclusive
SET inventory.max_ttl = '10min';
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve('RSV-A', 1, '601 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', 1, '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT test_keep('rsv5', inv_reserve('RSV-A', 1, '10 minutes')) AS rsv5 \gset
SELECT expires_at - created_at AS ttl FROM inventory.reservation WHERE id = :'rsv5';
-- ... and bounds inventory.default_ttl too: while the default is above the
-- limit, a hold taken without a ttl is refused (IV007)
SET inventory.default_ttl = '20min';
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve('RSV-A', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_try_reserve_cart('[{"sku": "RSV-A", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
RESET inventory.default_ttl;
RESET inventory.max_ttl;
SHOW inventory.max_ttl;

--
-- Bad input: 22004 for NULL, 22023 for a bad value, naming the argument;
-- unknown SKU: IV002.  Nothing changes.
--
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve(repeat('x', 257), 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', 1, '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', 1, '-5 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', 1, '1 minute', '');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', 1, '1 minute', repeat('k', 257));
\echo :LAST_ERROR_SQLSTATE
-- a ttl beyond the range of timestamps is just as much a bad ttl
SELECT inv_reserve('RSV-A', 1, '-300000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-A', 1, '300000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve('RSV-NONE', 1);
\echo :LAST_ERROR_SQLSTATE
-- more than there is
SELECT inv_reserve('RSV-A', 100);
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- Idempotency keys: the same request returns the same hold and writes
-- nothing; the same key for another request is IV006
--
SELECT test_keep('rsvk', inv_reserve('RSV-A', 2, '5 minutes', 'rsv-key-1', 'bob')) AS rsvk \gset
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve('RSV-A', 2, '5 minutes', 'rsv-key-1', 'bob') = :'rsvk' AS same_hold;
-- the ttl is not part of the request
SELECT inv_reserve('RSV-A', 2, NULL, 'rsv-key-1', 'bob') = :'rsvk' AS same_hold;
-- nor is the function: the same single line through inv_reserve_cart
SELECT inv_reserve_cart('[{"sku": "RSV-A", "qty": 2}]', NULL, 'rsv-key-1', 'bob') = :'rsvk' AS same_hold;
SELECT status, shortfall FROM inv_try_reserve_cart('[{"sku": "RSV-A", "qty": 2}]', NULL, 'rsv-key-1', 'bob');
SELECT reservation_id = :'rsvk' AS same_hold
  FROM inv_try_reserve_cart('[{"sku": "RSV-A", "qty": 2}]', NULL, 'rsv-key-1', 'bob');
SELECT test_fingerprint() = :'fp' AS unchanged;
-- other qty, other SKU, other owner, no owner: IV006, nothing changes
SELECT * FROM test_error($$SELECT inv_reserve('RSV-A', 3, NULL, 'rsv-key-1', 'bob')$$);
SELECT * FROM test_error($$SELECT inv_reserve('RSV-L', 2, NULL, 'rsv-key-1', 'bob')$$);
SELECT * FROM test_error($$SELECT inv_reserve('RSV-A', 2, NULL, 'rsv-key-1', 'carol')$$);
SELECT * FROM test_error($$SELECT inv_reserve('RSV-A', 2, NULL, 'rsv-key-1')$$);
-- the key is checked before the SKU
SELECT * FROM test_error($$SELECT inv_reserve('RSV-NONE', 2, NULL, 'rsv-key-1', 'bob')$$);
SELECT test_fingerprint() = :'fp' AS unchanged;
-- the same key without an owner the first time: an owner later is IV006
SELECT test_keep('rsvk2', inv_reserve('RSV-A', 1, NULL, 'rsv-key-2')) AS rsvk2 \gset
SELECT inv_reserve('RSV-A', 1, NULL, 'rsv-key-2') = :'rsvk2' AS same_hold;
SELECT * FROM test_error($$SELECT inv_reserve('RSV-A', 1, NULL, 'rsv-key-2', 'bob')$$);
SELECT * FROM test_holds('RSV-A');
SELECT * FROM test_stock('RSV-A');

--
-- A hold past its ttl no longer counts, before any sweep
--
SELECT inv_set_stock('RSV-R', 5);
SELECT test_keep('rsv6', inv_reserve('RSV-R', 4, '100 milliseconds')) AS rsv6 \gset
SELECT test_keep('rsv7', inv_reserve('RSV-R', 1)) AS rsv7 \gset
SELECT pg_sleep(0.3);
SELECT * FROM test_stock('RSV-R');
SELECT inv_available('RSV-R');
SELECT sku, on_hand, reserved, available FROM inv_stock('RSV-R');
SELECT * FROM test_holds('RSV-R');

-- a reserve that finds too little stock reclaims the SKU's overdue holds on
-- the spot: rsv6 expires (with its event) and its units go to rsv8
SELECT test_mark() AS mark \gset
SELECT test_keep('rsv8', inv_reserve('RSV-R', 4)) AS rsv8 \gset
SELECT * FROM test_stock('RSV-R');
SELECT * FROM test_holds('RSV-R');
SELECT * FROM test_events(:mark);

-- when even the overdue units are not enough it refuses, and reclaims
-- nothing: the overdue hold is still held
SELECT inv_set_stock('RSV-S', 5);
SELECT test_keep('rsv9', inv_reserve('RSV-S', 3, '100 milliseconds')) AS rsv9 \gset
SELECT test_keep('rsv10', inv_reserve('RSV-S', 1)) AS rsv10 \gset
SELECT pg_sleep(0.3);
SELECT * FROM test_stock('RSV-S');
SELECT test_fingerprint() AS fp \gset
-- 5 wanted, 4 available (1 free + 3 overdue)
SELECT inv_reserve('RSV-S', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT * FROM test_holds('RSV-S');
-- a reserve that fits in the free units leaves the overdue hold to the sweep
SELECT test_keep('rsv11', inv_reserve('RSV-S', 1)) IS NOT NULL AS reserved;
SELECT * FROM test_holds('RSV-S');
SELECT * FROM test_stock('RSV-S');

-- a reclaim expires only the overdue holds it needs, oldest expiry first:
-- 2 units wanted, 5 overdue holds of 1 unit, so the 2 oldest expire and
-- the other 3 are left to the sweep
SELECT inv_set_stock('RSV-T', 5);
SELECT count(test_keep('rsv-t' || i, inv_reserve('RSV-T', 1, ((100 + 10 * i) || ' milliseconds')::interval)))
  AS held FROM generate_series(1, 5) i;
SELECT pg_sleep(0.3);
SELECT test_mark() AS mark \gset
SELECT test_keep('rsv-t6', inv_reserve('RSV-T', 2)) IS NOT NULL AS reserved;
SELECT hold, state FROM test_holds('RSV-T');
SELECT * FROM test_stock('RSV-T');
SELECT type, subject FROM test_events(:mark) ORDER BY type, subject;

--
-- Rolling back to a savepoint undoes the hold, the stock and the event
--
BEGIN;
SELECT test_fingerprint() AS fp \gset
SELECT test_mark() AS mark \gset
SAVEPOINT before_hold;
SELECT test_keep('rsv12', inv_reserve('RSV-A', 1)) IS NOT NULL AS reserved;
SELECT on_hand, reserved FROM inventory.stock_levels WHERE sku = 'RSV-A';
SELECT type, subject FROM test_events(:mark);
ROLLBACK TO SAVEPOINT before_hold;
SELECT on_hand, reserved FROM inventory.stock_levels WHERE sku = 'RSV-A';
SELECT count(*) AS events FROM test_events(:mark);
SELECT test_fingerprint() = :'fp' AS unchanged;
COMMIT;
SELECT count(*) AS rolled_back_holds FROM test_hold WHERE label = 'rsv12';

--
-- In a read-only transaction (and so on a hot standby, where every
-- transaction is) each function that writes refuses with 25006 and its
-- name, before anything else; the reads answer.  Nothing changes.
--
CREATE FUNCTION pg_temp.attempt(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'answered';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT test_fingerprint() AS fp \gset
BEGIN READ ONLY;
SELECT f, pg_temp.attempt('SELECT ' || f) AS outcome FROM (VALUES
	('inv_reserve(''RSV-A'', 1)'),
	('inv_reserve_cart(''[{"sku": "RSV-A", "qty": 1}]'')'),
	('inv_try_reserve_cart(''[{"sku": "RSV-A", "qty": 1}]'')'),
	('inv_commit(''00000000-0000-0000-0000-000000000000'')'),
	('inv_release(''00000000-0000-0000-0000-000000000000'')'),
	('inv_extend(''00000000-0000-0000-0000-000000000000'', ''1 minute'')'),
	('inv_sweep()'),
	('inv_set_stock(''RSV-A'', 100)'),
	('inv_adjust(''RSV-A'', 1)'),
	('inv_purge()'),
	('inv_outbox_subscribe(''ro-relay'')'),
	('inv_outbox_next(''ro-relay'')'),
	('inv_outbox_ack(''ro-relay'', 0)'),
	('inv_outbox_unsubscribe(''ro-relay'')'),
	('inv_stock(''RSV-A'')'),
	('inv_available(''RSV-A'')'),
	('inv_verify()')) AS v(f);
ROLLBACK;
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- A reserve and a commit write their rows without a statement (src/rows.c),
-- which keeps the tables' CHECK constraints planned per session: they hold
-- there as in any INSERT or UPDATE, and a constraint replaced in the same
-- session is the one checked (the same number of constraints, another text).
--
SELECT inv_set_stock('CHK-A', 10) IS NOT NULL AS created;
SELECT inv_reserve('CHK-A', 1) IS NOT NULL AS reserved;
ALTER TABLE inventory.stock
	ADD CONSTRAINT test_keep CHECK (sku <> 'CHK-A' OR available >= 5);
SELECT pg_temp.attempt($$SELECT inv_reserve('CHK-A', 5)$$) AS below_five;
ALTER TABLE inventory.stock DROP CONSTRAINT test_keep,
	ADD CONSTRAINT test_keep CHECK (sku <> 'CHK-A' OR available >= 8);
SELECT pg_temp.attempt($$SELECT inv_reserve('CHK-A', 2)$$) AS below_eight;
SELECT pg_temp.attempt($$SELECT inv_reserve('CHK-A', 1)$$) AS down_to_eight;
ALTER TABLE inventory.stock DROP CONSTRAINT test_keep;
ALTER TABLE inventory.reservation
	ADD CONSTRAINT test_no_forbidden CHECK (reference IS DISTINCT FROM 'forbidden');
SELECT inv_reserve('CHK-A', 1, idempotency_key => 'chk-1') IS NOT NULL AS reserved;
SELECT pg_temp.attempt($$SELECT inv_commit(id, 'forbidden')
                          FROM inventory.reservation WHERE idempotency_key = 'chk-1'$$) AS forbidden;
SELECT inv_commit(id, 'allowed') FROM inventory.reservation WHERE idempotency_key = 'chk-1';
ALTER TABLE inventory.reservation DROP CONSTRAINT test_no_forbidden;
SELECT available FROM inv_stock('CHK-A');
SELECT count(*) AS problems FROM inv_verify();
