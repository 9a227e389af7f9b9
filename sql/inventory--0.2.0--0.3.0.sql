/* inventory--0.2.0--0.3.0.sql: a cheaper write path */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION inventory UPDATE TO '0.3.0'" to load this file. \quit

-- search_path: the tables' schema (inventory--0.1.0.sql); without the
-- table stock, format() fails on the NULL rather than leave it unset
SELECT pg_catalog.set_config('search_path', pg_catalog.format('%I, pg_temp',
	(SELECT n.nspname FROM pg_catalog.pg_extension e
	   JOIN pg_catalog.pg_class c ON c.oid = ANY (e.extconfig) AND c.relname = 'stock'
	   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	  WHERE e.extname = 'inventory')), true);

/*
 * A checkout writes less (issue 11; make budget counts it).  Every change
 * here keeps the data as it is: holds in force and events not yet relayed
 * go on as before.
 */

-- The idempotency index holds the keys only: a hold without a key adds no
-- entry, on reserve nor on the update that finishes it.
ALTER TABLE reservation DROP CONSTRAINT reservation_idempotency_key_key;
CREATE UNIQUE INDEX reservation_idempotency_key_idx
	ON reservation (idempotency_key) WHERE idempotency_key IS NOT NULL;

/*
 * A hold's lines live in its own row: skus and qtys, in byte order of SKU
 * (COLLATE "C"), one element per line.  A reserve writes one row, not one
 * per line and a hold besides (the line table's row, its primary-key
 * entry and its statement came to a sixth of a checkout's CPU).  The
 * functions write the arrays only for a hold they have just inserted and
 * SKUs whose rows they hold locked; inv_verify() reports a line of an
 * unknown SKU, a hold without lines and arrays that disagree.
 * inventory.reservation_line stays, as a view of the same rows.
 */
ALTER TABLE reservation
	ADD COLUMN skus text[],
	ADD COLUMN qtys bigint[];
UPDATE reservation r
   SET skus = l.skus, qtys = l.qtys
  FROM (SELECT l.reservation_id,
			   pg_catalog.array_agg(l.sku ORDER BY l.sku COLLATE "C") AS skus,
			   pg_catalog.array_agg(l.qty ORDER BY l.sku COLLATE "C") AS qtys
		  FROM reservation_line l
		 GROUP BY l.reservation_id) l
 WHERE l.reservation_id = r.id;
-- a hold without lines could only be made by hand: inv_verify says so
UPDATE reservation SET skus = '{}', qtys = '{}' WHERE skus IS NULL;
ALTER TABLE reservation
	ALTER COLUMN skus SET NOT NULL,
	ALTER COLUMN skus SET DEFAULT '{}',
	ALTER COLUMN qtys SET NOT NULL,
	ALTER COLUMN qtys SET DEFAULT '{}',
	ADD CONSTRAINT reservation_lines_match
		CHECK (pg_catalog.cardinality(skus) = pg_catalog.cardinality(qtys)
			   AND 0 < ALL (qtys));
COMMENT ON COLUMN reservation.skus IS 'the SKUs of the hold''s lines, in byte order';
COMMENT ON COLUMN reservation.qtys IS 'the units of each line, in the order of skus';

