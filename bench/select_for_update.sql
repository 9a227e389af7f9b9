-- bench/select_for_update.sql: pessimistic locking.  Reserve: lock the
-- stock row (SELECT ... FOR UPDATE), check in the client, then write the
-- stock row and the order row; commit: lock the order and the stock row,
-- then write both.  Each step is one transaction of several statements.
\set n random(:lo, :hi)
\set id 0
BEGIN;
SELECT on_hand - reserved AS avail FROM bench.stock WHERE sku = :n::text FOR UPDATE \gset
\if :avail >= 1
UPDATE bench.stock SET reserved = reserved + 1 WHERE sku = :n::text;
INSERT INTO bench.orders (sku, qty) VALUES (:n::text, 1) RETURNING id \gset
\endif
END;
\if :id > 0
BEGIN;
SELECT qty FROM bench.orders WHERE id = :id AND state = 'held' FOR UPDATE \gset
SELECT 1 FROM bench.stock WHERE sku = :n::text FOR UPDATE;
UPDATE bench.orders SET state = 'sold', sold_at = now() WHERE id = :id;
UPDATE bench.stock SET on_hand = on_hand - :qty, reserved = reserved - :qty WHERE sku = :n::text;
END;
\endif
