--
-- setup: what CREATE EXTENSION inventory installs, its settings and
-- privileges, and the helpers the other files share.
--
-- Files run in one database, in the order of REGRESS; each uses SKUs with
-- its own prefix, so none depends on what another left behind.
--

-- the settings exist once the library is loaded; with
-- shared_preload_libraries it already is
LOAD 'inventory';

-- The files decide when holds expire, so the sweeper must not serve this
-- database: the server may run one in every database (make installcheck on
-- a server set up as README says).  Turn it off here, and wait until it
-- has left; without shared_preload_libraries there is none.
DO $$
BEGIN
	EXECUTE format('ALTER DATABASE %I SET inventory.sweeper = off', current_database());
END $$;
CREATE FUNCTION test_sweeper_gone() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 300 LOOP
		PERFORM pg_stat_clear_snapshot();
		IF NOT EXISTS (SELECT FROM pg_stat_activity
						WHERE backend_type = 'inventory sweeper'
						  AND datname = current_database()) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END;
$$;
SELECT test_sweeper_gone() AS no_sweeper_here;

-- the extension and every object it owns
SELECT extname, extversion, extrelocatable, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'inventory';

SELECT member FROM
  (SELECT pg_describe_object(classid, objid, 0) AS member
     FROM pg_depend
    WHERE refclassid = 'pg_extension'::regclass
      AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
      AND deptype = 'e') m
 ORDER BY member COLLATE "C";

-- pg_dump keeps the rows of these: they are the user's data
SELECT c::regclass AS dumped FROM pg_extension e, unnest(e.extconfig) c
 WHERE e.extname = 'inventory' ORDER BY c::regclass::text COLLATE "C";

-- the API: every function is SECURITY DEFINER with a pinned search_path
SELECT p.oid::regprocedure AS function,
       pg_get_function_result(p.oid) AS returns,
       p.provolatile AS vol, p.prosecdef AS secdef, p.proconfig
  FROM pg_proc p
 WHERE p.proname LIKE 'inv\_%'
 ORDER BY p.proname COLLATE "C";

-- nothing is granted to PUBLIC: not the schema, not a table, not a function
SELECT count(*) AS public_grants
  FROM (SELECT relacl AS acl FROM pg_class
         WHERE relnamespace = 'inventory'::regnamespace
        UNION ALL
        SELECT nspacl FROM pg_namespace WHERE nspname = 'inventory'
        UNION ALL
        SELECT coalesce(proacl, acldefault('f', proowner)) FROM pg_proc
         WHERE proname LIKE 'inv\_%') x,
       aclexplode(x.acl) a
 WHERE a.grantee = 0;

-- the settings, with their defaults, units, ranges and who may change them
-- (inventory.max_databases, which exists only when the library is
-- preloaded, is in stats)
-- (the defaults: the server's own values are the DBA's business)
SELECT name, unit, context, min_val, max_val, boot_val
  FROM pg_settings WHERE name LIKE 'inventory.%' AND name <> 'inventory.max_databases'
 ORDER BY name;
SHOW inventory.default_ttl;
SHOW inventory.max_ttl;
SHOW inventory.max_cart_lines;

-- the prefix is reserved: a misspelt setting is an error, not a placeholder
SET inventory.default_tll = '10s';
\echo :LAST_ERROR_SQLSTATE
-- out of range
SET inventory.default_ttl = 0;
\echo :LAST_ERROR_SQLSTATE
SET inventory.max_cart_lines = 100001;
\echo :LAST_ERROR_SQLSTATE

-- an ordinary role may pick its default ttl, but not raise the limits, and
-- may not call the functions until the DBA grants EXECUTE
CREATE ROLE regress_inventory_app;
SET ROLE regress_inventory_app;
SET inventory.default_ttl = '10s';
SHOW inventory.default_ttl;
SET inventory.max_ttl = '2h';
\echo :LAST_ERROR_SQLSTATE
SET inventory.max_cart_lines = 1000;
\echo :LAST_ERROR_SQLSTATE
SELECT inv_available('X');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory.stock;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET inventory.default_ttl;
DROP ROLE regress_inventory_app;

--
-- Helpers (in public; not part of the extension).
--

-- Holds get a label when taken, so that no uuid is ever printed.
CREATE TABLE test_hold (label text PRIMARY KEY, id uuid NOT NULL UNIQUE);

-- record id under label; returns id (NULL in, NULL out, nothing recorded)
CREATE FUNCTION test_keep(label text, id uuid) RETURNS uuid
LANGUAGE sql AS $$
	INSERT INTO test_hold SELECT label, id WHERE id IS NOT NULL;
	SELECT id;
$$;

CREATE FUNCTION test_id(label text) RETURNS uuid
LANGUAGE sql STABLE AS $$
	SELECT h.id FROM test_hold h WHERE h.label = test_id.label;
$$;

CREATE FUNCTION test_label(id text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT h.label FROM test_hold h WHERE h.id::text = test_label.id),
					'<uuid>');
$$;

