--
-- limits: the limits against hoarding.  Units of a SKU per owner (held in
-- force + committed within a window), holds in force per owner, a hold's
-- lifetime; per-SKU overrides (inv_set_sku_limit); who may change them.
-- SKUs: LIM-*
--

-- the settings exist once the library is loaded
LOAD 'inventory';

SELECT inv_set_stock('LIM-A', 100), inv_set_stock('LIM-B', 100),
       inv_set_stock('LIM-S', 100), inv_set_stock('LIM-H', 100);

-- what a hold of an owner locks: the owner's lock (objsubid 18777) only
-- when a limit applies
CREATE FUNCTION pg_temp.owner_locks() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_locks
	 WHERE locktype = 'advisory' AND objsubid = 18777 AND pid = pg_backend_pid()
$$;

--
-- The settings: off but for the lifetime of a hold; only a superuser (or
-- the config, ALTER DATABASE / ROLE ... SET by one) may change them
--
SELECT name, setting, unit, context, min_val, boot_val
  FROM pg_settings
 WHERE name IN ('inventory.max_units_per_owner', 'inventory.owner_window',
                'inventory.max_holds_per_owner', 'inventory.max_hold_lifetime')
 ORDER BY name;

CREATE ROLE regress_limits_app;
GRANT EXECUTE ON FUNCTION inv_reserve(text, bigint, interval, text, text) TO regress_limits_app;
GRANT USAGE ON SCHEMA inventory TO regress_limits_app;
SET ROLE regress_limits_app;
SET inventory.max_units_per_owner = 0;
\echo :LAST_ERROR_SQLSTATE
SET inventory.owner_window = 0;
\echo :LAST_ERROR_SQLSTATE
SET inventory.max_holds_per_owner = 0;
\echo :LAST_ERROR_SQLSTATE
SET LOCAL inventory.max_hold_lifetime = 0;
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('inventory.max_units_per_owner', '0', false);
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_limits_app SET inventory.max_units_per_owner = 1000;
\echo :LAST_ERROR_SQLSTATE
-- nor write a SKU's limit, by the function or by hand
SELECT inv_set_sku_limit('LIM-S', 1000);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO inventory.sku_limit (sku, max_units_per_owner) VALUES ('LIM-A', 1000);
\echo :LAST_ERROR_SQLSTATE
UPDATE inventory.sku_limit SET max_units_per_owner = 1000;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM inventory.sku_limit;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SHOW inventory.max_units_per_owner;

--
-- No limit set: an owner takes what it likes, and the call takes no lock
-- of the owner
--
BEGIN;
SELECT count(test_keep('lim-free' || i, inv_reserve('LIM-A', 10, NULL, NULL, 'olga')))
  AS holds FROM generate_series(1, 3) i;
SELECT pg_temp.owner_locks() AS owner_locks;
ROLLBACK;

--
-- inventory.max_units_per_owner: units of a SKU held in force, and
-- committed within inventory.owner_window, per owner
--
SET inventory.max_units_per_owner = 2;
SELECT test_keep('lim1', inv_reserve('LIM-A', 1, NULL, NULL, 'alice')) IS NOT NULL AS reserved;
BEGIN;
SELECT test_keep('lim2', inv_reserve('LIM-A', 1, NULL, NULL, 'alice')) IS NOT NULL AS reserved;
-- a limit applies: the owner's lock is held until the transaction ends
SELECT pg_temp.owner_locks() AS owner_locks;
COMMIT;
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error($$SELECT inv_reserve('LIM-A', 1, NULL, NULL, 'alice')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "LIM-A", "qty": 1}]', owner => 'alice')$$);
-- inv_try_reserve_cart raises it too: a limit is not a shortage
SELECT * FROM test_error($$SELECT * FROM inv_try_reserve_cart('[{"sku": "LIM-A", "qty": 1}]', owner => 'alice')$$);
-- a refusal changes nothing: it took no transaction id (so no row lock),
-- and keeps no lock once rolled back to a savepoint
BEGIN;
SAVEPOINT s;
SELECT inv_reserve('LIM-A', 1, NULL, NULL, 'alice');
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.owner_locks() AS owner_locks,
       pg_current_xact_id_if_assigned() IS NULL AS no_xid;
