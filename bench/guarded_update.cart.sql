-- bench/guarded_update.cart.sql: the 5-line cart with the seed design.
-- Reserve, one transaction: one guarded UPDATE of the 5 stock rows (an
-- index scan of sku = ANY (...), which takes the rows' locks in index
-- order, the same order for every checkout: no deadlock) and the 5 order
-- rows, in one statement; all or nothing: when fewer than 5 rows had a
-- unit left, ROLLBACK.  Commit, another transaction: the 5 orders marked
-- sold and the 5 units leave on_hand and reserved, again in index order
-- (and only when the 5 orders were held).
\set b random(:lo, :hi - 4)
\set b1 :b + 1
\set b2 :b + 2
\set b3 :b + 3
\set b4 :b + 4
BEGIN;
WITH s AS (UPDATE bench.stock SET reserved = reserved + 1
            WHERE sku IN (:b::text, :b1::text, :b2::text, :b3::text, :b4::text)
              AND on_hand - reserved >= 1
           RETURNING sku),
     o AS (INSERT INTO bench.orders (sku, qty) SELECT sku, 1 FROM s RETURNING id)
SELECT count(*) AS lines, coalesce(array_agg(id ORDER BY id)::text, '') AS ids FROM o \gset
\if :lines = 5
COMMIT;
WITH o AS (UPDATE bench.orders SET state = 'sold', sold_at = now()
            WHERE id = ANY (:ids::bigint[]) AND state = 'held'
           RETURNING id)
UPDATE bench.stock SET on_hand = on_hand - 1, reserved = reserved - 1
 WHERE sku IN (:b::text, :b1::text, :b2::text, :b3::text, :b4::text)
   AND (SELECT count(*) FROM o) = 5;
\else
ROLLBACK;
\endif
