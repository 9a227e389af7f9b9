--
-- commit_release: inv_commit, inv_release, inv_extend; the states of a
-- hold, fencing of holds past their expiry (swept or not), and replays of
-- idempotency keys whatever the hold's state.
-- SKUs: CR-*
--

SELECT inv_set_stock('CR-A', 10);
SELECT inv_set_stock('CR-B', 10);

--
-- inv_commit: the units are sold (on_hand and reserved drop), with the
-- reference; true
--
SELECT test_keep('cr1', inv_reserve_cart('[{"sku": "CR-A", "qty": 2}, {"sku": "CR-B", "qty": 1}]',
       NULL, NULL, 'hank')) AS cr1 \gset
SELECT * FROM test_stock('CR-_');
SELECT test_mark() AS mark \gset
SELECT inv_commit(:'cr1', 'order-1001');
SELECT * FROM test_stock('CR-_');
SELECT * FROM test_holds('CR-_');
SELECT * FROM test_events(:mark);
-- committed again: false, and nothing is written
SELECT test_fingerprint() AS fp \gset
SELECT inv_commit(:'cr1', 'order-1001');
SELECT inv_commit(:'cr1', 'order-9999');
SELECT inv_commit(:'cr1');
SELECT test_fingerprint() = :'fp' AS unchanged;
-- the reference is optional
SELECT test_keep('cr2', inv_reserve('CR-A', 1)) AS cr2 \gset
SELECT inv_commit(:'cr2');
SELECT hold, state, reference FROM test_holds('CR-A') WHERE hold = 'cr2';

--
-- inv_release: the units go back on sale, with the reason; true
--
SELECT test_keep('cr3', inv_reserve('CR-A', 3, NULL, NULL, 'ivan')) AS cr3 \gset
SELECT test_mark() AS mark \gset
SELECT inv_release(:'cr3', 'payment failed');
SELECT * FROM test_stock('CR-A');
SELECT * FROM test_holds('CR-A');
SELECT * FROM test_events(:mark);
-- released again: false, and nothing is written
SELECT test_fingerprint() AS fp \gset
SELECT inv_release(:'cr3', 'payment failed');
SELECT inv_release(:'cr3');
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- inv_extend: a hold in force gets expiry now + ttl, and an extended
-- event; the stock is not touched
--
SELECT test_keep('cr4', inv_reserve('CR-B', 1, '3 seconds')) AS cr4 \gset
SELECT version AS v FROM inventory.stock WHERE sku = 'CR-B' \gset
SELECT test_mark() AS mark \gset
SELECT now() AS t0 \gset
SELECT inv_extend(:'cr4', '5 minutes') AS expiry \gset
SELECT expires_at = :'expiry' AS returned_expiry,
       expires_at >= :'t0'::timestamptz + interval '5 minutes' AS after_now_plus_ttl,
       expires_at <= clock_timestamp() + interval '5 minutes' AS not_later
  FROM inventory.reservation WHERE id = :'cr4';
SELECT * FROM test_events(:mark);
SELECT (payload->>'expires_at')::timestamptz = :'expiry' AS payload_has_new_expiry
  FROM inventory.outbox WHERE seq > :mark;
