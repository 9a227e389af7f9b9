-- bench/inventory.cart.sql: the 5-line cart checkout through the extension:
-- one inv_reserve_cart of SKUs b .. b+4 (one unit each: every line or
-- none), then inv_commit of the hold, as two transactions like
-- inventory.sql.  The extension takes the SKUs' locks in one order (sorted
-- by SKU, the order of the text index the other contenders lock in).
-- The same single draw per checkout as every *.cart.sql, so that
-- --random-seed gives every contender the same carts.
\set b random(:lo, :hi - 4)
\set b1 :b + 1
\set b2 :b + 2
\set b3 :b + 3
\set b4 :b + 4
SELECT inv_reserve_cart(jsonb_build_array(
		jsonb_build_object('sku', :b::text, 'qty', 1),
		jsonb_build_object('sku', :b1::text, 'qty', 1),
		jsonb_build_object('sku', :b2::text, 'qty', 1),
		jsonb_build_object('sku', :b3::text, 'qty', 1),
		jsonb_build_object('sku', :b4::text, 'qty', 1))) AS id \gset
SELECT inv_commit(:id::uuid);
