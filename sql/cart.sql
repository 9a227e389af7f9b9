--
-- cart: inv_reserve_cart and inv_try_reserve_cart: all lines or none, the
-- four statuses, normalization of the lines, the validation of items, the
-- inventory.max_cart_lines limit, idempotency, reclaim.
-- SKUs: CRT-*
--

SELECT inv_set_stock('CRT-A', 10);
SELECT inv_set_stock('CRT-B', 5);
SELECT inv_set_stock('CRT-C', 2);

--
-- A cart of two lines: one hold, two lines, one event listing both
--
SELECT test_mark() AS mark \gset
SELECT test_keep('crt1', inv_reserve_cart('[{"sku": "CRT-B", "qty": 2}, {"sku": "CRT-A", "qty": 1}]',
       '10 minutes', NULL, 'dave')) AS crt1 \gset
SELECT * FROM test_stock('CRT-_');
SELECT * FROM test_holds('CRT-_');
SELECT * FROM test_events(:mark);
SELECT expires_at - created_at AS ttl FROM inventory.reservation WHERE id = :'crt1';

-- the same SKU twice is one line with the quantities summed (a key other
-- than sku and qty is refused: below)
SELECT test_keep('crt2', inv_reserve_cart(
       '[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-B", "qty": 1}, {"sku": "CRT-A", "qty": 2}]'))
       IS NOT NULL AS reserved;
SELECT * FROM test_holds('CRT-_');
SELECT * FROM test_stock('CRT-_');

--
-- All or none: one short line refuses the whole cart (IV001), one unknown
-- SKU too (IV002); nothing changes
--
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-C", "qty": 3}]');
\echo :LAST_ERROR_SQLSTATE
-- two short lines: the message names the first in SKU order, the detail
-- counts them
SELECT inv_reserve_cart('[{"sku": "CRT-C", "qty": 3}, {"sku": "CRT-B", "qty": 5}]');
\echo :LAST_ERROR_SQLSTATE
-- the sum of two lines of one SKU is what must fit
SELECT inv_reserve_cart('[{"sku": "CRT-C", "qty": 2}, {"sku": "CRT-C", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-X", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
-- an unknown SKU wins over a short line
SELECT inv_reserve_cart('[{"sku": "CRT-Y", "qty": 1}, {"sku": "CRT-C", "qty": 3}, {"sku": "CRT-X", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- inv_try_reserve_cart: a shortage is a status, not an error
--
-- reserved
SELECT test_keep('crt3', reservation_id) IS NOT NULL AS has_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-C", "qty": 1}]', NULL, 'crt-key-1', 'erin');
SELECT * FROM test_holds('CRT-C');
-- replayed: the same hold, nothing written
SELECT test_fingerprint() AS fp \gset
SELECT reservation_id = test_id('crt3') AS same_hold, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-C", "qty": 1}]', NULL, 'crt-key-1', 'erin');
SELECT test_fingerprint() = :'fp' AS unchanged;
-- insufficient_stock, with the shortfall of every short line; nothing written
SELECT reservation_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-B", "qty": 9}, {"sku": "CRT-C", "qty": 2}]');
SELECT test_fingerprint() = :'fp' AS unchanged;
-- unknown_sku, with every unknown SKU (available null); nothing written
SELECT reservation_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-Y", "qty": 1}, {"sku": "CRT-A", "qty": 1}, {"sku": "CRT-X", "qty": 2}]');
SELECT test_fingerprint() = :'fp' AS unchanged;
-- a refusal does not use up the key: the same key may then reserve
SELECT reservation_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-B", "qty": 9}]', NULL, 'crt-key-2');
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT test_keep('crt4', reservation_id) IS NOT NULL AS has_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-B", "qty": 1}]', NULL, 'crt-key-2');
-- bad input still raises
SELECT * FROM inv_try_reserve_cart('[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_try_reserve_cart('[{"sku": "CRT-A", "qty": 1}]', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
-- and so does a key reused for another request
SELECT * FROM test_error($$SELECT * FROM inv_try_reserve_cart('[{"sku": "CRT-C", "qty": 2}]', NULL, 'crt-key-1', 'erin')$$);

--
-- Idempotency of carts: the lines are compared after normalization
--
SELECT test_keep('crt5', inv_reserve_cart('[{"sku": "CRT-A", "qty": 2}, {"sku": "CRT-B", "qty": 1}]',
       NULL, 'crt-key-3', 'frank')) AS crt5 \gset
SELECT test_fingerprint() AS fp \gset
-- other order, split lines: the same request
SELECT inv_reserve_cart('[{"sku": "CRT-B", "qty": 1}, {"sku": "CRT-A", "qty": 2}]',
       NULL, 'crt-key-3', 'frank') = :'crt5' AS same_hold;
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-B", "qty": 1}, {"sku": "CRT-A", "qty": 1}]',
       '1 minute', 'crt-key-3', 'frank') = :'crt5' AS same_hold;
SELECT status FROM inv_try_reserve_cart('[{"sku": "CRT-B", "qty": 1}, {"sku": "CRT-A", "qty": 2}]',
       NULL, 'crt-key-3', 'frank');
SELECT test_fingerprint() = :'fp' AS unchanged;
-- a line less, a line more, another qty, another owner: IV006
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 2}]', NULL, 'crt-key-3', 'frank')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 2}, {"sku": "CRT-B", "qty": 1}, {"sku": "CRT-C", "qty": 1}]', NULL, 'crt-key-3', 'frank')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-B", "qty": 1}]', NULL, 'crt-key-3', 'frank')$$);
SELECT * FROM test_error($$SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 2}, {"sku": "CRT-B", "qty": 1}]', NULL, 'crt-key-3', 'grace')$$);
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- Bad items: 22004 for NULL, 22023 naming the element, 22003 beyond
-- bigint; nothing changes
--
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve_cart(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_try_reserve_cart(NULL);
\echo :LAST_ERROR_SQLSTATE
-- not an array
SELECT inv_reserve_cart('{"sku": "CRT-A", "qty": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('"CRT-A"');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('null');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[]');
\echo :LAST_ERROR_SQLSTATE
-- an element not an object
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, "CRT-B"]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[[{"sku": "CRT-A", "qty": 1}]]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[null]');
\echo :LAST_ERROR_SQLSTATE
-- sku missing, not a string, empty
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": 42, "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": null, "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
-- a SKU of 256 bytes may exist (it is only unknown here), one of 257 may not
SELECT inv_reserve_cart(jsonb_build_array(jsonb_build_object('sku', repeat('x', 256), 'qty', 1)));
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart(jsonb_build_array(jsonb_build_object('sku', repeat('é', 129), 'qty', 1)));
\echo :LAST_ERROR_SQLSTATE
-- a key the API does not know is a mistake, not something to ignore
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1, "color": "red"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"SKU": "CRT-B", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_try_reserve_cart('[{"sku": "CRT-A", "quantity": 1}]');
\echo :LAST_ERROR_SQLSTATE
-- qty missing, zero, negative, fractional, a string, null, beyond bigint
SELECT inv_reserve_cart('[{"sku": "CRT-A"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-B", "qty": 0}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": -1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1.5}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 0.5}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": "1"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": null}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1e30}]');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 9223372036854775808}]');
\echo :LAST_ERROR_SQLSTATE
-- two lines of one SKU whose sum is beyond bigint
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 9223372036854775807}, {"sku": "CRT-A", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
-- the largest qty is valid input (and simply too much)
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 9223372036854775807}]');
\echo :LAST_ERROR_SQLSTATE
-- the other arguments
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}]', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}]', '-1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}]', '2 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}]', NULL, '');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}]', NULL, repeat('k', 257));
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;

