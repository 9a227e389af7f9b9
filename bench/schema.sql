-- bench/schema.sql: what the bare-pattern contenders of `make bench` run
-- against, and the reset and the oversell check of every PostgreSQL run.
--
-- Loaded with psql by scripts/bench.sh into a database that also has
-- CREATE EXTENSION inventory.  The bare patterns share two plain tables:
-- bench.stock (one row per SKU) and bench.orders (one row per hold, 'held'
-- then 'sold'), which is what a hand-written checkout keeps.  There are
-- deliberately no CHECK constraints on bench.stock: a pattern that oversold
-- must show up in bench.check() after the run, not abort pgbench.
--
-- Functions only where a contender needs a loop (the optimistic retry);
-- every other pattern is plain SQL in its own pgbench script, bench/*.sql.

CREATE SCHEMA bench;

CREATE TABLE bench.stock (
	sku			text PRIMARY KEY,
	on_hand		bigint NOT NULL,
	reserved	bigint NOT NULL DEFAULT 0,
	version		bigint NOT NULL DEFAULT 1
);

CREATE TABLE bench.orders (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sku			text NOT NULL,
	qty			bigint NOT NULL,
	state		text NOT NULL DEFAULT 'held',	-- held, then sold
	created_at	timestamptz NOT NULL DEFAULT now(),
	sold_at		timestamptz
);

-- What each SKU was seeded with, for the oversell check (every contender,
-- the extension too).
CREATE TABLE bench.seed (
	sku			text PRIMARY KEY,
	on_hand		bigint NOT NULL
);

/*
 * Empty every table a contender writes, then seed SKUs lo..hi (named by
 * their number: '0', '1', ...) with `units` each, for one kind of
 * contender: 'inventory' (through inv_set_stock, so that inv_verify()'s
 * ledger adds up) or 'bare' (bench.stock).  Every run starts from the same
 * empty tables, whatever ran before it.  The extension's tables are the
 * ones it registers as user data (pg_extension_config_dump): whatever
 * tables a later version adds, the books start from zero together.
 */
