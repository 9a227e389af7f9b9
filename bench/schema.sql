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
--
-- pg_walinspect (contrib, in the postgresql-15 package) measures the WAL a
-- run writes: bench.wal() reads it between two LSNs.

CREATE SCHEMA bench;
CREATE EXTENSION IF NOT EXISTS pg_walinspect;

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
	ELSIF kind = 'floor' THEN
		-- the hold_event floor (floor/schema.sql): no stock to seed
		TRUNCATE floor.hold, floor.event;
	ELSIF kind = 'lean' THEN
		-- the lean reference (lean/schema.sql)
		TRUNCATE lean.hold, lean.event, lean.stock;
		INSERT INTO lean.stock (sku, available) SELECT sku, on_hand FROM bench.seed;
	ELSIF kind <> 'none' THEN
		RAISE EXCEPTION 'bench.reset: unknown kind %', kind;
	END IF;
END
$$;

/*
 * Checkouts that have sold so far: taken twice while a run goes on, the
 * difference is what sold in between.  `lines`: the lines of one checkout
 * (1, or 5 in the cart scenario).  The extension keeps one reservation per
 * checkout, whatever its lines; the bare patterns keep one order row per
 * line, all sold in one transaction, so their count divides by `lines`.
 */
CREATE FUNCTION bench.sold(kind text, lines integer DEFAULT 1) RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	IF kind = 'inventory' THEN
		RETURN (SELECT count(*) FROM inventory.reservation WHERE state = 'committed');
	ELSIF kind = 'bare' THEN
		RETURN (SELECT count(*) FROM bench.orders WHERE state = 'sold') / lines;
	ELSIF kind = 'floor' THEN
		RETURN (SELECT count(*) FROM floor.hold WHERE state = 'committed');
	ELSIF kind = 'lean' THEN
		RETURN (SELECT count(*) FROM lean.hold WHERE state = 'committed');
	END IF;
	RETURN 0;
END
$$;

/*
 * After a run: how many checkouts sold, how many are still held (a
 * checkout cut off by the end of the run), and one text per broken
 * invariant (none when nothing was oversold and the books add up).
 * `lines` as for bench.sold(): a checkout, held or sold, must have all its
 * lines (a cart is all or nothing).
 */