SELECT version = :v AS stock_untouched FROM inventory.stock WHERE sku = 'CR-B';
-- it outlives its first ttl: commit after it has passed
SELECT pg_sleep(3.1);
SELECT inv_commit(:'cr4');
-- inventory.max_ttl applies to extensions too (IV007)
SELECT test_keep('cr5', inv_reserve('CR-B', 1)) AS cr5 \gset
SELECT test_fingerprint() AS fp \gset
SELECT inv_extend(:'cr5', '2 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_extend(:'cr5', '300000 years');
\echo :LAST_ERROR_SQLSTATE
SET inventory.max_ttl = '10s';
SELECT inv_extend(:'cr5', '11 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
-- exactly max_ttl is fine
SELECT inv_extend(:'cr5', '10 seconds') AS new_expiry \gset
SELECT :'new_expiry'::timestamptz - clock_timestamp() BETWEEN '9 seconds' AND '10 seconds' AS about_10s,
       (SELECT expires_at FROM inventory.reservation WHERE id = :'cr5') = :'new_expiry' AS stored;
RESET inventory.max_ttl;
SELECT inv_extend(:'cr5', '5 minutes') AS new_expiry \gset
SELECT :'new_expiry'::timestamptz - clock_timestamp() BETWEEN '4 min 59 s' AND '5 minutes' AS about_5min,
       (SELECT expires_at FROM inventory.reservation WHERE id = :'cr5') = :'new_expiry' AS stored;

--
-- Bad input (22004, 22023) and unknown ids (IV003); nothing changes
--
SELECT test_fingerprint() AS fp \gset
SELECT inv_commit(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_commit(NULL, 'order-1');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_release(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_extend(NULL, '1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_extend(:'cr5', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_extend(:'cr5', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_extend(:'cr5', '-1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_commit('00000000-0000-0000-0000-000000000000');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_release('00000000-0000-0000-0000-000000000000');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_extend('00000000-0000-0000-0000-000000000000', '1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- A finished hold stays finished (IV005): no commit of a released hold, no
-- release of a committed one, no extension of either
--
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error(format('SELECT inv_commit(%L)', :'cr3'));
SELECT * FROM test_error(format('SELECT inv_release(%L)', :'cr1'));
SELECT * FROM test_error(format('SELECT inv_release(%L, %L)', :'cr1', 'refund'));
SELECT * FROM test_error(format('SELECT inv_extend(%L, %L)', :'cr1', '1 minute'));
SELECT * FROM test_error(format('SELECT inv_extend(%L, %L)', :'cr3', '1 minute'));
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- Expired by a sweep: no commit, no extension (IV004); release is false
--
SELECT test_keep('cr6', inv_reserve('CR-A', 1, '100 milliseconds')) AS cr6 \gset
SELECT pg_sleep(0.3);
SELECT inv_sweep() >= 1 AS swept;
SELECT hold, state, finished FROM test_holds('CR-A') WHERE hold = 'cr6';
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error(format('SELECT inv_commit(%L)', :'cr6'));
SELECT * FROM test_error(format('SELECT inv_extend(%L, %L)', :'cr6', '1 minute'));
SELECT inv_release(:'cr6');
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- Fencing: past its expiry and not swept yet, a hold is expired all the same
--
SELECT test_keep('cr7', inv_reserve('CR-B', 2, '100 milliseconds')) AS cr7 \gset
SELECT test_keep('crk3', inv_reserve('CR-B', 1, '100 milliseconds', 'cr-key-3')) AS crk3 \gset
SELECT pg_sleep(0.3);
SELECT * FROM test_stock('CR-B');
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error(format('SELECT inv_commit(%L, %L)', :'cr7', 'order-1002'));
SELECT * FROM test_error(format('SELECT inv_extend(%L, %L)', :'cr7', '5 minutes'));
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT hold, state FROM test_holds('CR-B') WHERE hold = 'cr7';
-- a replay of its key returns the same hold, and does not revive it
SELECT inv_reserve('CR-B', 1, NULL, 'cr-key-3') = :'crk3' AS same_hold;
SELECT test_fingerprint() = :'fp' AS unchanged;
-- inv_release of such a hold expires it on the spot: false, expired event
SELECT test_mark() AS mark \gset
SELECT inv_release(:'cr7', 'too late');
SELECT hold, state, reason, finished FROM test_holds('CR-B') WHERE hold = 'cr7';
SELECT * FROM test_events(:mark);
SELECT * FROM test_stock('CR-B');
-- and it stays expired
SELECT test_fingerprint() AS fp \gset
SELECT inv_release(:'cr7');
SELECT * FROM test_error(format('SELECT inv_commit(%L)', :'cr7'));
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- Replays of an idempotency key return the same hold whatever its state,
-- and write nothing
--
SELECT test_keep('crk1', inv_reserve('CR-A', 1, NULL, 'cr-key-1', 'judy')) AS crk1 \gset
SELECT inv_commit(:'crk1');
SELECT test_keep('crk2', inv_reserve('CR-A', 1, NULL, 'cr-key-2', 'judy')) AS crk2 \gset
SELECT inv_release(:'crk2');
SELECT inv_release(:'crk3');
SELECT hold, state, idem_key FROM test_holds('CR-_') WHERE idem_key IS NOT NULL;
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve('CR-A', 1, NULL, 'cr-key-1', 'judy') = :'crk1' AS committed_same;
SELECT inv_reserve('CR-A', 1, NULL, 'cr-key-2', 'judy') = :'crk2' AS released_same;
SELECT inv_reserve('CR-B', 1, NULL, 'cr-key-3') = :'crk3' AS expired_same;
SELECT reservation_id = :'crk1' AS same, status
  FROM inv_try_reserve_cart('[{"sku": "CR-A", "qty": 1}]', NULL, 'cr-key-1', 'judy');
SELECT test_fingerprint() = :'fp' AS unchanged;

-- every kind of reservation event carries the same keys
SELECT o.type, array_agg(DISTINCT k ORDER BY k) AS payload_keys
  FROM inventory.outbox o JOIN test_hold h ON h.id::text = o.aggregateid,
       jsonb_object_keys(o.payload) k
 WHERE h.label LIKE 'cr%'
 GROUP BY o.type ORDER BY o.type;
-- a sale is a committed hold, not a ledger row: the ledger has only the
-- two counts
SELECT * FROM test_ledger('CR-_');

-- all the holds of this file and their stock
SELECT * FROM test_holds('CR-_');
SELECT * FROM test_stock('CR-_');