-- a message with each uuid replaced by its label
CREATE FUNCTION test_mask(msg text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	m text[];
BEGIN
	FOR m IN SELECT regexp_matches(msg, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', 'g')
	LOOP
		msg := replace(msg, m[1], test_label(m[1]));
	END LOOP;
	RETURN msg;
END;
$$;

-- Run stmt, which must fail, and show its error with uuids as labels.  For
-- errors that name a hold; the others are shown by psql as they are.
CREATE FUNCTION test_error(stmt text)
RETURNS TABLE (code text, message text, detail text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RAISE EXCEPTION 'test_error: statement did not fail: %', stmt;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE,
		message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	IF message LIKE 'test_error: statement did not fail%' THEN
		RAISE;
	END IF;
	message := test_mask(message);
	detail := test_mask(nullif(detail, ''));
	RETURN NEXT;
END;
$$;

-- Everything a refusal must leave alone: stock rows (with version and
-- updated_at), holds, lines, and how many events and ledger rows exist.
CREATE FUNCTION test_fingerprint() RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT md5(concat_ws('|',
		(SELECT string_agg(s::text, ',' ORDER BY s.sku COLLATE "C") FROM inventory.stock s),
		(SELECT string_agg(r::text, ',' ORDER BY r.id) FROM inventory.reservation r),
		(SELECT string_agg(l::text, ',' ORDER BY l.reservation_id, l.sku COLLATE "C")
		   FROM inventory.reservation_line l),
		(SELECT count(*) || '/' || coalesce(max(seq), 0) FROM inventory.outbox),
		(SELECT count(*) || '/' || coalesce(max(id), 0) FROM inventory.adjustment)));
$$;

-- Stock as the view shows it, plus the units held with the overdue ones
-- (what the sweep has not given back yet: "reserved" before a sweep).
CREATE FUNCTION test_stock(pattern text)
RETURNS TABLE (sku text, on_hand bigint, reserved bigint, available bigint,
			   overdue bigint, raw_reserved bigint, version bigint)
LANGUAGE sql STABLE AS $$
	SELECT v.sku, v.on_hand, v.reserved, v.available, v.overdue, v.reserved + v.overdue, v.version
	  FROM inventory.stock_levels v
	 WHERE v.sku LIKE pattern
	 ORDER BY v.sku COLLATE "C";
$$;

-- The holds with a line of a SKU matching pattern, in the order taken.
CREATE FUNCTION test_holds(pattern text)
RETURNS TABLE (hold text, state text, owner text, idem_key text, reference text,
			   reason text, finished boolean, lines text)
LANGUAGE sql STABLE AS $$
	SELECT test_label(r.id::text), r.state, r.owner, r.idempotency_key, r.reference,
		   r.reason, r.finished_at IS NOT NULL,
		   (SELECT string_agg(l.sku || ':' || l.qty, ' ' ORDER BY l.sku COLLATE "C")
			  FROM inventory.reservation_line l WHERE l.reservation_id = r.id)
	  FROM inventory.reservation r
	 WHERE EXISTS (SELECT 1 FROM inventory.reservation_line l
					WHERE l.reservation_id = r.id AND l.sku LIKE pattern)
	 ORDER BY r.created_at, r.id;
$$;

-- The ledger rows of the SKUs matching pattern.
CREATE FUNCTION test_ledger(pattern text)
RETURNS TABLE (sku text, delta bigint, on_hand bigint, reason text)
LANGUAGE sql STABLE AS $$
	SELECT a.sku, a.delta, a.on_hand, a.reason FROM inventory.adjustment a
	 WHERE a.sku LIKE pattern ORDER BY a.id;
$$;

-- The last outbox seq: events after it are the ones a step wrote.
CREATE FUNCTION test_mark() RETURNS bigint
LANGUAGE sql STABLE AS $$
	SELECT coalesce(max(seq), 0) FROM inventory.outbox;
$$;

-- Events after seq "after", without uuids or timestamps: the subject is the
-- SKU or the hold's label; payload loses expires_at and says whether it
-- was there.  ok checks the envelope: aggregateid names the hold or the
-- SKU, and occurred_at is the hold's created_at for reservation.held, its
-- finished_at for the events that finish it.
CREATE FUNCTION test_events(after bigint)
RETURNS TABLE (type text, aggregatetype text, subject text, ok boolean, payload jsonb)
LANGUAGE sql STABLE AS $$
	SELECT o.type, o.aggregatetype,
		   CASE o.aggregatetype WHEN 'reservation' THEN test_label(o.aggregateid)
				ELSE o.aggregateid END,
		   CASE o.aggregatetype
				WHEN 'reservation' THEN EXISTS (
					SELECT 1 FROM inventory.reservation r
					 WHERE r.id::text = o.aggregateid
					   AND CASE o.type
							   WHEN 'reservation.held' THEN o.occurred_at = r.created_at
							   WHEN 'reservation.extended' THEN true
							   ELSE o.occurred_at = r.finished_at END)
				ELSE EXISTS (SELECT 1 FROM inventory.stock s WHERE s.sku = o.aggregateid) END,
		   o.payload - 'expires_at'
		   || CASE o.aggregatetype WHEN 'reservation'
				   THEN jsonb_build_object('expires', o.payload ? 'expires_at')
				   ELSE '{}' END
	  FROM inventory.outbox o
	 WHERE o.seq > after
	 ORDER BY o.seq;
$$;

-- the database starts empty
SELECT (SELECT count(*) FROM inventory.stock) AS skus,
       (SELECT count(*) FROM inventory.reservation) AS holds,
       (SELECT count(*) FROM inventory.outbox) AS events,
       (SELECT count(*) FROM inventory.adjustment) AS ledger;
SELECT * FROM inv_verify();
