-- test/pgbench/harness.sql: the SQL side of the pgbench scripts of this
-- folder, shared by scripts/stress.sh and scripts/demo.sh.
--
-- Not a pgbench script: the two scripts load it with psql, after CREATE
-- EXTENSION inventory, into the database pgbench then runs against.
--
-- A refusal (IV001, not enough stock) is a normal outcome of a sale, but
-- pgbench 15 aborts a client on any error.  So the wrappers below catch
-- IV001, and only IV001: any other error still aborts the client, and the
-- run fails.  Every attempt, held or refused, is logged in harness.attempt
-- in the same transaction as the hold, so the log and the extension's
-- tables can be checked against each other.

CREATE SCHEMA harness;

CREATE UNLOGGED TABLE harness.attempt (
	at				timestamptz NOT NULL DEFAULT clock_timestamp(),
	api				text NOT NULL,		-- the function that took the hold
	items			jsonb NOT NULL,		-- what the buyer asked for
	intent			text NOT NULL		-- what the buyer does with a hold
		CHECK (intent IN ('commit', 'release', 'abandon')),
	reservation_id	uuid,				-- NULL: refused
	status			text NOT NULL		-- reserved, insufficient_stock, ...
);
COMMENT ON TABLE harness.attempt IS 'one row per buyer of a pgbench run';

-- pgbench variables are numbers: 1 commit, 2 release, 3 abandon.
CREATE FUNCTION harness.intent(code integer) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT (ARRAY['commit', 'release', 'abandon'])[code] $$;

-- The n-th SKU of the catalogue of the stress test: SKU-001 ... SKU-999.
CREATE FUNCTION harness.sku(n integer) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT 'SKU-' || lpad(n::text, 3, '0') $$;

-- A cart of nlines lines of random SKUs among the first nskus, 1 to 3
-- units each; the same SKU may come twice (the extension merges it).  With
-- probability hot_pct % one more line asks for one unit of the hot SKU.
CREATE FUNCTION harness.random_cart(nlines integer, nskus integer, hot text, hot_pct integer)
RETURNS jsonb
LANGUAGE sql VOLATILE
AS $$
	SELECT jsonb_agg(line)
	  FROM (SELECT jsonb_build_object('sku', harness.sku(1 + floor(random() * nskus)::integer),
									  'qty', 1 + floor(random() * 3)::integer) AS line
			  FROM generate_series(1, nlines)
			UNION ALL
			SELECT jsonb_build_object('sku', hot, 'qty', 1)
			 WHERE random() * 100 < hot_pct) lines
$$;

