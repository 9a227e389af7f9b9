--
-- soldout: a refusal that the snapshot proves (availability.c) takes no
-- row lock and no xid, and writes no WAL; a short SKU with an overdue hold
-- still goes to the reclaim, however many other overdue holds there are.
-- SKUs: SO-*
--

SELECT inv_set_stock('SO-A', 2);
SELECT test_keep('so1', inv_reserve('SO-A', 2)) IS NOT NULL AS reserved;
-- an overdue hold of another SKU does not stop the refusal
SELECT inv_set_stock('SO-E', 1);
SELECT test_keep('so2', inv_reserve('SO-E', 1, '100 milliseconds')) IS NOT NULL AS reserved;
SELECT inv_set_stock('SO-G', 5);
SELECT pg_sleep(0.3);
-- no dead row versions are left for a read to prune
VACUUM inventory.stock;

BEGIN;
SELECT status, shortfall FROM inv_try_reserve_cart('[{"sku": "SO-A", "qty": 1}]');
SELECT * FROM test_error($$SELECT inv_reserve('SO-A', 1)$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "SO-G", "qty": 1}, {"sku": "SO-A", "qty": 3}]')$$);
SELECT status, shortfall FROM inv_try_reserve_cart('[{"sku": "SO-NONE", "qty": 1}, {"sku": "SO-A", "qty": 1}]');
SELECT * FROM test_error($$SELECT inv_reserve('SO-NONE', 1)$$);
-- no xid: the transaction has locked no row and written nothing
SELECT pg_current_xact_id_if_assigned() IS NULL AS no_xid;
-- no lock but the tables' and indexes' ACCESS SHARE (and the virtual xid)
SELECT DISTINCT locktype, mode
  FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype <> 'virtualxid'
 ORDER BY 1, 2;
COMMIT;

