-- bench/guarded_update.sql: the seed design.  Reserve: one guarded UPDATE
-- that takes the unit only while on_hand - reserved >= 1, and the order
-- (hold) row, in one statement and one transaction.  Commit, another
-- transaction: the order is marked sold and the unit leaves on_hand and
-- reserved.  The same two-step shape as inventory.sql; a refusal is an
-- UPDATE of no row, so it writes nothing.
\set n random(:lo, :hi)
WITH s AS (UPDATE bench.stock SET reserved = reserved + 1
            WHERE sku = :n::text AND on_hand - reserved >= 1
           RETURNING sku),
     o AS (INSERT INTO bench.orders (sku, qty) SELECT sku, 1 FROM s RETURNING id)
SELECT coalesce((SELECT id FROM o), 0) AS id \gset
\if :id > 0
WITH o AS (UPDATE bench.orders SET state = 'sold', sold_at = now()
            WHERE id = :id AND state = 'held'
           RETURNING sku, qty)
UPDATE bench.stock s SET on_hand = s.on_hand - o.qty, reserved = s.reserved - o.qty
  FROM o WHERE s.sku = o.sku;
\endif
