/* inventory--0.1.0--0.2.0.sql: the sweeper worker, the outbox relay API and statistics */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION inventory UPDATE TO '0.2.0'" to load this file. \quit

-- search_path: the tables' schema (inventory--0.1.0.sql); without the
-- table stock, format() fails on the NULL rather than leave it unset
SELECT pg_catalog.set_config('search_path', pg_catalog.format('%I, pg_temp',
	(SELECT n.nspname FROM pg_catalog.pg_extension e
	   JOIN pg_catalog.pg_class c ON c.oid = ANY (e.extconfig) AND c.relname = 'stock'
	   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	  WHERE e.extname = 'inventory')), true);

/*
 * There is no inventory--0.2.0.sql: CREATE EXTENSION runs the 0.1.0 script
 * and then this one, so every install walks the upgrade path that existing
 * installs take.
 */

-- ===== outbox relay ========================================================

/*
 * The relay API: inv_outbox_subscribe / inv_outbox_next / inv_outbox_ack.
 *
 * seq is taken when an event is written, not when it commits, so a relay
 * that reads "everything after the last seq I acknowledged" loses an event
 * whose transaction commits after a later one.  inv_outbox_next therefore
 * hands out events only up to a safe horizon H (outbox_horizon.safe_seq):
 * every event with seq <= H was written by a transaction that has ended,
 * so it is either visible to the relay's next snapshot or never will be.
 * How H is advanced is explained in src/relay.c.  Nothing here changes the
 * outbox table itself: Debezium and logical decoding read it as before.
 *
 * The bound relies on nextval handing seqs out in time order: a sequence
 * with CACHE > 1 lets a backend keep values it fetched earlier and use
 * them after the relay has read last_value.  CACHE 1 is the default; it is
 * set again here to say that it matters, and inv_outbox_next refuses to
 * run with any other value.
 */
ALTER SEQUENCE outbox_seq_seq CACHE 1;

/*
 * One row: H, and a candidate (pending_seq, pending_xid) that becomes H
 * once every transaction older than pending_xid has ended.  Not registered
 * with pg_extension_config_dump: after a restore it starts again at 0,
 * which is safe (it only delays events, and the next call catches up).
 * The boolean key keeps it to one row and gives it a replica identity, so
 * that a FOR ALL TABLES publication (Debezium's default) does not refuse
 * its updates.
 */
CREATE TABLE outbox_horizon (
	onerow			boolean PRIMARY KEY DEFAULT true CHECK (onerow),
	safe_seq		bigint NOT NULL DEFAULT 0 CHECK (safe_seq >= 0),
	pending_seq		bigint,
	pending_xid		pg_catalog.xid8,
	CONSTRAINT outbox_horizon_pending_complete
		CHECK ((pending_seq IS NULL) = (pending_xid IS NULL))
);
COMMENT ON TABLE outbox_horizon IS 'the outbox relay''s safe horizon: every event up to safe_seq was written by a finished transaction';
INSERT INTO outbox_horizon DEFAULT VALUES;

-- The relays' positions: user data, kept by pg_dump.
CREATE TABLE outbox_consumer (
	consumer		text PRIMARY KEY CHECK (consumer <> ''),
	acked_seq		bigint NOT NULL CHECK (acked_seq >= 0),
	subscribed_at	timestamptz NOT NULL,
	acked_at		timestamptz
);
COMMENT ON TABLE outbox_consumer IS 'outbox relays: each has acknowledged every event up to acked_seq';
SELECT pg_catalog.pg_extension_config_dump('outbox_consumer', '');

CREATE VIEW outbox_consumers AS
SELECT c.consumer,
	   c.acked_seq,
	   (SELECT pg_catalog.count(*) FROM outbox o
		 WHERE o.seq > c.acked_seq) AS backlog,
	   c.subscribed_at,
	   c.acked_at
  FROM outbox_consumer c;
COMMENT ON VIEW outbox_consumers IS 'outbox relays, with the number of events each has not acknowledged yet';

