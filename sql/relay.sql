--
-- relay: the outbox relay API: inv_outbox_subscribe, inv_outbox_next,
-- inv_outbox_ack, inv_outbox_unsubscribe and the view
-- inventory.outbox_consumers; every refusal with its SQLSTATE, and that a
-- refusal changes nothing.  Writers and relays racing each other are in
-- specs/relay_*.spec.
-- SKUs: RL-*; consumers: rl-*
--
-- Seqs depend on what the files before this one wrote, so they are shown
-- relative to :base, the sequence's last value before this file's first
-- event.
--

-- Wait until the safe horizon covers every seq taken so far.  Idle, the
-- first call of inv_outbox_next does it; this only absorbs a transaction
-- of another session (autovacuum, a sweeper) that runs at that moment.  A
-- procedure, so that every try is a transaction of its own.
CREATE PROCEDURE test_relay_settle() LANGUAGE plpgsql AS $$
DECLARE
	target bigint := coalesce(pg_sequence_last_value('inventory.outbox_seq_seq'), 0);
BEGIN
	FOR i IN 1..200 LOOP
		PERFORM count(*) FROM inv_outbox_next('rl-settle', 1);
		COMMIT;
		IF (SELECT safe_seq FROM inventory.outbox_horizon) >= target THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RAISE WARNING 'the outbox horizon did not reach the last seq';
END;
$$;

-- What a refusal must leave alone: stock, holds, outbox (test_fingerprint),
-- the consumers and the horizon.
CREATE FUNCTION test_relay_fingerprint() RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT md5(concat_ws('|', test_fingerprint(),
		(SELECT string_agg(c::text, ',' ORDER BY c.consumer COLLATE "C")
		   FROM inventory.outbox_consumer c),
		(SELECT h::text FROM inventory.outbox_horizon h)));
$$;

-- The bound of the horizon needs a sequence that hands seqs out one at a
-- time, in order: no per-backend cache.
SELECT cache_size FROM pg_sequences
 WHERE schemaname = 'inventory' AND sequencename = 'outbox_seq_seq';

