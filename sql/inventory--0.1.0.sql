/* inventory--0.1.0.sql: the schema contract of the inventory extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION inventory" to load this file. \quit

/*
 * The functions live in the schema CREATE EXTENSION installs into
 * (@extschema@, public by default), so that SELECT inv_reserve(...) works
 * with the default search_path.  The tables live in a schema of their own,
 * "inventory", created here.
 *
 * A database that already has a schema named "inventory" (the shop's own)
 * gets the tables in the schema the extension is installed in instead,
 * next to the functions: CREATE SCHEMA s; CREATE EXTENSION inventory
 * SCHEMA s.  That schema must be one made for the extension: not public (a
 * plain CREATE EXTENSION fails there with 42P06, as it always did, and
 * says what to do), and nothing granted on it yet but the extension's own
 * grants of an earlier install.  The grants below would otherwise be
 * recorded, with whatever the schema had, as the extension's initial
 * privileges, which pg_dump leaves out of a dump.  pg_dump restores the
 * shop's schemas first, then the extension WITH SCHEMA s, and the grants
 * on s last, so a restore makes the same choice.
 *
 * The scripts name the tables through search_path, which holds the tables'
 * schema alone (pg_catalog is searched first, pg_temp last); the update
 * scripts find it again in the same way as the C code (src/schema.c): the
 * schema of the configuration table "stock".  The functions pin
 * search_path to pg_catalog, pg_temp and name the tables with their
 * schema: the C code's statements, and inv_verify's, made below with the
 * schema's name.
 */