COMMIT;
SELECT test_fingerprint() = :'fp' AS unchanged;
-- another SKU, another owner, and holds without an owner are not limited
SELECT test_keep('lim3', inv_reserve('LIM-B', 2, NULL, NULL, 'alice')) IS NOT NULL AS other_sku;
SELECT test_keep('lim4', inv_reserve('LIM-A', 2, NULL, NULL, 'bruno')) IS NOT NULL AS other_owner;
SELECT test_keep('lim5', inv_reserve('LIM-A', 50)) IS NOT NULL AS no_owner;
SELECT test_keep('lim6', inv_reserve_cart('[{"sku": "LIM-A", "qty": 5}, {"sku": "LIM-B", "qty": 5}]'))
       IS NOT NULL AS no_owner_cart;
-- more than the limit in one go
SELECT * FROM test_error($$SELECT inv_reserve('LIM-A', 3, NULL, NULL, 'carla')$$);
-- a cart: each line counts for its SKU (the same SKU twice is summed)
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "LIM-B", "qty": 1}, {"sku": "LIM-A", "qty": 1}]', owner => 'alice')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "LIM-A", "qty": 1}, {"sku": "LIM-A", "qty": 2}]', owner => 'carla')$$);
SELECT test_keep('lim7', inv_reserve_cart('[{"sku": "LIM-A", "qty": 2}, {"sku": "LIM-B", "qty": 2}]', owner => 'carla'))
       IS NOT NULL AS reserved;

-- a replay of an idempotency key returns its hold, and is not counted again
SELECT test_keep('lim8', inv_reserve('LIM-A', 2, NULL, 'lim-key', 'dario')) IS NOT NULL AS reserved;
SELECT inv_reserve('LIM-A', 2, NULL, 'lim-key', 'dario') = test_id('lim8') AS same_hold;
SELECT inv_reserve_cart('[{"sku": "LIM-A", "qty": 2}]', NULL, 'lim-key', 'dario') = test_id('lim8') AS same_hold;
SELECT * FROM test_error($$SELECT inv_reserve('LIM-A', 1, NULL, 'lim-key-2', 'dario')$$);

-- a release gives the units back to the owner's allowance
SELECT inv_release(test_id('lim2'));
SELECT test_keep('lim9', inv_reserve('LIM-A', 1, NULL, NULL, 'alice')) IS NOT NULL AS reserved;

-- a committed unit counts within the window: alice holds 1 and bought 1
SELECT inv_commit(test_id('lim1'));
SELECT * FROM test_error($$SELECT inv_reserve('LIM-A', 1, NULL, NULL, 'alice')$$);
-- bought longer ago than the window (a day): it no longer counts
UPDATE inventory.reservation
   SET created_at = created_at - interval '25 hours',
       expires_at = expires_at - interval '25 hours',
       finished_at = finished_at - interval '25 hours'
 WHERE id = test_id('lim1');
SELECT test_keep('lim10', inv_reserve('LIM-A', 1, NULL, NULL, 'alice')) IS NOT NULL AS reserved;
SELECT inv_release(test_id('lim10'));
-- a small window: bought 30 minutes ago counts within 1 hour, not within 10 minutes
UPDATE inventory.reservation
   SET created_at = now() - interval '31 minutes',
       expires_at = now() - interval '26 minutes',
       finished_at = now() - interval '30 minutes'
 WHERE id = test_id('lim1');
SET inventory.owner_window = '1h';
SELECT * FROM test_error($$SELECT inv_reserve('LIM-A', 1, NULL, NULL, 'alice')$$);
SET inventory.owner_window = '10min';
SELECT test_keep('lim11', inv_reserve('LIM-A', 1, NULL, NULL, 'alice')) IS NOT NULL AS reserved;
SELECT inv_release(test_id('lim11'));
-- 0: committed units never count
SET inventory.owner_window = 0;
SELECT test_keep('lim12', inv_reserve('LIM-A', 1, NULL, NULL, 'alice')) IS NOT NULL AS reserved;
SELECT inv_release(test_id('lim12'));
RESET inventory.owner_window;

-- a hold past its expiry does not count, swept or not
SELECT test_keep('lim13', inv_reserve('LIM-B', 2, '100 milliseconds', NULL, 'emil')) IS NOT NULL AS reserved;
SELECT * FROM test_error($$SELECT inv_reserve('LIM-B', 1, NULL, NULL, 'emil')$$);
SELECT pg_sleep(0.3);
SELECT test_keep('lim14', inv_reserve('LIM-B', 2, NULL, NULL, 'emil')) IS NOT NULL AS reserved;
SELECT hold, state, owner, lines FROM test_holds('LIM-B') WHERE owner = 'emil';
RESET inventory.max_units_per_owner;

