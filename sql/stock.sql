--
-- stock: inv_set_stock, inv_adjust, inv_stock, inv_available and the view
-- inventory.stock_levels; the ledger and the stock.adjusted events.
-- SKUs: STK-*
--

--
-- inv_set_stock creates a SKU: one ledger row, one event
--
SELECT test_mark() AS mark \gset
SELECT inv_set_stock('STK-A', 10, 'initial count');
SELECT * FROM test_stock('STK-A');
SELECT * FROM test_ledger('STK-A');
SELECT * FROM test_events(:mark);
-- every key of a stock.adjusted payload
SELECT array_agg(k ORDER BY k COLLATE "C") AS payload_keys
  FROM inventory.outbox o, jsonb_object_keys(o.payload) k
 WHERE o.seq > :mark;

-- ... and sets the count of an existing one (a cycle count): delta -3, version 2
SELECT test_mark() AS mark \gset
SELECT inv_set_stock('STK-A', 7, 'cycle count');
SELECT * FROM test_stock('STK-A');
SELECT * FROM test_events(:mark);

-- reason is optional
SELECT inv_set_stock('STK-B', 0);
SELECT * FROM test_stock('STK-B');

--
-- inv_adjust: receive (+) and write off (-)
--
SELECT test_mark() AS mark \gset
SELECT inv_adjust('STK-A', 5, 'received');
SELECT inv_adjust('STK-A', -2, 'damaged');
SELECT inv_adjust('STK-B', 3);
SELECT * FROM test_stock('STK-_');
SELECT * FROM test_events(:mark);
-- the ledger: every change with its delta and the resulting on_hand
SELECT * FROM test_ledger('STK-_');

-- inv_stock and inv_available agree with the view
SELECT sku, on_hand, reserved, available, version FROM inv_stock('STK-A');
SELECT inv_available('STK-A'), inv_available('STK-B');
SELECT sku, on_hand, reserved, available, version, overdue
  FROM inventory.stock_levels WHERE sku LIKE 'STK-_' ORDER BY sku;

--
-- inv_adjust with expected_version: a compare-and-set
--
SELECT version AS v FROM inventory.stock WHERE sku = 'STK-A' \gset
SELECT inv_adjust('STK-A', 1, 'cas', :v);
SELECT version = :v + 1 AS version_bumped FROM inventory.stock WHERE sku = 'STK-A';
-- the version read before that call is stale now: IV008, nothing changes
SELECT test_fingerprint() AS fp \gset
SELECT inv_adjust('STK-A', 1, 'cas', :v);
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
-- a NULL expected_version means no check
SELECT inv_adjust('STK-A', -1, 'undo cas', NULL);
SELECT * FROM test_stock('STK-A');

--
-- Refusals: bad input (22004 NULL, 22023 bad value, naming the argument),
-- unknown SKU (IV002), too few units (IV001), overflow (22003).  Nothing
-- changes.
--
SELECT test_fingerprint() AS fp \gset
SELECT inv_set_stock(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_stock('', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_stock(repeat('x', 257), 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust(repeat('x', 10000), 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_stock('STK-A', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_stock('STK-A', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_set_stock('STK-NEW', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust('', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust('STK-A', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust('STK-A', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust('STK-NONE', 1);
\echo :LAST_ERROR_SQLSTATE
-- write off more than on_hand
SELECT inv_adjust('STK-A', -11);
\echo :LAST_ERROR_SQLSTATE
-- the most negative bigint: its detail must not overflow
SELECT inv_adjust('STK-A', -9223372036854775808);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_stock(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_stock('');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_stock('STK-NONE');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_available(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_available('');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_available('STK-NONE');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT count(*) AS unknown_skus_created FROM inventory.stock
 WHERE sku IN ('STK-NEW', 'STK-NONE', '');

-- bigint overflow: on_hand near the top, then one unit too many
SELECT inv_set_stock('STK-BIG', 9223372036854775800, 'huge');
SELECT test_fingerprint() AS fp \gset
SELECT inv_adjust('STK-BIG', 8);
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
-- the very top is fine
SELECT inv_adjust('STK-BIG', 7);
-- and a huge write-off too
SELECT inv_adjust('STK-BIG', -9223372036854775807);
SELECT * FROM test_stock('STK-BIG');

--
-- on_hand never drops below the units held (IV001), whether set or adjusted
--
SELECT inv_set_stock('STK-R', 10);
SELECT test_keep('stk1', inv_reserve('STK-R', 4)) AS stk1 \gset
SELECT * FROM test_stock('STK-R');
SELECT test_fingerprint() AS fp \gset
SELECT inv_set_stock('STK-R', 3, 'too low');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust('STK-R', -7, 'too low');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
-- down to exactly the units held is fine; available is 0 then
SELECT inv_adjust('STK-R', -6, 'down to the held units');
SELECT * FROM test_stock('STK-R');
SELECT inv_available('STK-R');

--
-- ... but a hold past its expiry is not in the way: it is reclaimed first
--
SELECT inv_set_stock('STK-O', 10);
SELECT test_keep('stk2', inv_reserve('STK-O', 6, '100 milliseconds')) AS stk2 \gset
SELECT test_keep('stk3', inv_reserve('STK-O', 2)) AS stk3 \gset
SELECT pg_sleep(0.3);
-- before any sweep the overdue units already count as available
SELECT * FROM test_stock('STK-O');
SELECT sku, on_hand, reserved, available FROM inv_stock('STK-O');
SELECT inv_available('STK-O');
-- set to 3: 8 units are reserved, but 6 of them are overdue: stk2 expires
SELECT test_mark() AS mark \gset
SELECT inv_set_stock('STK-O', 3, 'recount');
SELECT * FROM test_stock('STK-O');
SELECT * FROM test_holds('STK-O');
SELECT * FROM test_events(:mark);

-- when even the overdue units are not enough, refuse and reclaim nothing
SELECT test_keep('stk4', inv_reserve('STK-O', 1, '100 milliseconds')) AS stk4 \gset
SELECT pg_sleep(0.3);
SELECT * FROM test_stock('STK-O');
SELECT test_fingerprint() AS fp \gset
SELECT inv_set_stock('STK-O', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_adjust('STK-O', -2);
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT * FROM test_holds('STK-O');
-- inv_adjust reclaims too: -1 leaves 2 = the units of stk3 in force
SELECT test_mark() AS mark \gset
SELECT inv_adjust('STK-O', -1, 'write-off');
SELECT * FROM test_stock('STK-O');
SELECT * FROM test_holds('STK-O');
SELECT * FROM test_events(:mark);

-- the whole ledger of this file
SELECT * FROM test_ledger('STK-%');
