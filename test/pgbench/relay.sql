-- test/pgbench/relay.sql: an outbox relay, as a pgbench client.  Each
-- transaction takes the next events after the consumer's position, records
-- their seqs as delivered (a real relay publishes them) and acknowledges
-- the last one.  scripts/stress.sh then checks every event was delivered.
BEGIN;
WITH batch AS (SELECT seq FROM inv_outbox_next('stress-relay', 200)),
     delivered AS (INSERT INTO harness.delivered SELECT seq FROM batch RETURNING seq)
SELECT inv_outbox_ack('stress-relay', max(seq)) FROM delivered HAVING max(seq) IS NOT NULL;
COMMIT;
