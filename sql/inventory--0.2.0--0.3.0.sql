/* inventory--0.2.0--0.3.0.sql: a cheaper write path */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION inventory UPDATE TO '0.3.0'" to load this file. \quit

/*
 * A checkout writes less (issue 11; make budget counts it).  Every change
 * here keeps the data as it is: holds in force and events not yet relayed
 * go on as before.
 */

-- The idempotency index holds the keys only: a hold without a key adds no
-- entry, on reserve nor on the update that finishes it.
ALTER TABLE inventory.reservation DROP CONSTRAINT reservation_idempotency_key_key;
CREATE UNIQUE INDEX reservation_idempotency_key_idx
	ON inventory.reservation (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- No foreign keys on the lines: the functions write a line only for a hold
-- they have just inserted and a SKU whose row they hold locked, and
-- retention deletes a hold's lines itself.  Each key cost a statement and
-- a row lock per line.  inv_verify() reports any line of no hold or of an
-- unknown SKU instead.
ALTER TABLE inventory.reservation_line
	DROP CONSTRAINT reservation_line_reservation_id_fkey,
	DROP CONSTRAINT reservation_line_sku_fkey;

-- Lines are found by their hold (the primary key), never by SKU alone on
-- a buyer's path: the reclaim and the views reach them from the overdue
-- holds (reservation_held_expires_at_idx).  One index entry less per line.
DROP INDEX inventory.reservation_line_sku_idx;

-- The outbox is keyed by seq alone: one index entry per event, not two.
-- id stays (Debezium's event id), generated as before.
ALTER TABLE inventory.outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE inventory.outbox DROP CONSTRAINT outbox_seq_key;
ALTER TABLE inventory.outbox ADD CONSTRAINT outbox_pkey PRIMARY KEY (seq);

-- inv_verify, now also checking what the foreign keys checked
CREATE OR REPLACE FUNCTION @extschema@.inv_verify()
RETURNS TABLE (sku text, problem text, expected bigint, actual bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
	UNION ALL
	-- what the foreign keys of reservation_line checked up to 0.2.0
	SELECT l.reservation_id::text, 'line of no reservation', 0, l.qty
	  FROM inventory.reservation_line l
	 WHERE NOT EXISTS (SELECT 1 FROM inventory.reservation r WHERE r.id = l.reservation_id)
	UNION ALL
	SELECT l.sku, 'line of an unknown SKU', 0, l.qty
	  FROM inventory.reservation_line l
	 WHERE NOT EXISTS (SELECT 1 FROM inventory.stock s WHERE s.sku = l.sku)
	UNION ALL
	SELECT r.id::text, 'reservation has no line', 1, 0
	  FROM inventory.reservation r
	 WHERE NOT EXISTS (SELECT 1 FROM inventory.reservation_line l WHERE l.reservation_id = r.id)
$$;
