-- t/crash_hot/hot.sql: a checkout of the hot SKU, as bench/inventory.sql
-- does it: the reserve is one transaction, the commit another.  The hot SKU
-- never runs out, so inv_reserve (which raises a refusal) is safe here.
\set qty random(1, 3)
SELECT inv_reserve(:hot::text, :qty) AS id \gset
SELECT inv_commit(:id::uuid, 'crash_hot order');
