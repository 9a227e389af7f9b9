-- t/crash_hot/expire.sql: a hold of the hot SKU with a 1 s ttl, released
-- (payment failed) or abandoned, so that holds expire all the time and the
-- sweeper has work.  inv_release of a hold already past its expiry expires
-- it and returns false: no error either way.
\set qty random(1, 3)
\set walk random(1, 2)
SELECT inv_reserve(:hot::text, :qty, '1 second') AS id \gset
\if :walk = 1
SELECT inv_release(:id::uuid, 'crash_hot: payment failed');
\endif