DO $schema$
DECLARE
	ext			pg_catalog.pg_extension;
	s			pg_catalog.pg_namespace;
	hint		text := 'Install it in a schema made for it: CREATE SCHEMA inventory_engine; '
						'CREATE EXTENSION inventory SCHEMA inventory_engine;';
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'inventory') THEN
		CREATE SCHEMA inventory;
		COMMENT ON SCHEMA inventory IS 'tables of the inventory extension: change them only through its functions';
		REVOKE ALL ON SCHEMA inventory FROM PUBLIC;
		PERFORM pg_catalog.set_config('search_path', 'inventory, pg_temp', true);
		RETURN;
	END IF;

	SELECT * INTO ext FROM pg_catalog.pg_extension WHERE extname = 'inventory';
	SELECT * INTO s FROM pg_catalog.pg_namespace WHERE oid = ext.extnamespace;
	IF s.nspname = 'public' THEN
		RAISE EXCEPTION 'schema "inventory" already exists'
			USING ERRCODE = 'duplicate_schema',
				  DETAIL = 'The extension keeps its tables in a schema named inventory, which it creates, '
						   'unless it is installed in a schema made for it: then they go there.',
				  HINT = hint;
	END IF;
	-- grants but the owner's own and the extension's (an earlier install's)
	IF EXISTS (SELECT FROM pg_catalog.aclexplode(s.nspacl) a
				WHERE a.grantee <> s.nspowner
				  AND NOT (a.privilege_type = 'USAGE' AND NOT a.is_grantable
						   AND a.grantee IN (SELECT r.oid FROM pg_catalog.pg_roles r
											  WHERE r.rolname IN ('inventory_owner', 'pg_monitor')))) THEN
		RAISE EXCEPTION 'schema "%" has privileges granted on it', s.nspname
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The extension''s grants on the schema of its tables are recorded as its initial privileges, '
						   'with the schema''s others, and pg_dump would leave those out of a dump.',
				  HINT = 'Revoke them, create the extension, then grant them again.';
	END IF;
	PERFORM pg_catalog.set_config('search_path',
								  pg_catalog.format('%I, pg_temp', s.nspname), true);
END
$schema$;

-- Stock per SKU.  available = on_hand - reserved (holds in force).
CREATE TABLE stock (
	sku			text PRIMARY KEY CHECK (sku <> ''),
	on_hand		bigint NOT NULL CHECK (on_hand >= 0),
	reserved	bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
	version		bigint NOT NULL DEFAULT 1,
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT stock_reserved_le_on_hand CHECK (reserved <= on_hand)
);
COMMENT ON TABLE stock IS 'units per SKU: on_hand in the warehouse, reserved by holds';

CREATE TABLE reservation (
	id				uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	idempotency_key	text UNIQUE,
	owner			text,
	state			text NOT NULL DEFAULT 'held'
		CHECK (state IN ('held', 'committed', 'released', 'expired')),
	created_at		timestamptz NOT NULL,
	expires_at		timestamptz NOT NULL,
	finished_at		timestamptz,
	reference		text,
	reason			text,
	CONSTRAINT reservation_finished_iff_not_held
		CHECK ((state = 'held') = (finished_at IS NULL)),
	CONSTRAINT reservation_expires_after_created
		CHECK (expires_at > created_at)
);
COMMENT ON TABLE reservation IS 'holds: held until committed, released or expired';

-- The sweep and the reclaim of a reserve look for overdue holds only.
CREATE INDEX reservation_held_expires_at_idx
	ON reservation (expires_at) WHERE state = 'held';
-- Retention purges finished holds by age.
CREATE INDEX reservation_finished_at_idx
	ON reservation (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE reservation_line (
	reservation_id	uuid NOT NULL
		REFERENCES reservation (id) ON DELETE CASCADE,
	sku				text NOT NULL REFERENCES stock (sku),
	qty				bigint NOT NULL CHECK (qty > 0),
	PRIMARY KEY (reservation_id, sku)
);
COMMENT ON TABLE reservation_line IS 'units of one SKU in one hold';
CREATE INDEX reservation_line_sku_idx ON reservation_line (sku);

/*
 * Transactional outbox.  The column names are the defaults of Debezium's
 * outbox event router; seq is a commit-independent ordering key.
 */
CREATE TABLE outbox (
	id				uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seq				bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	occurred_at		timestamptz NOT NULL,
	aggregatetype	text NOT NULL,
	aggregateid		text NOT NULL,
	type			text NOT NULL,
	payload			jsonb NOT NULL
);
COMMENT ON TABLE outbox IS 'one event per state change, written in the same transaction';

-- Audit ledger of every manual change of on_hand (sales are committed holds).
CREATE TABLE adjustment (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sku			text NOT NULL REFERENCES stock (sku),
	delta		bigint NOT NULL,
	on_hand		bigint NOT NULL CHECK (on_hand >= 0),
	reason		text,
	created_at	timestamptz NOT NULL
);
COMMENT ON TABLE adjustment IS 'ledger of inv_set_stock and inv_adjust: delta and resulting on_hand';
CREATE INDEX adjustment_sku_idx ON adjustment (sku);

/*
 * Stock as a buyer sees it: a hold past its expiry no longer counts,
 * whether or not a sweep has run.  "overdue" is what the next sweep (or
 * the next reserve that needs it) will give back.
 */
CREATE VIEW stock_levels AS
SELECT s.sku,
	   s.on_hand,
	   s.reserved - coalesce(o.qty, 0) AS reserved,
	   s.on_hand - s.reserved + coalesce(o.qty, 0) AS available,
	   s.version,
	   s.updated_at,
	   coalesce(o.qty, 0) AS overdue
  FROM stock s
  LEFT JOIN (SELECT l.sku, pg_catalog.sum(l.qty)::bigint AS qty
			   FROM reservation r
			   JOIN reservation_line l ON l.reservation_id = r.id
			  WHERE r.state = 'held' AND r.expires_at <= pg_catalog.clock_timestamp()
			  GROUP BY l.sku) o ON o.sku = s.sku;
COMMENT ON VIEW stock_levels IS 'on_hand, reserved and available per SKU, counting holds in force only';

-- pg_dump keeps the rows: they are the user's data, not the extension's.
SELECT pg_catalog.pg_extension_config_dump('stock', '');
SELECT pg_catalog.pg_extension_config_dump('reservation', '');
SELECT pg_catalog.pg_extension_config_dump('reservation_line', '');
SELECT pg_catalog.pg_extension_config_dump('outbox', '');
SELECT pg_catalog.pg_extension_config_dump('outbox_seq_seq', '');
SELECT pg_catalog.pg_extension_config_dump('adjustment', '');
SELECT pg_catalog.pg_extension_config_dump('adjustment_id_seq', '');

/*
 * Functions.  They are SECURITY DEFINER so that the tables can be closed
 * to everyone: the functions are the only way to change stock, and they
 * keep the invariants.  search_path is pinned because the C code's
 * queries resolve operators through it.
 */
CREATE FUNCTION @extschema@.inv_set_stock(sku text, on_hand bigint, reason text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'inv_set_stock'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_set_stock(text, bigint, text) IS 'create a SKU or set its count; returns on_hand';

CREATE FUNCTION @extschema@.inv_adjust(sku text, delta bigint, reason text DEFAULT NULL,
									   expected_version bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'inv_adjust'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_adjust(text, bigint, text, bigint) IS 'receive (+) or write off (-) units; returns on_hand';

CREATE FUNCTION @extschema@.inv_stock(sku text)
RETURNS TABLE (sku text, on_hand bigint, reserved bigint, available bigint,
			   version bigint, updated_at timestamptz)
AS 'MODULE_PATHNAME', 'inv_stock'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_stock(text) IS 'stock of one SKU, counting holds in force only';

CREATE FUNCTION @extschema@.inv_available(sku text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'inv_available'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_available(text) IS 'units of one SKU that a reserve can take now';

CREATE FUNCTION @extschema@.inv_reserve(sku text, qty bigint, ttl interval DEFAULT NULL,
										idempotency_key text DEFAULT NULL, owner text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'inv_reserve'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_reserve(text, bigint, interval, text, text) IS 'hold qty units of one SKU; returns the hold''s id';

CREATE FUNCTION @extschema@.inv_reserve_cart(items jsonb, ttl interval DEFAULT NULL,
											 idempotency_key text DEFAULT NULL, owner text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'inv_reserve_cart'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_reserve_cart(jsonb, interval, text, text) IS 'hold every line of a cart, or none; returns the hold''s id';

CREATE FUNCTION @extschema@.inv_try_reserve_cart(items jsonb, ttl interval DEFAULT NULL,
												 idempotency_key text DEFAULT NULL, owner text DEFAULT NULL)
RETURNS TABLE (reservation_id uuid, status text, shortfall jsonb)
AS 'MODULE_PATHNAME', 'inv_try_reserve_cart'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_try_reserve_cart(jsonb, interval, text, text) IS 'like inv_reserve_cart, but returns a shortage as a status instead of raising it';

CREATE FUNCTION @extschema@.inv_commit(reservation_id uuid, reference text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'inv_commit'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_commit(uuid, text) IS 'sell the units of a hold; false when it was already committed';

CREATE FUNCTION @extschema@.inv_release(reservation_id uuid, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'inv_release'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_release(uuid, text) IS 'give the units of a hold back; false when it was already released or expired';

CREATE FUNCTION @extschema@.inv_extend(reservation_id uuid, ttl interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'inv_extend'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_extend(uuid, interval) IS 'move the expiry of a hold in force to now + ttl';

CREATE FUNCTION @extschema@.inv_sweep(max_holds integer DEFAULT 1000)
RETURNS integer
AS 'MODULE_PATHNAME', 'inv_sweep'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_sweep(integer) IS 'expire up to max_holds overdue holds, skipping holds others have locked';

/*
 * Invariant check: every row returned is a broken invariant.  The stress
 * test and the demo call it; an operator can too.
 */
/*
 * A SECURITY DEFINER function in SQL names every table with its schema
 * (search_path holds pg_catalog alone while it runs, so that no object of
 * a schema others may create in can stand in for a built-in one): made
 * with the tables' schema's name in place of "inventory".
 */
DO $verify$
BEGIN
	EXECUTE pg_catalog.format($def$
CREATE FUNCTION @extschema@.inv_verify()
RETURNS TABLE (sku text, problem text, expected bigint, actual bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS %L
$def$, pg_catalog.replace($body$
	WITH held AS (
		SELECT l.sku, sum(l.qty)::bigint AS qty
		  FROM inventory.reservation_line l
		  JOIN inventory.reservation r ON r.id = l.reservation_id
		 WHERE r.state = 'held'
		 GROUP BY l.sku),
	sold AS (
		SELECT l.sku, sum(l.qty)::bigint AS qty
		  FROM inventory.reservation_line l
		  JOIN inventory.reservation r ON r.id = l.reservation_id
		 WHERE r.state = 'committed'
		 GROUP BY l.sku),
	adjusted AS (
		SELECT a.sku, sum(a.delta)::bigint AS qty
		  FROM inventory.adjustment a
		 GROUP BY a.sku)
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
	  FROM (SELECT a.sku, count(*) AS n FROM inventory.adjustment a GROUP BY a.sku) a
	  FULL JOIN (SELECT o.aggregateid AS sku, count(*) AS n
				   FROM inventory.outbox o
				  WHERE o.aggregatetype = 'stock' AND o.type = 'stock.adjusted'
				  GROUP BY o.aggregateid) e ON e.sku = a.sku
	 WHERE coalesce(a.n, 0) <> coalesce(e.n, 0)
	UNION ALL
	SELECT r.id::text, 'reservation has not exactly one reservation.held event', 1, count(o.id)
	  FROM inventory.reservation r
	  LEFT JOIN inventory.outbox o
		ON o.aggregatetype = 'reservation' AND o.aggregateid = r.id::text
	   AND o.type = 'reservation.held'
	 GROUP BY r.id
	HAVING count(o.id) <> 1
	UNION ALL
	SELECT r.id::text, 'reservation has not exactly one terminal event',
		   CASE WHEN r.state = 'held' THEN 0 ELSE 1 END, count(o.id)
	  FROM inventory.reservation r
	  LEFT JOIN inventory.outbox o
		ON o.aggregatetype = 'reservation' AND o.aggregateid = r.id::text
	   AND o.type IN ('reservation.committed', 'reservation.released', 'reservation.expired')
	 GROUP BY r.id, r.state
	HAVING count(o.id) <> CASE WHEN r.state = 'held' THEN 0 ELSE 1 END
	UNION ALL
	SELECT r.id::text, 'terminal event does not match the state', 1, 0
	  FROM inventory.reservation r
	 WHERE r.state <> 'held'
	   AND NOT EXISTS (SELECT 1 FROM inventory.outbox o
						WHERE o.aggregatetype = 'reservation'
						  AND o.aggregateid = r.id::text
						  AND o.type = 'reservation.' || r.state)
$body$, 'inventory.', pg_catalog.quote_ident(pg_catalog.current_schema()) || '.'));
END
$verify$;
COMMENT ON FUNCTION @extschema@.inv_verify() IS 'rows that break an invariant of the stock, the holds or the outbox; none when all is well';

/*
 * Privileges: nobody but the owner touches the tables; the functions are
 * the API, and the DBA grants EXECUTE on them to application roles.
 */
REVOKE ALL ON TABLE stock, reservation, reservation_line, outbox, adjustment,
	stock_levels FROM PUBLIC;
REVOKE ALL ON SEQUENCE outbox_seq_seq, adjustment_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_set_stock(text, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_adjust(text, bigint, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_stock(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_available(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_reserve(text, bigint, interval, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_reserve_cart(jsonb, interval, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_try_reserve_cart(jsonb, interval, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_commit(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_release(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_extend(uuid, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_sweep(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_verify() FROM PUBLIC;