-- the refusal writes no WAL record: EXPLAIN shows a "WAL:" line under the
-- function scan only when it does
EXPLAIN (ANALYZE, WAL, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT status FROM inv_try_reserve_cart('[{"sku": "SO-A", "qty": 1}]');
-- the same request through the locking way, for contrast: a reserve that
-- fits takes an xid and writes
BEGIN;
SELECT inv_set_stock('SO-F', 1);
SELECT test_keep('so3', inv_reserve('SO-F', 1)) IS NOT NULL AS reserved;
SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS has_xid;
COMMIT;

-- and changes nothing
SELECT test_fingerprint() AS fp \gset
SELECT status FROM inv_try_reserve_cart('[{"sku": "SO-F", "qty": 1}]');
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- An idempotency key that was used before replays its hold, even when the
-- SKU has sold out since: the key is looked up before the refusal
--
SELECT inv_set_stock('SO-K', 1);
SELECT test_keep('so4', inv_reserve('SO-K', 1, NULL, 'so-key-1')) AS so4 \gset
SELECT inv_reserve('SO-K', 1, NULL, 'so-key-1') = :'so4' AS replayed;
SELECT status, reservation_id = :'so4' AS same_hold
  FROM inv_try_reserve_cart('[{"sku": "SO-K", "qty": 1}]', NULL, 'so-key-1');
SELECT status FROM inv_try_reserve_cart('[{"sku": "SO-K", "qty": 1}]', NULL, 'so-key-2');

--
-- The snapshot's overdue holds: more than the read looks at (64), all of
-- another SKU and all expiring first, and the reserve of a sold-out SKU
-- still finds its own overdue hold: the read leaves the call to the
-- locking way, which reclaims it
--
SELECT inv_set_stock('SO-B', 1);
SELECT inv_set_stock('SO-C', 70);
SELECT count(inv_reserve('SO-C', 1, '100 milliseconds')) AS held FROM generate_series(1, 70);
SELECT test_keep('so5', inv_reserve('SO-B', 1, '200 milliseconds')) IS NOT NULL AS reserved;
SELECT pg_sleep(0.4);
SELECT test_keep('so6', inv_reserve('SO-B', 1)) IS NOT NULL AS reclaimed;
SELECT * FROM test_holds('SO-B');
SELECT * FROM test_stock('SO-B');

--
-- The expiry floor (src/expiry_floor.c): the read looks for overdue holds
-- from the floor on, below which no hold in force expires.  A sweep sets
-- it; a hold written with an earlier expiry lowers it.
--
-- Finished holds leave their entries in the index of held holds until
-- VACUUM, and these fall in the overdue range once their expiry passes:
-- with the library preloaded, after a sweep, a refusal reads no page of
-- that index (the floor is past now: no hold in force is overdue).
SELECT inv_set_stock('FL-A', 100);
SELECT inv_set_stock('FL-0', 0);
SELECT count(inv_commit(inv_reserve('FL-A', 1, '300 milliseconds'))) AS committed
  FROM generate_series(1, 50);
SELECT pg_sleep(0.4);
-- (holds a sweep expires still count for the floor until its transaction
-- ends, as it may roll back: the next sweep moves the floor past them)
SELECT inv_sweep(1000) > 0 AS expired_some;
SELECT inv_sweep(1000) = 0 AS none_left;
-- (the backend's counts of pages read, before and after, in one
-- transaction: they reach the statistics only when it ends)
BEGIN;
SELECT pg_stat_get_xact_blocks_fetched('inventory.reservation_held_expires_at_idx'::regclass) AS pages
\gset
SELECT status FROM inv_try_reserve_cart('[{"sku": "FL-0", "qty": 1}]');
SELECT CASE WHEN current_setting('shared_preload_libraries') ~ 'inventory'
            THEN pg_stat_get_xact_blocks_fetched('inventory.reservation_held_expires_at_idx'::regclass) = :pages
            ELSE true END AS no_index_page_read;
COMMIT;
-- a hold expiring before the floor lowers it, however it is written; once
-- overdue, the reserve that needs its unit finds it and reclaims it
SELECT inv_set_stock('FL-B', 1);
SELECT inv_set_stock('FL-C', 1);
SELECT inv_set_stock('FL-D', 1);
SELECT test_keep('fl1', inv_reserve('FL-D', 1, '1 hour')) IS NOT NULL AS reserved;
SELECT inv_sweep(1000) >= 0 AS swept;
-- one line, no key (written without a statement)
SELECT test_keep('fl2', inv_reserve('FL-B', 1, '200 milliseconds')) IS NOT NULL AS reserved;
-- with a key (written by a statement)
SELECT test_keep('fl3', inv_reserve('FL-C', 1, '200 milliseconds', 'fl-key-1')) IS NOT NULL AS reserved;
-- an hour's hold cut to 200 ms
SELECT inv_extend(test_id('fl1'), '200 milliseconds') < now() + interval '1 minute' AS cut;
SELECT pg_sleep(0.3);
SELECT test_keep('fl4', inv_reserve('FL-B', 1)) IS NOT NULL AS reclaimed;
SELECT test_keep('fl5', inv_reserve('FL-C', 1)) IS NOT NULL AS reclaimed;
SELECT test_keep('fl6', inv_reserve('FL-D', 1)) IS NOT NULL AS reclaimed;
SELECT * FROM test_holds('FL-B');
SELECT * FROM test_holds('FL-C');
SELECT * FROM test_holds('FL-D');
-- a sweep in a transaction that emptied the holds' table learns nothing
-- from it: once that transaction rolls back, the overdue hold is there
-- again, below the floor, and a reserve still finds and reclaims it
SELECT inv_set_stock('FL-T', 1);
SELECT test_keep('fl7', inv_reserve('FL-T', 1, '200 milliseconds')) IS NOT NULL AS reserved;
SELECT pg_sleep(0.3);
BEGIN;
TRUNCATE inventory.reservation CASCADE;
SELECT inv_sweep(1000) AS expired;
ROLLBACK;
SELECT test_keep('fl8', inv_reserve('FL-T', 1)) IS NOT NULL AS reclaimed;
SELECT * FROM test_holds('FL-T');
