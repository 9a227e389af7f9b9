-- bench/select_for_update.cart.sql: the 5-line cart with pessimistic
-- locking.  Reserve: lock the 5 stock rows (SELECT ... ORDER BY sku FOR
-- UPDATE: in SKU order, the same for every checkout), check that each has
-- a unit left, then write the 5 stock rows and the 5 order rows; commit:
-- lock the 5 orders and the 5 stock rows the same way, then write them.
-- Each step is one transaction of several statements.
\set b random(:lo, :hi - 4)
\set b1 :b + 1
\set b2 :b + 2
\set b3 :b + 3
\set b4 :b + 4
BEGIN;
WITH l AS (SELECT on_hand - reserved AS avail FROM bench.stock
            WHERE sku IN (:b::text, :b1::text, :b2::text, :b3::text, :b4::text)
            ORDER BY sku FOR UPDATE)
SELECT count(*) FILTER (WHERE avail >= 1) AS lines FROM l \gset
\if :lines = 5
UPDATE bench.stock SET reserved = reserved + 1
 WHERE sku IN (:b::text, :b1::text, :b2::text, :b3::text, :b4::text);
WITH o AS (INSERT INTO bench.orders (sku, qty)
           SELECT sku, 1 FROM unnest(ARRAY[:b::text, :b1::text, :b2::text, :b3::text, :b4::text]) sku
           RETURNING id)
SELECT array_agg(id ORDER BY id)::text AS ids FROM o \gset
\endif
END;
\if :lines = 5
BEGIN;
SELECT count(*) AS held FROM (SELECT 1 FROM bench.orders
                               WHERE id = ANY (:ids::bigint[]) AND state = 'held' FOR UPDATE) x \gset
SELECT 1 FROM bench.stock
 WHERE sku IN (:b::text, :b1::text, :b2::text, :b3::text, :b4::text) ORDER BY sku FOR UPDATE;
\if :held = 5
UPDATE bench.orders SET state = 'sold', sold_at = now() WHERE id = ANY (:ids::bigint[]);
UPDATE bench.stock SET on_hand = on_hand - 1, reserved = reserved - 1
 WHERE sku IN (:b::text, :b1::text, :b2::text, :b3::text, :b4::text);
\endif
END;
\endif