CREATE FUNCTION harness.log(api text, items jsonb, intent integer, id uuid, status text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
	INSERT INTO harness.attempt (api, items, intent, reservation_id, status)
	VALUES (api, items, harness.intent(intent), id, status)
$$;

-- inv_reserve of one SKU; NULL when refused for want of stock.
CREATE FUNCTION harness.reserve(sku text, qty bigint, ttl_s integer, intent integer, buyer text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_id		uuid;
	v_status	text := 'reserved';
BEGIN
	BEGIN
		v_id := inv_reserve(sku, qty, make_interval(secs => ttl_s), NULL, buyer);
	EXCEPTION WHEN SQLSTATE 'IV001' THEN
		v_status := 'insufficient_stock';
	END;
	PERFORM harness.log('inv_reserve', jsonb_build_array(jsonb_build_object('sku', sku, 'qty', qty)),
						intent, v_id, v_status);
	RETURN v_id;
END
$$;

-- inv_reserve_cart: all lines or none; NULL when refused for want of stock.
CREATE FUNCTION harness.reserve_cart(items jsonb, ttl_s integer, intent integer, buyer text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	v_id		uuid;
	v_status	text := 'reserved';
BEGIN
	BEGIN
		v_id := inv_reserve_cart(items, make_interval(secs => ttl_s), NULL, buyer);
	EXCEPTION WHEN SQLSTATE 'IV001' THEN
		v_status := 'insufficient_stock';
	END;
	PERFORM harness.log('inv_reserve_cart', items, intent, v_id, v_status);
	RETURN v_id;
END
$$;

-- inv_try_reserve_cart returns a refusal as a status: nothing to catch.
CREATE FUNCTION harness.try_reserve_cart(items jsonb, ttl_s integer, intent integer, buyer text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	r	record;
BEGIN
	SELECT * INTO STRICT r
	  FROM inv_try_reserve_cart(items, make_interval(secs => ttl_s), NULL, buyer);
	PERFORM harness.log('inv_try_reserve_cart', items, intent, r.reservation_id, r.status);
	RETURN r.reservation_id;
END
$$;

-- inv_adjust: a receipt (+) or a write-off (-).  A write-off that would
-- leave fewer units than are held is refused (IV001); that is fine here.
CREATE FUNCTION harness.adjust(sku text, delta bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	RETURN inv_adjust(sku, delta, CASE WHEN delta > 0 THEN 'receipt' ELSE 'write-off' END);
EXCEPTION WHEN SQLSTATE 'IV001' THEN
	RETURN NULL;
END
$$;

-- on_hand and the units held, overdue ones too (those a sweep gives back),
-- per SKU: what the stock row kept before it kept available only
CREATE VIEW harness.stock AS
SELECT sku, on_hand, reserved + overdue AS reserved FROM inventory.stock_levels;

/*
 * The stock of every SKU replayed from the outbox, event by event, in seq
 * order: stock.adjusted moves on_hand by its delta, reservation.held adds
 * its lines to reserved, committed takes them off reserved and on_hand,
 * released and expired off reserved.  Every event that touches a SKU is
 * written while its stock row is locked, or (a commit, which changes no
 * stock row) its sales lock, which a change of the count takes too, so
 * per SKU seq order is an order the changes could have run in one by one:
 * the replay is what the SKU went through.
 */
CREATE FUNCTION harness.stock_replay()
RETURNS TABLE (sku text, seq bigint, type text, payload jsonb,
			   on_hand bigint, reserved bigint, sold bigint)
LANGUAGE sql STABLE
AS $$
	WITH change AS (
		SELECT o.seq, l->>'sku' AS sku, o.type, o.payload,
			   CASE o.type WHEN 'reservation.committed' THEN -(l->>'qty')::bigint
			   ELSE 0 END AS d_on_hand,
			   CASE o.type WHEN 'reservation.held' THEN (l->>'qty')::bigint
			   WHEN 'reservation.extended' THEN 0
			   ELSE -(l->>'qty')::bigint END AS d_reserved,
			   CASE o.type WHEN 'reservation.committed' THEN (l->>'qty')::bigint
			   ELSE 0 END AS d_sold
		  FROM inventory.outbox o
		 CROSS JOIN LATERAL jsonb_array_elements(o.payload->'lines') l
		 WHERE o.aggregatetype = 'reservation'
		UNION ALL
		SELECT o.seq, o.aggregateid, o.type, o.payload, (o.payload->>'delta')::bigint, 0, 0
		  FROM inventory.outbox o
		 WHERE o.aggregatetype = 'stock' AND o.type = 'stock.adjusted')
	SELECT c.sku, c.seq, c.type, c.payload,
		   sum(c.d_on_hand) OVER w, sum(c.d_reserved) OVER w, sum(c.d_sold) OVER w
	  FROM change c
	WINDOW w AS (PARTITION BY c.sku ORDER BY c.seq)
$$;
COMMENT ON FUNCTION harness.stock_replay() IS 'per SKU and event, the stock replayed from the outbox';

-- Per SKU, the extremes of the replay and where it ends.
CREATE FUNCTION harness.stock_history()
RETURNS TABLE (sku text, events bigint, min_on_hand bigint, min_reserved bigint,
			   max_reserved bigint, min_available bigint, max_sold bigint,
			   last_on_hand bigint, last_reserved bigint)
LANGUAGE sql STABLE
AS $$
	SELECT r.sku, count(*), min(r.on_hand), min(r.reserved), max(r.reserved),
		   min(r.on_hand - r.reserved), max(r.sold),
		   (array_agg(r.on_hand ORDER BY r.seq DESC))[1],
		   (array_agg(r.reserved ORDER BY r.seq DESC))[1]
	  FROM harness.stock_replay() r
	 GROUP BY r.sku
$$;
COMMENT ON FUNCTION harness.stock_history() IS 'per SKU, the extremes and the end of its stock replayed from the outbox';