-- Holds the files before this one left: given back now, so that no sweep
-- (the sweeper worker's) writes an event while this file counts seqs.
DO $$ BEGIN PERFORM inv_release(id) FROM inventory.reservation WHERE state = 'held'; END $$;

-- the consumer test_relay_settle uses
SELECT inv_outbox_subscribe('rl-settle', 0);
CALL test_relay_settle();
SELECT coalesce(pg_sequence_last_value('inventory.outbox_seq_seq'), 0) AS base \gset
SELECT safe_seq - :base AS horizon, pending_seq, pending_xid FROM inventory.outbox_horizon;

--
-- inv_outbox_subscribe
--
-- start_after NULL: at the safe horizon, so only events from now on
SELECT inv_outbox_subscribe('rl-new') - :base AS position;
SELECT inv_set_stock('RL-A', 1);
SELECT inv_set_stock('RL-B', 2);
SELECT inv_set_stock('RL-C', 3);
CALL test_relay_settle();
SELECT seq - :base AS n, type, aggregatetype, aggregateid, payload->'on_hand' AS on_hand
  FROM inv_outbox_next('rl-new');
-- 0: everything still in the outbox
SELECT inv_outbox_subscribe('rl-all', 0);
SELECT count(*) = (SELECT count(*) FROM inventory.outbox) AS everything,
       min(seq) = (SELECT min(seq) FROM inventory.outbox) AS from_the_first
  FROM inv_outbox_next('rl-all', 10000);
-- a position of one's own: the events after it
SELECT inv_outbox_subscribe('rl-mid', :base + 1) - :base AS position;
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-mid');
SELECT consumer, acked_seq - :base AS position, subscribed_at IS NOT NULL AS subscribed,
       acked_at IS NULL AS never_acked
  FROM inventory.outbox_consumer WHERE consumer IN ('rl-new', 'rl-mid') ORDER BY consumer;

-- a consumer that exists keeps its position, whatever start_after says
-- (a relay subscribes at every start)
SELECT test_relay_fingerprint() AS fp \gset
SELECT inv_outbox_subscribe('rl-mid') - :base AS position;
SELECT inv_outbox_subscribe('rl-mid', 0) - :base AS position;
SELECT inv_outbox_subscribe('rl-mid', :base + 3) - :base AS position;
SELECT test_relay_fingerprint() = :'fp' AS unchanged;

-- refusals: nothing is created
SELECT inv_outbox_subscribe(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_subscribe('');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_subscribe('rl-neg', -1);
\echo :LAST_ERROR_SQLSTATE
-- a start beyond the horizon would skip events that can still commit
-- (terse: the detail gives absolute seqs)
\set VERBOSITY terse
SELECT inv_outbox_subscribe('rl-far', :base + 1000);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- creating a consumer needs READ COMMITTED (it moves the horizon) ...
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT inv_outbox_subscribe('rl-rr');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- ... finding one does not
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT inv_outbox_subscribe('rl-mid') - :base AS position;
ROLLBACK;
SELECT test_relay_fingerprint() = :'fp' AS unchanged;

--
-- inv_outbox_next: in seq order, after the position, at most max_events;
-- the position moves only with an ack, so a call again returns the same
--
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new', 2);
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new', 2);
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new', 1);
SELECT count(*) FROM inv_outbox_next('rl-new', 10000);
-- the rows are the outbox's own, every column
SELECT (SELECT array_agg(e ORDER BY e.seq) FROM inv_outbox_next('rl-new') e)
     = (SELECT array_agg(o ORDER BY o.seq) FROM inventory.outbox o
         WHERE o.seq > :base AND o.seq <= :base + 3) AS same_rows;

-- refusals
SELECT test_relay_fingerprint() AS fp \gset
SELECT * FROM inv_outbox_next('rl-nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_outbox_next(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_outbox_next('');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_outbox_next('rl-new', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_outbox_next('rl-new', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inv_outbox_next('rl-new', 10001);
\echo :LAST_ERROR_SQLSTATE
-- a snapshot older than the horizon could miss events it covers
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM inv_outbox_next('rl-new');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM inv_outbox_next('rl-new');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a sequence with cached values would break the bound
BEGIN;
ALTER SEQUENCE inventory.outbox_seq_seq CACHE 20;
SELECT * FROM inv_outbox_next('rl-new');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT test_relay_fingerprint() = :'fp' AS unchanged;

--
-- The horizon never covers an uncommitted event of the caller's own
-- transaction: the relay does not hand it out, not even to itself.
--
BEGIN;
SELECT inv_set_stock('RL-OWN', 1);
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');
SELECT safe_seq - :base AS horizon FROM inventory.outbox_horizon;
COMMIT;
CALL test_relay_settle();
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');
-- the same after a first call in the transaction
SELECT inv_set_stock('RL-D', 1);
CALL test_relay_settle();
BEGIN;
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');
SELECT inv_set_stock('RL-OWN', 2);
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');
COMMIT;
CALL test_relay_settle();
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');

--
-- inv_outbox_ack moves the position forward and returns it
--
SELECT inv_outbox_ack('rl-new', :base + 2) - :base AS position;
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');
SELECT consumer, acked_seq - :base AS position, backlog, acked_at IS NOT NULL AS acked
  FROM inventory.outbox_consumers WHERE consumer IN ('rl-new', 'rl-mid') ORDER BY consumer;
-- up to the horizon itself
SELECT safe_seq - :base AS horizon FROM inventory.outbox_horizon;
SELECT inv_outbox_ack('rl-new', :base + 6) - :base AS position;
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');

-- a retry, or an ack behind the position, changes nothing and returns
-- the position
SELECT test_relay_fingerprint() AS fp \gset
SELECT inv_outbox_ack('rl-new', :base + 6) - :base AS position;
SELECT inv_outbox_ack('rl-new', :base + 1) - :base AS position;
SELECT inv_outbox_ack('rl-new', 0) - :base AS position;
SELECT test_relay_fingerprint() = :'fp' AS unchanged;

-- refusals
-- beyond the horizon (terse: the detail gives absolute seqs); would skip
-- events not handed out yet
\set VERBOSITY terse
SELECT inv_outbox_ack('rl-new', :base + 1000);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- an event that exists, but is not handed out yet: our own, uncommitted
BEGIN;
SELECT inv_set_stock('RL-OWN', 3);
SELECT max(seq) AS own_seq FROM inventory.outbox \gset
\set VERBOSITY terse
SELECT inv_outbox_ack('rl-new', :own_seq);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
ROLLBACK;
SELECT inv_outbox_ack('rl-nobody', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_ack(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_ack('', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_ack('rl-new', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_ack('rl-new', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT test_relay_fingerprint() = :'fp' AS unchanged;

--
-- inv_outbox_unsubscribe: true when the consumer was there
--
SELECT inv_outbox_unsubscribe('rl-mid');
SELECT inv_outbox_unsubscribe('rl-mid');
SELECT * FROM inv_outbox_next('rl-mid');
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_ack('rl-mid', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_unsubscribe(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT inv_outbox_unsubscribe('');
\echo :LAST_ERROR_SQLSTATE
-- subscribing again starts afresh, at the horizon
SELECT inv_outbox_subscribe('rl-mid') - :base AS position;

--
-- Debezium creates a publication FOR ALL TABLES by default: then every
-- UPDATE and DELETE of any table needs a replica identity, or it fails.
-- The relay's writes go through, and every table of the extension has one.
--
SET client_min_messages = error;	-- the wal_level warning depends on the server
CREATE PUBLICATION regress_relay_pub FOR ALL TABLES;
RESET client_min_messages;
SELECT inv_set_stock('RL-PUB', 1);
CALL test_relay_settle();
SELECT seq - :base AS n, aggregateid FROM inv_outbox_next('rl-new');
SELECT inv_outbox_ack('rl-new', :base + 8) - :base AS position;
SELECT inv_outbox_unsubscribe('rl-all');
DROP PUBLICATION regress_relay_pub;
SELECT c.oid::regclass AS no_replica_identity
  FROM pg_class c
 WHERE c.relnamespace = 'inventory'::regnamespace AND c.relkind = 'r'
   AND c.relreplident <> 'f'
   AND NOT EXISTS (SELECT FROM pg_index i
					WHERE i.indrelid = c.oid
					  AND CASE c.relreplident WHEN 'd' THEN i.indisprimary
											  WHEN 'i' THEN i.indisreplident END)
 ORDER BY 1;

--
-- seqs only go up: a sequence moved back below the horizon would hand out
-- seqs a relay has passed already, so the relay refuses to go on
--
SELECT last_value AS seq_last FROM inventory.outbox_seq_seq \gset
SELECT inv_outbox_subscribe('rl-seq') IS NOT NULL AS subscribed;
SELECT setval('inventory.outbox_seq_seq', 1) AS moved_back;
\set VERBOSITY terse
SELECT inv_outbox_next('rl-seq');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT setval('inventory.outbox_seq_seq', :seq_last) = :seq_last AS restored;
SELECT count(*) AS after_restore FROM inv_outbox_next('rl-seq');
ALTER SEQUENCE inventory.outbox_seq_seq CYCLE;
SELECT inv_outbox_next('rl-seq');
\echo :LAST_ERROR_SQLSTATE
ALTER SEQUENCE inventory.outbox_seq_seq NO CYCLE;
SELECT count(*) AS after_no_cycle FROM inv_outbox_next('rl-seq');
SELECT inv_outbox_unsubscribe('rl-seq');

-- the consumers hold retention back: leave none behind
SELECT inv_outbox_unsubscribe(c) FROM unnest(ARRAY['rl-new', 'rl-mid', 'rl-settle']) c;
SELECT count(*) AS consumers_left FROM inventory.outbox_consumer WHERE consumer LIKE 'rl-%';
SELECT * FROM inv_verify();