CREATE FUNCTION bench.reset(kind text, lo integer, hi integer, units bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	v_tables	text;
BEGIN
	TRUNCATE bench.orders, bench.stock, bench.seed;
	SELECT string_agg(c.oid::regclass::text, ', ') INTO v_tables
	  FROM pg_extension e
	 CROSS JOIN LATERAL unnest(e.extconfig) AS t(relid)
	  JOIN pg_class c ON c.oid = t.relid AND c.relkind = 'r'
	 WHERE e.extname = 'inventory';
	EXECUTE 'TRUNCATE ' || v_tables || ' CASCADE';
	INSERT INTO bench.seed SELECT i::text, units FROM generate_series(lo, hi) i;
	IF kind = 'inventory' THEN
		PERFORM inv_set_stock(sku, on_hand, 'bench seed') FROM bench.seed;
	ELSIF kind = 'bare' THEN
		INSERT INTO bench.stock (sku, on_hand) SELECT sku, on_hand FROM bench.seed;
	ELSIF kind <> 'none' THEN
		RAISE EXCEPTION 'bench.reset: unknown kind %', kind;
	END IF;
END
$$;

/*
 * Checkouts that have sold their unit so far: taken twice while a run
 * goes on, the difference is what sold in between.
 */
CREATE FUNCTION bench.sold(kind text) RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	IF kind = 'inventory' THEN
		RETURN (SELECT count(*) FROM inventory.reservation WHERE state = 'committed');
	ELSIF kind = 'bare' THEN
		RETURN (SELECT count(*) FROM bench.orders WHERE state = 'sold');
	END IF;
	RETURN 0;
END
$$;

/*
 * After a run: how many checkouts sold their unit, how many holds are
 * still held (a checkout cut off by the end of the run), and one text per
 * broken invariant (none when nothing was oversold and the books add up).
 */
CREATE FUNCTION bench.check(kind text, OUT sold bigint, OUT held bigint, OUT problems text[])
LANGUAGE plpgsql
AS $$
BEGIN
	IF kind = 'inventory' THEN
		SELECT count(*) FILTER (WHERE r.state = 'committed'),
			   count(*) FILTER (WHERE r.state = 'held')
		  INTO sold, held FROM inventory.reservation r;
		SELECT array_agg(p) INTO problems FROM (
			SELECT 'inv_verify: ' || v.sku || ': ' || v.problem || ' (expected '
				   || v.expected || ', actual ' || v.actual || ')' AS p
			  FROM inv_verify() v
			UNION ALL
			SELECT s.sku || ': on_hand ' || s.on_hand || ', reserved ' || s.reserved
				   || ', seeded ' || b.on_hand || ', sold ' || coalesce(c.qty, 0)
			  FROM inventory.stock s
			  JOIN bench.seed b USING (sku)
			  LEFT JOIN (SELECT l.sku, sum(l.qty) AS qty
						   FROM inventory.reservation_line l
						   JOIN inventory.reservation r ON r.id = l.reservation_id
						  WHERE r.state = 'committed' GROUP BY l.sku) c USING (sku)
			 WHERE s.on_hand < 0 OR s.reserved < 0 OR s.reserved > s.on_hand
				OR coalesce(c.qty, 0) > b.on_hand
				OR s.on_hand <> b.on_hand - coalesce(c.qty, 0)
			LIMIT 10) x;
	ELSIF kind = 'bare' THEN
		SELECT count(*) FILTER (WHERE o.state = 'sold'),
			   count(*) FILTER (WHERE o.state = 'held')
		  INTO sold, held FROM bench.orders o;
		SELECT array_agg(p) INTO problems FROM (
			SELECT coalesce(s.sku, o.sku) || ': on_hand ' || s.on_hand || ', reserved '
				   || s.reserved || ', seeded ' || b.on_hand || ', orders sold '
				   || coalesce(o.sold, 0) || ', held ' || coalesce(o.held, 0) AS p
			  FROM bench.stock s
			  JOIN bench.seed b USING (sku)
			  FULL JOIN (SELECT sku, sum(qty) FILTER (WHERE state = 'sold') AS sold,
								sum(qty) FILTER (WHERE state = 'held') AS held
						   FROM bench.orders GROUP BY sku) o USING (sku)
			 WHERE s.sku IS NULL
				OR s.on_hand < 0 OR s.reserved < 0 OR s.reserved > s.on_hand
				OR coalesce(o.sold, 0) > b.on_hand
				OR s.on_hand <> b.on_hand - coalesce(o.sold, 0)
				OR s.reserved <> coalesce(o.held, 0)
			UNION ALL
			SELECT 'orders in a state other than held or sold: ' || count(*)
			  FROM bench.orders WHERE state NOT IN ('held', 'sold')
			HAVING count(*) > 0
			LIMIT 10) x;
	ELSE
		sold := 0;
		held := 0;
	END IF;
END
$$;

/*
 * optimistic: read the row and its version, write only if the version is
 * still the one read (compare-and-set), and read again when it is not.
 * The loop is here rather than in the client only because pgbench scripts
 * cannot loop; it costs the pattern one round trip per retry less than an
 * application would pay.  READ COMMITTED: every statement of the loop sees
 * the latest committed row.
 */
CREATE FUNCTION bench.optimistic_reserve(p_sku text) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	v_on_hand	bigint;
	v_reserved	bigint;
	v_version	bigint;
	v_id		bigint;
BEGIN
	FOR attempt IN 1 .. 100000 LOOP
		SELECT on_hand, reserved, version INTO STRICT v_on_hand, v_reserved, v_version
		  FROM bench.stock WHERE sku = p_sku;
		IF v_on_hand - v_reserved < 1 THEN
			RETURN 0;		-- refused: nothing written
		END IF;
		UPDATE bench.stock SET reserved = reserved + 1, version = version + 1
		 WHERE sku = p_sku AND version = v_version;
		IF FOUND THEN
			INSERT INTO bench.orders (sku, qty) VALUES (p_sku, 1) RETURNING id INTO v_id;
			RETURN v_id;
		END IF;
	END LOOP;
	RAISE EXCEPTION 'optimistic_reserve: % lost 100000 races in a row', p_sku;
END
$$;

-- The commit step, the same way: the order row, then a compare-and-set on
-- the stock row.  false when the order is not held.
CREATE FUNCTION bench.optimistic_commit(p_id bigint) RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
	v_sku		text;
	v_qty		bigint;
	v_version	bigint;
BEGIN
	UPDATE bench.orders SET state = 'sold', sold_at = now()
	 WHERE id = p_id AND state = 'held'
	RETURNING sku, qty INTO v_sku, v_qty;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	FOR attempt IN 1 .. 100000 LOOP
		SELECT version INTO STRICT v_version FROM bench.stock WHERE sku = v_sku;
		UPDATE bench.stock
		   SET on_hand = on_hand - v_qty, reserved = reserved - v_qty, version = version + 1
		 WHERE sku = v_sku AND version = v_version;
		IF FOUND THEN
			RETURN true;
		END IF;
	END LOOP;
	RAISE EXCEPTION 'optimistic_commit: % lost 100000 races in a row', v_sku;
END
$$;
