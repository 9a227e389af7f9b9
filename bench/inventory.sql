-- bench/inventory.sql: one checkout through the extension, as a shop does
-- it: the reserve is one transaction, the commit another (the payment
-- happens in between; the benchmark pays instantly).  Both are autocommit
-- statements, so each commits, and with synchronous_commit = on flushes
-- the WAL, on its own.  pgbench -D lo, hi: the SKUs drawn from.
-- A refusal (IV001) would abort the client, so this script is for stock
-- that never runs out; inventory.soldout.sql is the one for sold-out.
\set n random(:lo, :hi)
SELECT inv_reserve(:n::text, 1) AS id \gset
SELECT inv_commit(:id::uuid);