--
-- inventory.max_cart_lines counts the lines given (IV007)
--
SET inventory.max_cart_lines = 2;
SHOW inventory.max_cart_lines;
SELECT test_fingerprint() AS fp \gset
SELECT inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-B", "qty": 1}, {"sku": "CRT-C", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_try_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-B", "qty": 1}, {"sku": "CRT-C", "qty": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT test_keep('crt6', inv_reserve_cart('[{"sku": "CRT-A", "qty": 1}, {"sku": "CRT-C", "qty": 1}]'))
       IS NOT NULL AS reserved;
RESET inventory.max_cart_lines;
SELECT * FROM test_stock('CRT-_');

--
-- Reclaim: a cart short of a SKU gets back that SKU's overdue holds, whole
-- (all their lines), but only when that is enough
--
SELECT inv_set_stock('CRT-D', 3);
SELECT inv_set_stock('CRT-E', 3);
SELECT test_keep('crt7', inv_reserve_cart('[{"sku": "CRT-D", "qty": 2}, {"sku": "CRT-E", "qty": 1}]',
       '100 milliseconds')) AS crt7 \gset
SELECT test_keep('crt8', inv_reserve('CRT-D', 1)) AS crt8 \gset
SELECT pg_sleep(0.3);
SELECT * FROM test_stock('CRT-_');
-- 3 of CRT-D wanted, 2 available (overdue): not enough, nothing changes
SELECT test_fingerprint() AS fp \gset
SELECT reservation_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-D", "qty": 3}, {"sku": "CRT-A", "qty": 1}]');
SELECT test_fingerprint() = :'fp' AS unchanged;
SELECT * FROM test_holds('CRT-D');
-- 2 of CRT-D: crt7 expires, both its lines go back, and crt9 is held
SELECT test_mark() AS mark \gset
SELECT test_keep('crt9', reservation_id) IS NOT NULL AS has_id, status, shortfall
  FROM inv_try_reserve_cart('[{"sku": "CRT-D", "qty": 2}, {"sku": "CRT-A", "qty": 1}]');
SELECT * FROM test_holds('CRT-D');
SELECT * FROM test_stock('CRT-_');
SELECT * FROM test_events(:mark);
