-- t/crash_hot/cart.sql: a cart of the hot and the scarce SKU, all or
-- nothing; paid when held.  Refused once the scarce SKU is sold out.
\set qty random(1, 2)
SELECT (status = 'reserved')::int AS held, coalesce(reservation_id::text, '') AS id
  FROM inv_try_reserve_cart(jsonb_build_array(jsonb_build_object('sku', :hot::text, 'qty', :qty::int),
                                              jsonb_build_object('sku', :scarce::text, 'qty', 1))) \gset
\if :held
SELECT inv_commit(:id::uuid, 'crash_hot cart order');
\endif
