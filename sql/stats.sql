--
-- stats: the inventory.stats view.  Its counters live in shared memory
-- when the library is preloaded (this database has no sweeper: setup
-- turned it off), count per database, and start from zero at
-- inv_stats_reset().  Without shared_preload_libraries they are NULL:
-- expected/stats_1.out.
-- SKUs: STA-*
--

-- the setting that sizes the shared memory, which exists only when the
-- library is preloaded (expected/stats_1.out: it is not)
SELECT name, context, min_val, max_val, boot_val
  FROM pg_settings WHERE name = 'inventory.max_databases';

SELECT inv_stats_reset() IS NOT NULL AS reset;
SELECT reserves, replays, refused_insufficient_stock, refused_unknown_sku,
       commits, releases, expirations, sweeps, purged_holds, purged_events,
       last_sweep_at IS NULL AS never_swept, last_sweep_ms IS NULL AS no_duration,
       stats_since <= now() AS since_reset, sweeper_pid IS NULL AS no_sweeper
  FROM inventory.stats;

-- every outcome of a reserve, a commit, a release and an expiry
SELECT inv_set_stock('STA-A', 3);
SELECT test_keep('sta1', inv_reserve('STA-A', 1, NULL, 'sta-key')) AS sta1 \gset
SELECT inv_reserve('STA-A', 1, NULL, 'sta-key') = :'sta1' AS replayed;
SELECT test_keep('sta2', inv_reserve('STA-A', 1)) AS sta2 \gset
SELECT test_keep('sta3', inv_reserve('STA-A', 1, '100 milliseconds')) AS sta3 \gset
SELECT * FROM test_error($$SELECT inv_reserve('STA-A', 1)$$);
SELECT * FROM test_error($$SELECT inv_reserve('STA-NONE', 1)$$);
SELECT status FROM inv_try_reserve_cart('[{"sku": "STA-A", "qty": 5}]');
SELECT inv_commit(:'sta1');
SELECT inv_release(:'sta2');
SELECT pg_sleep(0.2);
SELECT overdue_holds, oldest_overdue_age > '0' AS aged FROM inventory.stats;
SELECT inv_sweep();

SELECT reserves, replays, refused_insufficient_stock, refused_unknown_sku,
       commits, releases, expirations, sweeps,
       last_sweep_at IS NOT NULL AS swept, last_sweep_ms >= 0 AS timed,
       overdue_holds, oldest_overdue_age IS NULL AS none_overdue
  FROM inventory.stats;

-- a rolled-back call still counts: the counters count calls
BEGIN;
SELECT inv_reserve('STA-A', 1) IS NOT NULL AS reserved;
ROLLBACK;
SELECT reserves FROM inventory.stats;

-- retention by hand: bad input, and nothing to purge (retention 7 days)
SHOW inventory.retention;
SELECT inv_purge(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_purge(0);
\echo :LAST_ERROR_SQLSTATE
-- events every consumer acknowledged stay until they are older than the
-- retention too
SELECT inv_outbox_subscribe('sta-relay', 0);
SELECT inv_outbox_ack('sta-relay', max(seq)) = max(seq) AS acked_all
  FROM inv_outbox_next('sta-relay', 10000);
SELECT test_fingerprint() AS fp \gset
SELECT inv_purge();
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT inv_outbox_unsubscribe('sta-relay');
-- under REPEATABLE READ a purge could miss a consumer that subscribed
-- after its snapshot: refused
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 1 AS snapshot_taken;
SELECT inv_purge();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- monitoring roles may read the view, nobody else
CREATE ROLE regress_inventory_mon IN ROLE pg_monitor;
CREATE ROLE regress_inventory_app;
SET ROLE regress_inventory_mon;
SELECT reserves >= 0 AS readable FROM inventory.stats;
SELECT inv_stats_reset();
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_inventory_app;
SELECT reserves FROM inventory.stats;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_inventory_mon;
DROP ROLE regress_inventory_app;

SELECT * FROM inv_verify();
