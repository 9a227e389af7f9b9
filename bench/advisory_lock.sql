-- bench/advisory_lock.sql: an advisory lock per SKU around read-then-write.
-- Reserve: take pg_advisory_xact_lock(hashtext(sku)), read the stock row,
-- check in the client, write the stock row and the order row.  Commit: the
-- same lock, then the order and the stock row.  Each step one transaction;
-- the lock goes with it.
\set n random(:lo, :hi)
\set id 0
BEGIN;
SELECT pg_advisory_xact_lock(hashtext(:n::text));
SELECT on_hand - reserved AS avail FROM bench.stock WHERE sku = :n::text \gset
\if :avail >= 1
UPDATE bench.stock SET reserved = reserved + 1 WHERE sku = :n::text;
INSERT INTO bench.orders (sku, qty) VALUES (:n::text, 1) RETURNING id \gset
\endif
END;
\if :id > 0
BEGIN;
SELECT pg_advisory_xact_lock(hashtext(:n::text));
UPDATE bench.orders SET state = 'sold', sold_at = now() WHERE id = :id AND state = 'held';
UPDATE bench.stock SET on_hand = on_hand - 1, reserved = reserved - 1 WHERE sku = :n::text;
END;
\endif