--
-- A SKU's own limit (inv_set_sku_limit): it applies with the setting off,
-- replaces the setting when on (0: no limit for the SKU), may have its own
-- window, and goes with NULL
--
SELECT inv_set_sku_limit('LIM-S', 1);
SELECT sku, max_units_per_owner, owner_window FROM inventory.sku_limit;
SELECT test_keep('lim15', inv_reserve('LIM-S', 1, NULL, NULL, 'fabio')) IS NOT NULL AS reserved;
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error($$SELECT inv_reserve('LIM-S', 1, NULL, NULL, 'fabio')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "LIM-A", "qty": 1}, {"sku": "LIM-S", "qty": 1}]', owner => 'fabio')$$);
SELECT test_fingerprint() = :'fp' AS unchanged;
-- other SKUs of the owner are not limited, nor holds without an owner, and
-- an owner's hold of only other SKUs takes no lock of the owner
BEGIN;
SELECT test_keep('lim16', inv_reserve('LIM-A', 5, NULL, NULL, 'fabio')) IS NOT NULL AS reserved;
SELECT pg_temp.owner_locks() AS owner_locks;
COMMIT;
SELECT test_keep('lim17', inv_reserve('LIM-S', 5)) IS NOT NULL AS no_owner;
-- with the setting on, the SKU's limit replaces it: here, higher
SET inventory.max_units_per_owner = 3;
SELECT inv_set_sku_limit('LIM-S', 4);
SELECT test_keep('lim18', inv_reserve('LIM-S', 3, NULL, NULL, 'fabio')) IS NOT NULL AS reserved;
SELECT * FROM test_error($$SELECT inv_reserve('LIM-S', 1, NULL, NULL, 'fabio')$$);
-- 0: this SKU has no limit per owner, whatever the setting
SELECT inv_set_sku_limit('LIM-S', 0);
SELECT test_keep('lim19', inv_reserve('LIM-S', 10, NULL, NULL, 'fabio')) IS NOT NULL AS reserved;
-- its own window: fabio bought lim15's unit 2 hours ago
SELECT inv_commit(test_id('lim15'));
UPDATE inventory.reservation
   SET created_at = now() - interval '121 minutes',
       expires_at = now() - interval '116 minutes',
       finished_at = now() - interval '120 minutes'
 WHERE id = test_id('lim15');
