-- t/crash_hot/adjust.sql: the warehouse receives or writes off a few units
-- of the hot SKU (never enough to be refused), and a sweep races the
-- sweeper.
\set delta random(-2, 5)
\if :delta = 0
\set delta 1
\endif
SELECT inv_adjust(:hot::text, :delta, 'crash_hot adjustment');
SELECT inv_sweep(100);
