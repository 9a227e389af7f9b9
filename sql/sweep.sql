--
-- sweep: inv_sweep expires overdue holds, oldest first, at most max_holds
-- a call, with their events; holds in force are left alone.
-- SKUs: SWP-*
--

-- first give back whatever earlier files left overdue, so that the counts
-- below are this file's own
SELECT pg_sleep(0.3);
SELECT inv_sweep() AS leftovers \gset
SELECT count(*) = 0 AS nothing_overdue_left
  FROM inventory.reservation WHERE state = 'held' AND expires_at <= clock_timestamp();
-- nothing overdue: nothing to do, nothing written
SELECT test_fingerprint() AS fp \gset
SELECT inv_sweep();
SELECT inv_sweep(1);
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- Three overdue holds (one a cart of two SKUs), one in force
--
SELECT inv_set_stock('SWP-A', 10);
SELECT inv_set_stock('SWP-B', 10);
SELECT test_keep('swp1', inv_reserve('SWP-A', 1, '500 milliseconds', NULL, 'kim')) AS swp1 \gset
SELECT test_keep('swp2', inv_reserve_cart('[{"sku": "SWP-A", "qty": 2}, {"sku": "SWP-B", "qty": 3}]',
       '100 milliseconds')) AS swp2 \gset
SELECT test_keep('swp3', inv_reserve('SWP-B', 4, '600 milliseconds')) AS swp3 \gset
SELECT test_keep('swp4', inv_reserve('SWP-A', 5)) AS swp4 \gset
SELECT pg_sleep(0.8);
-- overdue holds count as available already, before the sweep
SELECT * FROM test_stock('SWP-_');
SELECT hold, state FROM test_holds('SWP-_');

-- one at a time, oldest expiry first: swp2 (100 ms) goes first, then swp1
SELECT test_mark() AS mark \gset
SELECT inv_sweep(1);
SELECT hold, state FROM test_holds('SWP-_');
SELECT * FROM test_stock('SWP-_');
SELECT * FROM test_events(:mark);

SELECT test_mark() AS mark \gset
SELECT inv_sweep(1);
SELECT hold, state FROM test_holds('SWP-_');
SELECT * FROM test_events(:mark);

-- more room than overdue holds: the last one, then none
SELECT test_mark() AS mark \gset
SELECT inv_sweep(2);
SELECT inv_sweep();
SELECT * FROM test_holds('SWP-_');
SELECT * FROM test_stock('SWP-_');
SELECT * FROM test_events(:mark);

--
-- A swept hold is expired for good: IV004 for commit and extend, false for
-- release, the same hold for a replay of its key
--
SELECT test_keep('swp5', inv_reserve('SWP-B', 1, '100 milliseconds', 'swp-key-1')) AS swp5 \gset
SELECT pg_sleep(0.3);
SELECT inv_sweep();
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error(format('SELECT inv_commit(%L)', :'swp5'));
SELECT * FROM test_error(format('SELECT inv_extend(%L, %L)', :'swp5', '1 minute'));
SELECT inv_release(:'swp5');
SELECT inv_reserve('SWP-B', 1, NULL, 'swp-key-1') = :'swp5' AS same_hold;
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- A sweep inside a transaction that rolls back leaves the holds held
--
SELECT test_keep('swp6', inv_reserve('SWP-B', 2, '100 milliseconds')) AS swp6 \gset
SELECT pg_sleep(0.3);
SELECT test_fingerprint() AS fp \gset
BEGIN;
SELECT inv_sweep();
SELECT hold, state FROM test_holds('SWP-B') WHERE hold = 'swp6';
ROLLBACK;
SELECT hold, state FROM test_holds('SWP-B') WHERE hold = 'swp6';
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT inv_sweep();

--
-- Bad input: max_holds NULL (22004), zero or negative (22023)
--
SELECT test_keep('swp7', inv_reserve('SWP-A', 1, '100 milliseconds')) AS swp7 \gset
SELECT pg_sleep(0.3);
SELECT test_fingerprint() AS fp \gset
SELECT inv_sweep(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_sweep(0);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_sweep(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT inv_sweep();

-- all the holds of this file, and the stock they leave
SELECT * FROM test_holds('SWP-_');
SELECT * FROM test_stock('SWP-_');
