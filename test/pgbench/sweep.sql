-- test/pgbench/sweep.sql: what the background worker will do, now and then.
SELECT inv_sweep(200);
