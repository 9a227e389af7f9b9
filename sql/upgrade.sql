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

-- 0.1.0 with today's library: data that will be upgraded
SELECT inv_set_stock('UPG-A', 10);
SELECT inv_commit(inv_reserve('UPG-A', 2));
SELECT inv_reserve('UPG-A', 3) IS NOT NULL AS held;
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

-- 0.2.0 -> 0.3.0 with live data: a hold in force with a key, one without,
-- and events the relay has not acknowledged yet
SELECT inv_outbox_ack('upgrade-relay', max(seq)) > 0 AS acked FROM inventory.outbox;
SELECT inv_reserve('UPG-A', 1, ttl => '10 minutes', idempotency_key => 'upg-key') IS NOT NULL AS keyed;
SELECT inv_reserve('UPG-A', 1, ttl => '10 minutes') IS NOT NULL AS unkeyed;
SELECT count(*) AS unacked_before FROM inventory.outbox
 WHERE seq > (SELECT acked_seq FROM inventory.outbox_consumer WHERE consumer = 'upgrade-relay');

ALTER EXTENSION inventory UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'inventory';

-- the data is intact and every path works on it
SELECT sku, on_hand, reserved, available FROM inventory.stock_levels WHERE sku = 'UPG-A';
SELECT * FROM inv_verify();
SELECT type FROM inv_outbox_next('upgrade-relay') ORDER BY seq;
SELECT inv_commit(id) AS committed FROM inventory.reservation WHERE idempotency_key = 'upg-key';
SELECT inv_reserve('UPG-A', 1, ttl => '10 minutes', idempotency_key => 'upg-key') = id AS replayed
  FROM inventory.reservation WHERE idempotency_key = 'upg-key';
SELECT inv_release(id) AS released FROM inventory.reservation
 WHERE idempotency_key IS NULL AND state = 'held';
SELECT sku, on_hand, reserved, available FROM inventory.stock_levels WHERE sku = 'UPG-A';
SELECT * FROM inv_verify();
SELECT inv_outbox_unsubscribe('upgrade-relay');

-- back to a fresh install for whatever runs after
DROP EXTENSION inventory CASCADE;
CREATE EXTENSION inventory;
SELECT extversion FROM pg_extension WHERE extname = 'inventory';
