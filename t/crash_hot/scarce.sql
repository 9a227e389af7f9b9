-- t/crash_hot/scarce.sql: one unit of the scarce SKU, through
-- inv_try_reserve_cart (a refusal is a status, not an error: pgbench 15
-- aborts a client on an error).  Once the SKU sells out the refusals go the
-- lock-free way (availability.c), unless an abandoned hold is overdue.
-- 3 buyers in 4 pay; the 4th walks away from a 1 s hold.
\set walk random(1, 4)
\if :walk = 1
SELECT (status = 'reserved')::int AS held, coalesce(reservation_id::text, '') AS id
  FROM inv_try_reserve_cart(jsonb_build_array(jsonb_build_object('sku', :scarce::text, 'qty', 1)),
                            '1 second') \gset
\else
SELECT (status = 'reserved')::int AS held, coalesce(reservation_id::text, '') AS id
  FROM inv_try_reserve_cart(jsonb_build_array(jsonb_build_object('sku', :scarce::text, 'qty', 1))) \gset
\if :held
SELECT inv_commit(:id::uuid, 'crash_hot scarce order');
\endif
\endif