CREATE FUNCTION @extschema@.inv_outbox_subscribe(consumer text, start_after bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'inv_outbox_subscribe'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_outbox_subscribe(text, bigint) IS 'create an outbox consumer (after start_after, or the safe horizon); returns its position, unchanged if it exists';

CREATE FUNCTION @extschema@.inv_outbox_unsubscribe(consumer text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'inv_outbox_unsubscribe'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_outbox_unsubscribe(text) IS 'forget an outbox consumer; false when there was none';

CREATE FUNCTION @extschema@.inv_outbox_next(consumer text, max_events integer DEFAULT 100)
RETURNS SETOF outbox
AS 'MODULE_PATHNAME', 'inv_outbox_next'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_outbox_next(text, integer) IS 'the next events after the consumer''s position, in seq order, up to the safe horizon';

CREATE FUNCTION @extschema@.inv_outbox_ack(consumer text, upto_seq bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'inv_outbox_ack'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_outbox_ack(text, bigint) IS 'move the consumer''s position forward to upto_seq; returns the position';

REVOKE ALL ON TABLE outbox_horizon, outbox_consumer,
				   outbox_consumers FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_outbox_subscribe(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_outbox_unsubscribe(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_outbox_next(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_outbox_ack(text, bigint) FROM PUBLIC;

-- ===== retention, worker and statistics ====================================

/*
 * Retention (src/retention.c) removes finished holds and delivered events.
 * It leaves two notes so that inv_verify's books still balance: units sold
 * by purged holds, and the time of the newest purged event.
 */
CREATE TABLE purged_sales (
	sku		text PRIMARY KEY,
	qty		bigint NOT NULL CHECK (qty >= 0)
);
COMMENT ON TABLE purged_sales IS 'units sold by committed holds that retention has purged, per SKU';

-- At most one row; none until the first purge of an event.
CREATE TABLE purge_state (
	singleton		boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	events_before	timestamptz NOT NULL
);
COMMENT ON TABLE purge_state IS 'occurred_at of the newest outbox event retention has purged';

SELECT pg_catalog.pg_extension_config_dump('purged_sales', '');
SELECT pg_catalog.pg_extension_config_dump('purge_state', '');

CREATE FUNCTION @extschema@.inv_purge(max_rows integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'inv_purge'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_purge(integer) IS 'purge up to max_rows finished holds and max_rows acknowledged outbox events older than inventory.retention';

-- inv_verify, now aware of what retention removed
-- named with the tables' schema, as in inventory--0.1.0.sql
DO $verify$
BEGIN
	EXECUTE pg_catalog.format($def$
CREATE OR REPLACE FUNCTION @extschema@.inv_verify()
RETURNS TABLE (sku text, problem text, expected bigint, actual bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS %L
$def$, pg_catalog.replace($body$
	WITH purged AS (
		-- events older than this may be gone; check only younger ones
		SELECT coalesce(max(p.events_before), '-infinity') AS before
		  FROM inventory.purge_state p),
	held AS (
		SELECT l.sku, sum(l.qty)::bigint AS qty
		  FROM inventory.reservation_line l
		  JOIN inventory.reservation r ON r.id = l.reservation_id
		 WHERE r.state = 'held'
		 GROUP BY l.sku),
	sold AS (
		SELECT x.sku, sum(x.qty)::bigint AS qty
		  FROM (SELECT l.sku, l.qty
				  FROM inventory.reservation_line l
				  JOIN inventory.reservation r ON r.id = l.reservation_id
				 WHERE r.state = 'committed'
				UNION ALL
				SELECT p.sku, p.qty FROM inventory.purged_sales p) x
		 GROUP BY x.sku),
	adjusted AS (
		SELECT a.sku, sum(a.delta)::bigint AS qty
		  FROM inventory.adjustment a
		 GROUP BY a.sku),
	recent AS (
		SELECT r.* FROM inventory.reservation r, purged
		 WHERE r.created_at > purged.before)
	SELECT s.sku, 'reserved is not the sum of held lines', coalesce(h.qty, 0), s.reserved
	  FROM inventory.stock s LEFT JOIN held h ON h.sku = s.sku
	 WHERE s.reserved <> coalesce(h.qty, 0)
	UNION ALL
	SELECT s.sku, 'on_hand is not adjustments minus committed lines',
		   coalesce(a.qty, 0) - coalesce(c.qty, 0), s.on_hand
	  FROM inventory.stock s
	  LEFT JOIN adjusted a ON a.sku = s.sku
	  LEFT JOIN sold c ON c.sku = s.sku
	 WHERE s.on_hand <> coalesce(a.qty, 0) - coalesce(c.qty, 0)
	UNION ALL
	SELECT coalesce(a.sku, e.sku), 'stock.adjusted events do not match the ledger',
		   coalesce(a.n, 0), coalesce(e.n, 0)
	  FROM (SELECT a.sku, count(*) AS n
			  FROM inventory.adjustment a, purged
			 WHERE a.created_at > purged.before
			 GROUP BY a.sku) a
	  FULL JOIN (SELECT o.aggregateid AS sku, count(*) AS n
				   FROM inventory.outbox o, purged
				  WHERE o.aggregatetype = 'stock' AND o.type = 'stock.adjusted'
					AND o.occurred_at > purged.before
				  GROUP BY o.aggregateid) e ON e.sku = a.sku
	 WHERE coalesce(a.n, 0) <> coalesce(e.n, 0)
	UNION ALL
	SELECT r.id::text, 'reservation has not exactly one reservation.held event', 1, count(o.id)
	  FROM recent r
	  LEFT JOIN inventory.outbox o
		ON o.aggregatetype = 'reservation' AND o.aggregateid = r.id::text
	   AND o.type = 'reservation.held'
	 GROUP BY r.id
	HAVING count(o.id) <> 1
	UNION ALL
	SELECT r.id::text, 'reservation has not exactly one terminal event',
		   CASE WHEN r.state = 'held' THEN 0 ELSE 1 END, count(o.id)
	  FROM recent r
	  LEFT JOIN inventory.outbox o
		ON o.aggregatetype = 'reservation' AND o.aggregateid = r.id::text
	   AND o.type IN ('reservation.committed', 'reservation.released', 'reservation.expired')
	 GROUP BY r.id, r.state
	HAVING count(o.id) <> CASE WHEN r.state = 'held' THEN 0 ELSE 1 END
	UNION ALL
	SELECT r.id::text, 'terminal event does not match the state', 1, 0
	  FROM recent r
	 WHERE r.state <> 'held'
	   AND NOT EXISTS (SELECT 1 FROM inventory.outbox o
						WHERE o.aggregatetype = 'reservation'
						  AND o.aggregateid = r.id::text
						  AND o.type = 'reservation.' || r.state)
$body$, 'inventory.', pg_catalog.quote_ident(pg_catalog.current_schema()) || '.'));
END
$verify$;

/*
 * Statistics.  The counters live in shared memory (src/shmem.c): they
 * count calls since the server started (or inv_stats_reset()), including
 * calls whose transaction later rolled back, and are NULL unless the
 * library is in shared_preload_libraries.  The rest is read from the
 * tables when the view is queried.
 */
CREATE FUNCTION stats_counters(
	OUT reserves bigint,
	OUT replays bigint,
	OUT refused_insufficient_stock bigint,
	OUT refused_unknown_sku bigint,
	OUT commits bigint,
	OUT releases bigint,
	OUT expirations bigint,
	OUT sweeps bigint,
	OUT purged_holds bigint,
	OUT purged_events bigint,
	OUT last_sweep_at timestamptz,
	OUT last_sweep_ms double precision,
	OUT stats_since timestamptz,
	OUT sweeper_pid integer)
RETURNS record
AS 'MODULE_PATHNAME', 'inv_stats_counters'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION stats_counters() IS 'this database''s counters from shared memory; use the view inventory.stats';

CREATE VIEW stats AS
SELECT c.reserves,
	   c.replays,
	   c.refused_insufficient_stock,
	   c.refused_unknown_sku,
	   c.commits,
	   c.releases,
	   c.expirations,
	   c.sweeps,
	   c.last_sweep_at,
	   c.last_sweep_ms,
	   o.overdue_holds,
	   pg_catalog.clock_timestamp() - o.oldest_expiry AS oldest_overdue_age,
	   b.outbox_backlog,
	   c.purged_holds,
	   c.purged_events,
	   c.sweeper_pid,
	   c.stats_since
  FROM stats_counters() c,
	   (SELECT pg_catalog.count(*) AS overdue_holds,
			   pg_catalog.min(r.expires_at) AS oldest_expiry
		  FROM reservation r
		 WHERE r.state = 'held' AND r.expires_at <= pg_catalog.clock_timestamp()) o,
	   (SELECT coalesce(pg_catalog.jsonb_object_agg(k.consumer, k.backlog), '{}')
			   AS outbox_backlog
		  FROM outbox_consumers k) b;
COMMENT ON VIEW stats IS 'what the extension did since stats_since, and whether the sweeper and the relays keep up';

CREATE FUNCTION @extschema@.inv_stats_reset()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'inv_stats_reset'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_stats_reset() IS 'zero this database''s counters in inventory.stats';

-- The launcher starts a sweeper here once this transaction commits.
CREATE FUNCTION worker_wake()
RETURNS void
AS 'MODULE_PATHNAME', 'inv_worker_wake'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION worker_wake() IS 'after commit, have the launcher start a sweeper in this database (run by the extension''s scripts)';
SELECT worker_wake();

REVOKE ALL ON purged_sales, purge_state, stats FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_purge(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION stats_counters() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_stats_reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION worker_wake() FROM PUBLIC;

-- Monitoring roles may read the statistics.
DO $usage$
BEGIN
	EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO pg_monitor', pg_catalog.current_schema());
END
$usage$;
GRANT SELECT ON stats TO pg_monitor;
GRANT EXECUTE ON FUNCTION stats_counters() TO pg_monitor;