-- the line table goes; what read it reads the view of the same name
DROP VIEW stock_levels;
-- (out of the extension first: that also takes it off pg_dump's config list)
ALTER EXTENSION inventory DROP TABLE reservation_line;
DROP TABLE reservation_line;

CREATE VIEW reservation_line AS
SELECT r.id AS reservation_id, l.sku, l.qty
  FROM reservation r,
	   unnest(r.skus, r.qtys) AS l(sku, qty);
COMMENT ON VIEW reservation_line IS 'units of one SKU in one hold: the lines of inventory.reservation, one row each';

/*
 * The stock row keeps what a reserve needs, available, and nothing a
 * commit changes: a sale only turns a hold from held into committed (its
 * units were already out of available), so a commit neither locks nor
 * writes the stock row, which a hot SKU's buyers queue for.  reserved is
 * the sum of the lines of the holds held, on_hand is available + reserved;
 * inv_stock(), inventory.stock_levels and inv_verify() compute them.
 * version counts the row's changes: reserves, releases, expiries and
 * adjustments, not sales.
 */
ALTER TABLE stock ADD COLUMN available bigint;
UPDATE stock SET available = on_hand - reserved;
ALTER TABLE stock
	ALTER COLUMN available SET NOT NULL,
	ADD CONSTRAINT stock_available_check CHECK (available >= 0),
	DROP CONSTRAINT stock_reserved_le_on_hand,
	DROP COLUMN on_hand,
	DROP COLUMN reserved;
COMMENT ON TABLE stock IS 'units per SKU free for sale; those held are in the holds';
COMMENT ON COLUMN stock.available IS 'units a reserve may take: on_hand minus the units of holds held';

/*
 * Sales of a SKU and changes of its count are ordered by a lock on the SKU
 * (locks.h): a commit takes it shared before its event, inv_set_stock and
 * inv_adjust exclusively before they count the units held.  For the
 * functions' own statements only.  No SET search_path: it looks nothing up
 * by name, and a SET would cost every commit a save and restore.
 */
CREATE FUNCTION lock_sales(skus text[])
RETURNS boolean
AS 'MODULE_PATHNAME', 'inv_lock_sales'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION lock_sales(text[]) IS 'the sales locks of the SKUs of a hold being committed (run by inv_commit)';
REVOKE ALL ON FUNCTION lock_sales(text[]) FROM PUBLIC;

/*
 * Stock as a buyer sees it: a hold past its expiry no longer counts,
 * whether or not a sweep has run.  "overdue" is what the next sweep (or
 * the next reserve that needs it) will give back.
 */
CREATE VIEW stock_levels AS
SELECT s.sku,
	   s.available + coalesce(h.held, 0) AS on_hand,
	   coalesce(h.held, 0) - coalesce(h.overdue, 0) AS reserved,
	   s.available + coalesce(h.overdue, 0) AS available,
	   s.version,
	   s.updated_at,
	   coalesce(h.overdue, 0) AS overdue
  FROM stock s
  LEFT JOIN (SELECT l.sku,
					pg_catalog.sum(l.qty)::bigint AS held,
					(pg_catalog.sum(l.qty) FILTER (
						WHERE r.expires_at <= pg_catalog.clock_timestamp()))::bigint AS overdue
			   FROM reservation r,
					unnest(r.skus, r.qtys) AS l(sku, qty)
			  WHERE r.state = 'held'
			  GROUP BY l.sku) h ON h.sku = s.sku;
COMMENT ON VIEW stock_levels IS 'on_hand, reserved and available per SKU, counting holds in force only';

REVOKE ALL ON TABLE reservation_line, stock_levels FROM PUBLIC;

-- The outbox is keyed by seq alone: one index entry per event, not two.
-- id stays (Debezium's event id), generated as before.
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_seq_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_pkey PRIMARY KEY (seq);

/*
 * Payloads say only what the envelope does not: the hold's id is
 * aggregateid, its state the event's type, the time occurred_at (and a
 * hold's created_at the occurred_at of its reservation.held).  Keys whose
 * value is null are left out, and expires_at is given while the hold is in
 * force (held, extended).  Events already in the outbox take the new shape
 * too, so that a relay reads one shape, before and after the update.
 */
UPDATE outbox
   SET payload = pg_catalog.jsonb_strip_nulls(
		   CASE WHEN type IN ('reservation.held', 'reservation.extended')
				THEN payload
				ELSE payload - 'expires_at' END
		   - '{reservation_id,state,created_at,finished_at,at,sku}'::text[])
 WHERE aggregatetype IN ('reservation', 'stock');

-- inv_verify, now also checking what the line table's keys checked
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
	-- sums stay numeric: the ledger's can pass bigint's range (a SKU counted
	-- at 2^63 - 1 that sold units and was topped up again) while every
	-- count the tables keep stays in it
	held AS (
		SELECT l.sku, sum(l.qty) AS qty
		  FROM inventory.reservation r, unnest(r.skus, r.qtys) AS l(sku, qty)
		 WHERE r.state = 'held'
		 GROUP BY l.sku),
	sold AS (
		SELECT x.sku, sum(x.qty) AS qty
		  FROM (SELECT l.sku, l.qty
				  FROM inventory.reservation r, unnest(r.skus, r.qtys) AS l(sku, qty)
				 WHERE r.state = 'committed'
				UNION ALL
				SELECT p.sku, p.qty FROM inventory.purged_sales p) x
		 GROUP BY x.sku),
	adjusted AS (
		SELECT a.sku, sum(a.delta) AS qty
		  FROM inventory.adjustment a
		 GROUP BY a.sku),
	recent AS (
		SELECT r.* FROM inventory.reservation r, purged
		 WHERE r.created_at > purged.before)
	SELECT s.sku, 'on_hand is not adjustments minus committed lines',
		   (coalesce(a.qty, 0) - coalesce(c.qty, 0))::bigint, (s.available + coalesce(h.qty, 0))::bigint
	  FROM inventory.stock s
	  LEFT JOIN held h ON h.sku = s.sku
	  LEFT JOIN adjusted a ON a.sku = s.sku
	  LEFT JOIN sold c ON c.sku = s.sku
	 WHERE s.available + coalesce(h.qty, 0) <> coalesce(a.qty, 0) - coalesce(c.qty, 0)
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
	-- what the line table's keys and checks said up to 0.2.0
	SELECT l.sku, 'line of an unknown SKU', 0, l.qty
	  FROM inventory.reservation r, unnest(r.skus, r.qtys) AS l(sku, qty)
	 WHERE NOT EXISTS (SELECT 1 FROM inventory.stock s WHERE s.sku = l.sku)
	UNION ALL
	SELECT r.id::text, 'reservation has no line', 1, 0
	  FROM inventory.reservation r
	 WHERE pg_catalog.cardinality(r.skus) = 0
	UNION ALL
	SELECT r.id::text, 'lines not in byte order of SKU, or a SKU twice', 0,
		   pg_catalog.cardinality(r.skus)
	  FROM inventory.reservation r
	 WHERE EXISTS (SELECT 1 FROM generate_series(2, pg_catalog.cardinality(r.skus)) AS i
				    WHERE r.skus[i - 1] COLLATE "C" >= r.skus[i] COLLATE "C")
$body$, 'inventory.', pg_catalog.quote_ident(pg_catalog.current_schema()) || '.'));
END
$verify$;
