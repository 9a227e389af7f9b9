-- t/crash_hot/relay.sql: an outbox relay as a pgbench client (as
-- test/pgbench/relay.sql): record the next events as delivered and
-- acknowledge them, in one transaction.
BEGIN;
WITH batch AS (SELECT seq FROM inv_outbox_next('crash-relay', 200)),
     delivered AS (INSERT INTO delivered SELECT seq FROM batch RETURNING seq)
SELECT inv_outbox_ack('crash-relay', max(seq)) FROM delivered HAVING max(seq) IS NOT NULL;
COMMIT;
