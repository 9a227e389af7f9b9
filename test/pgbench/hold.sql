-- test/pgbench/hold.sql: one buyer.  Takes a hold, then pays (inv_commit),
-- fails to pay (inv_release) or walks away (the hold expires after its
-- short ttl).  The functions of harness.sql take the hold, log the attempt
-- and turn a refusal for want of stock into a NULL id.
--
-- Variables (pgbench -D):
--   sku             the hot SKU
--   max_qty         a hot-SKU buyer asks for 1..max_qty units (inv_reserve)
--   cart_pct        % of buyers with a cart, through inv_reserve_cart
--   try_pct         % of buyers with a cart, through inv_try_reserve_cart
--   max_lines       a cart has 1..max_lines lines of SKU-001..SKU-<nskus>,
--   nskus           plus, in cart_hot_pct % of carts, one unit of the hot SKU
--   cart_hot_pct
--   commit_pct      % of holders who pay
--   release_pct     % of holders whose payment fails; the rest walk away
--   hold_ttl        ttl of a hold that will be paid or released (s)
--   abandon_ttl     ttl of a hold whose buyer walks away (s)
--   pay_ms          a payment takes 0..pay_ms ms
\set roll random(1, 100)
\if :roll <= :commit_pct
\set intent 1
\set ttl :hold_ttl
\elif :roll <= :commit_pct + :release_pct
\set intent 2
\set ttl :hold_ttl
\else
\set intent 3
\set ttl :abandon_ttl
\endif
\set api random(1, 100)
\if :api <= :cart_pct
\set lines random(1, :max_lines)
SELECT (h.id IS NOT NULL)::int AS held, coalesce(h.id::text, '') AS id
  FROM harness.reserve_cart(harness.random_cart(:lines, :nskus, :sku, :cart_hot_pct),
                            :ttl, :intent, :client_id) AS h(id) \gset
\elif :api <= :cart_pct + :try_pct
\set lines random(1, :max_lines)
SELECT (h.id IS NOT NULL)::int AS held, coalesce(h.id::text, '') AS id
  FROM harness.try_reserve_cart(harness.random_cart(:lines, :nskus, :sku, :cart_hot_pct),
                                :ttl, :intent, :client_id) AS h(id) \gset
\else
\set qty random(1, :max_qty)
SELECT (h.id IS NOT NULL)::int AS held, coalesce(h.id::text, '') AS id
  FROM harness.reserve(:sku, :qty, :ttl, :intent, :client_id) AS h(id) \gset
\endif
\if :held
\set pay random(0, :pay_ms)
\sleep :pay ms
\if :intent = 1
SELECT inv_commit(:id, 'order of buyer ' || :client_id::text);
\elif :intent = 2
SELECT inv_release(:id, 'payment failed');
\endif
\endif
