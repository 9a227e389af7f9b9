-- bench/inventory.soldout.sql: the checkout of inventory.sql through the
-- API that returns a refusal instead of raising it (inv_try_reserve_cart:
-- pgbench aborts a client on any error), for the sold-out scenario.  A
-- refusal ends the checkout: nothing to commit.
\set n random(:lo, :hi)
SELECT (status = 'reserved')::int AS held, coalesce(reservation_id::text, '') AS id
  FROM inv_try_reserve_cart(jsonb_build_array(jsonb_build_object('sku', :n::text, 'qty', 1))) \gset
\if :held
SELECT inv_commit(:id::uuid);
\endif
