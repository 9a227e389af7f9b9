-- test/pgbench/adjust.sql: the warehouse receives (+) or writes off (-)
-- units of one of SKU-001..SKU-<nskus> (never the hot SKU, whose total
-- stock stays what it was seeded with).  A write-off that would leave
-- fewer units than are held is refused; harness.adjust returns NULL then.
\set n random(1, :nskus)
\set delta random(-3, 12)
\if :delta = 0
\set delta 1
\endif
SELECT harness.adjust(harness.sku(:n), :delta);
