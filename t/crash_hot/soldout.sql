-- t/crash_hot/soldout.sql: a buyer of the sold-out SKU: always refused,
-- in the snapshot, without a lock (nothing to commit).
SELECT (status = 'reserved')::int AS held, coalesce(reservation_id::text, '') AS id
  FROM inv_try_reserve_cart(jsonb_build_array(jsonb_build_object('sku', :soldout::text, 'qty', 1))) \gset
\if :held
SELECT inv_commit(:id::uuid, 'crash_hot: sold a sold-out SKU');
\endif
