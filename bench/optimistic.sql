-- bench/optimistic.sql: optimistic concurrency.  Read the stock row and
-- its version, write it only if the version did not move, retry when it
-- did (the loop is in bench.optimistic_reserve / _commit, bench/schema.sql,
-- because pgbench cannot loop).  Reserve and commit are two transactions.
\set n random(:lo, :hi)
SELECT bench.optimistic_reserve(:n::text) AS id \gset
\if :id > 0
SELECT bench.optimistic_commit(:id);
\endif