CREATE FUNCTION bench.check(kind text, lines integer DEFAULT 1,
							OUT sold bigint, OUT held bigint, OUT problems text[])
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
			SELECT count(*) || ' ' || state || ' reservations with ' || n
				   || ' lines instead of ' || lines
			  FROM (SELECT r.state, count(l.sku) AS n
					  FROM inventory.reservation r
					  LEFT JOIN inventory.reservation_line l ON l.reservation_id = r.id
					 WHERE r.state IN ('held', 'committed')
					 GROUP BY r.id, r.state) x
			 WHERE n <> lines
			 GROUP BY state, n
			UNION ALL
			SELECT s.sku || ': on_hand ' || s.on_hand || ', reserved ' || s.reserved
				   || ', seeded ' || b.on_hand || ', sold ' || coalesce(c.qty, 0)
			  FROM (SELECT sku, on_hand, reserved + overdue AS reserved
					  FROM inventory.stock_levels) s
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
		SELECT count(*) FILTER (WHERE o.state = 'sold') / lines,
			   count(*) FILTER (WHERE o.state = 'held') / lines
		  INTO sold, held FROM bench.orders o;
		SELECT array_agg(p) INTO problems FROM (
			SELECT count(*) FILTER (WHERE o.state = 'sold') || ' sold and '
				   || count(*) FILTER (WHERE o.state = 'held') || ' held order rows: not whole checkouts of '
				   || lines || ' lines' AS p
			  FROM bench.orders o
			HAVING count(*) FILTER (WHERE o.state = 'sold') % lines <> 0
				OR count(*) FILTER (WHERE o.state = 'held') % lines <> 0
			UNION ALL
			SELECT coalesce(s.sku, o.sku) || ': on_hand ' || s.on_hand || ', reserved '
				   || s.reserved || ', seeded ' || b.on_hand || ', orders sold '
				   || coalesce(o.sold, 0) || ', held ' || coalesce(o.held, 0)
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
	ELSIF kind = 'floor' THEN
		-- nothing to oversell; every hold has its events
		SELECT count(*) FILTER (WHERE h.state = 'committed'),
			   count(*) FILTER (WHERE h.state = 'held')
		  INTO sold, held FROM floor.hold h;
		SELECT array_agg(p) INTO problems FROM (
			SELECT count(*) || ' ' || state || ' holds with ' || n || ' events' AS p
			  FROM (SELECT h.state, count(e.seq) AS n
					  FROM floor.hold h LEFT JOIN floor.event e ON e.hold_id = h.id
					 GROUP BY h.id, h.state) x
			 WHERE n <> CASE WHEN state = 'held' THEN 1 ELSE 2 END
			 GROUP BY state, n) x;
	ELSIF kind = 'lean' THEN
		-- every unit seeded is available, held or sold; every hold has its events
		SELECT count(*) FILTER (WHERE h.state = 'committed'),
			   count(*) FILTER (WHERE h.state = 'held')
		  INTO sold, held FROM lean.hold h;
		SELECT array_agg(p) INTO problems FROM (
			SELECT b.sku || ': available ' || s.available || ', seeded ' || b.on_hand
				   || ', held ' || coalesce(h.held, 0) || ', sold ' || coalesce(h.sold, 0) AS p
			  FROM bench.seed b
			  LEFT JOIN lean.stock s USING (sku)
			  LEFT JOIN (SELECT sku, sum(qty) FILTER (WHERE state = 'held') AS held,
								sum(qty) FILTER (WHERE state = 'committed') AS sold
						   FROM lean.hold GROUP BY sku) h USING (sku)
			 WHERE s.sku IS NULL
				OR s.available + coalesce(h.held, 0) + coalesce(h.sold, 0) <> b.on_hand
			UNION ALL
			SELECT count(*) || ' ' || state || ' holds with ' || n || ' events'
			  FROM (SELECT h.state, count(e.seq) AS n
					  FROM lean.hold h LEFT JOIN lean.event e ON e.hold_id = h.id
					 GROUP BY h.id, h.state) x
			 WHERE n <> CASE WHEN state = 'held' THEN 1 ELSE 2 END
			 GROUP BY state, n
			LIMIT 10) x;
	ELSE
		sold := 0;
		held := 0;
	END IF;
END
$$;

/*
 * The WAL written between two LSNs (the two ends of a run's measuring
 * window), per resource manager: records, their bytes without full-page
 * images, and the full-page images' bytes.  PostgreSQL 15's pg_walinspect
 * refuses an end that is not flushed yet: scripts/bench.sh commits a
 * transaction with synchronous_commit = on first, and this waits (at most
 * 5 s, then reads only what is flushed) in case it did not.
 */
CREATE FUNCTION bench.wal(p_start pg_lsn, p_end pg_lsn,
						  OUT rmgr text, OUT records bigint, OUT record_bytes bigint,
						  OUT fpi_bytes bigint)
RETURNS SETOF record
LANGUAGE plpgsql
AS $$
BEGIN
	FOR i IN 1 .. 500 LOOP
		EXIT WHEN pg_current_wal_flush_lsn() >= p_end;
		PERFORM pg_sleep(0.01);
	END LOOP;
	IF pg_current_wal_flush_lsn() < p_end THEN
		p_end := pg_current_wal_flush_lsn();
	END IF;
	IF p_end <= p_start THEN
		RETURN;
	END IF;
	RETURN QUERY
		SELECT w."resource_manager/record_type", w.count, w.record_size, w.fpi_size
		  FROM pg_get_wal_stats(p_start, p_end) w
		 WHERE w.count > 0;
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