SELECT inv_release(test_id('lim18')), inv_release(test_id('lim19'));
SELECT inv_set_sku_limit('LIM-S', 1, '3 hours');
SELECT * FROM test_error($$SELECT inv_reserve('LIM-S', 1, NULL, NULL, 'fabio')$$);
SELECT inv_set_sku_limit('LIM-S', 1, '1 hour');
SELECT test_keep('lim20', inv_reserve('LIM-S', 1, NULL, NULL, 'fabio')) IS NOT NULL AS reserved;
-- NULL drops it: the setting applies again (3, and its window of a day)
SELECT inv_set_sku_limit('LIM-S', NULL);
SELECT count(*) AS overrides FROM inventory.sku_limit;
SELECT * FROM test_error($$SELECT inv_reserve('LIM-S', 2, NULL, NULL, 'fabio')$$);
SELECT test_keep('lim21', inv_reserve('LIM-S', 1, NULL, NULL, 'fabio')) IS NOT NULL AS reserved;
RESET inventory.max_units_per_owner;
SELECT test_keep('lim22', inv_reserve('LIM-S', 10, NULL, NULL, 'fabio')) IS NOT NULL AS unlimited_again;
-- a row written by hand (the extension's owner may) counts at once too
INSERT INTO inventory.sku_limit (sku, max_units_per_owner) VALUES ('LIM-S', 1);
SELECT * FROM test_error($$SELECT inv_reserve('LIM-S', 2, NULL, NULL, 'gina')$$);
DELETE FROM inventory.sku_limit;
SELECT test_keep('lim23', inv_reserve('LIM-S', 1, NULL, NULL, 'gina')) IS NOT NULL AS reserved;
-- bad calls: 22004, 22023, 22001, IV002; nothing changes
SELECT test_fingerprint() AS fp \gset
SELECT inv_set_sku_limit(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_sku_limit(repeat('x', 257), 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_sku_limit('LIM-NONE', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_sku_limit('LIM-S', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_sku_limit('LIM-S', 1, '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_sku_limit('LIM-S', NULL, '1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT count(*) AS overrides FROM inventory.sku_limit;
-- inv_verify() reports a limit of a SKU that does not exist
INSERT INTO inventory.sku_limit (sku, max_units_per_owner) VALUES ('LIM-GONE', 1);
SELECT * FROM inv_verify();
DELETE FROM inventory.sku_limit;

--
-- inventory.max_holds_per_owner: holds in force, whatever their lines
--
SET inventory.max_holds_per_owner = 2;
SELECT test_keep('lim24', inv_reserve('LIM-H', 1, NULL, NULL, 'hugo')) IS NOT NULL AS reserved;
SELECT test_keep('lim25', inv_reserve_cart('[{"sku": "LIM-H", "qty": 1}, {"sku": "LIM-A", "qty": 1}]',
                                           owner => 'hugo')) IS NOT NULL AS reserved;
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error($$SELECT inv_reserve('LIM-H', 1, NULL, NULL, 'hugo')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "LIM-B", "qty": 1}]', owner => 'hugo')$$);
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT test_keep('lim26', inv_reserve('LIM-H', 1, NULL, NULL, 'ines')) IS NOT NULL AS other_owner;
SELECT test_keep('lim27', inv_reserve('LIM-H', 1)) IS NOT NULL AS no_owner;
-- a finished hold is not in force: a commit makes room
SELECT inv_commit(test_id('lim24'));
SELECT test_keep('lim28', inv_reserve('LIM-H', 1, '100 milliseconds', NULL, 'hugo')) IS NOT NULL AS reserved;
-- ... and so does a hold past its expiry, swept or not
SELECT pg_sleep(0.3);
SELECT test_keep('lim29', inv_reserve('LIM-H', 1, NULL, NULL, 'hugo')) IS NOT NULL AS reserved;
RESET inventory.max_holds_per_owner;

--
-- inventory.max_hold_lifetime: from a hold's creation to its expiry,
-- extensions included; bounds the ttl of a new hold too
--
SET inventory.max_hold_lifetime = '30min';
SELECT test_fingerprint() AS fp \gset
SELECT * FROM test_error($$SELECT inv_reserve('LIM-A', 1, '31 minutes')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "LIM-A", "qty": 1}]', '40 minutes')$$);
SET inventory.default_ttl = '40min';
SELECT * FROM test_error($$SELECT inv_reserve('LIM-A', 1)$$);
RESET inventory.default_ttl;
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT test_keep('lim30', inv_reserve('LIM-A', 1, '30 minutes')) IS NOT NULL AS reserved;
-- taken 25 minutes ago: an extension to 5 minutes from now is allowed, not one to 6
UPDATE inventory.reservation
   SET created_at = created_at - interval '25 minutes'
 WHERE id = test_id('lim30');
SELECT inv_extend(test_id('lim30'), '4 minutes 59 seconds') IS NOT NULL AS extended;
SELECT test_fingerprint() AS fp \gset
SELECT code, message, regexp_replace(detail, 'at [^,]*,', 'at …,') AS detail
  FROM test_error($$SELECT inv_extend(test_id('lim30'), '6 minutes')$$);
SELECT * FROM test_error($$SELECT inv_extend(test_id('lim30'), '31 minutes')$$);
SELECT test_fingerprint() = :'fp' AS unchanged;
-- 0 turns it off: the ttl is bounded by inventory.max_ttl only
SET inventory.max_hold_lifetime = 0;
SELECT inv_extend(test_id('lim30'), '1 hour') IS NOT NULL AS extended;
RESET inventory.max_hold_lifetime;

--
-- An owner is at most 256 bytes (an index key since 0.4.0): 22001
--
SELECT inv_reserve('LIM-A', 1, NULL, NULL, repeat('o', 257));
\echo :LAST_ERROR_SQLSTATE
SELECT test_keep('lim31', inv_reserve('LIM-A', 1, NULL, NULL, repeat('o', 256))) IS NOT NULL AS reserved;

SELECT * FROM inv_verify();
RESET ROLE;
REVOKE ALL ON SCHEMA inventory FROM regress_limits_app;
REVOKE ALL ON FUNCTION inv_reserve(text, bigint, interval, text, text) FROM regress_limits_app;
DROP ROLE regress_limits_app;
