/* inventory--0.3.0--0.4.0.sql: limits against hoarding */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION inventory UPDATE TO '0.4.0'" to load this file. \quit

-- search_path: the tables' schema (inventory--0.1.0.sql); without the
-- table stock, format() fails on the NULL rather than leave it unset
SELECT pg_catalog.set_config('search_path', pg_catalog.format('%I, pg_temp',
	(SELECT n.nspname FROM pg_catalog.pg_extension e
	   JOIN pg_catalog.pg_class c ON c.oid = ANY (e.extconfig) AND c.relname = 'stock'
	   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	  WHERE e.extname = 'inventory')), true);

/*
 * A DBA bounds what one owner may hold (src/limits.c): units of a SKU in
 * holds in force and committed within a window, holds in force, and the
 * lifetime of any hold, extensions included.  The limits are settings
 * (inventory.max_units_per_owner, inventory.owner_window,
 * inventory.max_holds_per_owner, inventory.max_hold_lifetime); what a
 * sale needs per SKU is a row here.  Holds and events already written go
 * on as before.
 */

/*
 * Counting an owner's holds finds them by owner.  Only holds with an
 * owner have an entry: a hold without one (every checkout of make budget)
 * writes nothing more, on reserve nor when it ends.
 */
CREATE INDEX reservation_owner_idx
	ON reservation (owner) WHERE owner IS NOT NULL;

/*
 * A SKU's own limit per owner, which replaces the settings for its holds:
 * max_units_per_owner (0: none for this SKU, whatever the setting says)
 * and, unless NULL, owner_window.  Written by inv_set_sku_limit(), which
 * the operator's role is granted; no application role may write it, so
 * none can raise a limit.  No foreign key to stock, as for the holds'
 * lines: inv_set_sku_limit() refuses an unknown SKU and inv_verify()
 * reports a row of one.
 */
CREATE TABLE sku_limit (
	sku					text PRIMARY KEY CHECK (sku <> ''),
	max_units_per_owner	bigint NOT NULL CHECK (max_units_per_owner >= 0),
	owner_window		interval CHECK (owner_window >= '0'),
	updated_at			timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sku_limit IS 'per-SKU limits per owner, in place of inventory.max_units_per_owner and inventory.owner_window';
SELECT pg_catalog.pg_extension_config_dump('sku_limit', '');

/*
 * Each backend keeps whether this table has an override, so that a
 * reserve with an owner and no limit to apply runs no statement: any
 * change of the table makes every backend read it again (a relcache
 * invalidation, seen at the next transaction).  A trigger, so that a
 * change made by hand (the extension's owner may) counts too.
 */
CREATE FUNCTION sku_limit_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'inv_sku_limit_changed'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sku_limit_changed() IS 'after a change of inventory.sku_limit, every backend reads it again';
REVOKE ALL ON FUNCTION sku_limit_changed() FROM PUBLIC;
CREATE TRIGGER sku_limit_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sku_limit
	FOR EACH STATEMENT EXECUTE FUNCTION sku_limit_changed();

CREATE FUNCTION @extschema@.inv_set_sku_limit(sku text, max_units_per_owner bigint,
											  owner_window interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'inv_set_sku_limit'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.inv_set_sku_limit(text, bigint, interval) IS 'set (NULL: drop) a SKU''s limit of units per owner, and its window; returns the units per owner that now apply (0: none)';

REVOKE ALL ON TABLE sku_limit FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inv_set_sku_limit(text, bigint, interval) FROM PUBLIC;

-- inv_verify, now also checking that every SKU limit names a known SKU
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
	UNION ALL
	-- 0.4.0: a SKU's limit per owner, of a SKU that does not exist
	SELECT l.sku, 'limit of an unknown SKU', 0, l.max_units_per_owner
	  FROM inventory.sku_limit l
	 WHERE NOT EXISTS (SELECT 1 FROM inventory.stock s WHERE s.sku = l.sku)
$body$, 'inventory.', pg_catalog.quote_ident(pg_catalog.current_schema()) || '.'));
END
$verify$;

/*
 * The extension's own role.  Up to 0.3.0 every object belonged to the
 * superuser that ran CREATE EXTENSION, so the SECURITY DEFINER functions
 * ran as a superuser and any bug in them was a superuser's bug.  From
 * 0.4.0 the tables, sequences, views and functions belong to
 * inventory_owner, a role that can do nothing but own them: the functions
 * run with its rights, and so does the sweeper's work (sweeper.c).
 *
 * Roles belong to the cluster, not to a database: the first CREATE
 * EXTENSION creates it, later ones (in other databases, or a restore)
 * reuse it, and DROP EXTENSION leaves it.  A role of that name made by
 * someone else must not get the tables: a role that can log in, or that
 * others are members of, or with more than NOLOGIN, would let its users
 * act as the extension's owner.  Such a role fails CREATE EXTENSION (and
 * this update) with 55000 and what is wrong with it.
 */
DO $owner$
DECLARE
	r			pg_catalog.pg_roles;
	problems	text[] := '{}';
	names		text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'inventory_owner') THEN
		BEGIN
			CREATE ROLE inventory_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
				NOINHERIT NOREPLICATION NOBYPASSRLS;
			COMMENT ON ROLE inventory_owner IS 'owns the objects of the inventory extension, in every database; nobody logs in as it or is a member of it';
		EXCEPTION WHEN duplicate_object THEN
			NULL;				-- a CREATE EXTENSION in another database was first
		END;
	END IF;

	SELECT * INTO r FROM pg_catalog.pg_roles WHERE rolname = 'inventory_owner';
	IF r.rolsuper THEN
		problems := problems || 'it is a superuser'::text;
	END IF;
	IF r.rolcanlogin THEN
		problems := problems || 'it can log in'::text;
	END IF;
	IF r.rolcreaterole THEN
		problems := problems || 'it has CREATEROLE (it could grant itself other roles)'::text;
	END IF;
	IF r.rolcreatedb THEN
		problems := problems || 'it has CREATEDB'::text;
	END IF;
	IF r.rolreplication THEN
		problems := problems || 'it has REPLICATION'::text;
	END IF;
	IF r.rolbypassrls THEN
		problems := problems || 'it has BYPASSRLS'::text;
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(m.rolname), ', ' ORDER BY m.rolname)
	  INTO names
	  FROM pg_catalog.pg_auth_members a
	  JOIN pg_catalog.pg_roles m ON m.oid = a.member
	 WHERE a.roleid = r.oid;
	IF names IS NOT NULL THEN
		problems := problems || ('roles are members of it: ' || names);
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(g.rolname), ', ' ORDER BY g.rolname)
	  INTO names
	  FROM pg_catalog.pg_auth_members a
	  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
	 WHERE a.member = r.oid;
	IF names IS NOT NULL THEN
		problems := problems || ('it is a member of ' || names);
	END IF;
	IF pg_catalog.cardinality(problems) > 0 THEN
		RAISE EXCEPTION 'role "inventory_owner" cannot own the inventory extension''s objects'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.upper(pg_catalog.left(problems[1], 1))
						   || pg_catalog.substr(pg_catalog.array_to_string(problems, '; '), 2) || '.',
				  HINT = 'The extension creates inventory_owner itself when no role of that name exists.  '
					  'A role of that name must be NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS, '
					  'with no members and a member of no role: drop it or change it, then try again.';
	END IF;
END
$owner$;

/*
 * Hand every table, sequence, view and function of the extension to
 * inventory_owner: what the SECURITY DEFINER functions and the sweeper
 * touch is theirs, and they need no other right (advisory and row locks,
 * NOTIFY, shared memory and signals to the workers need none).  The
 * tables' schema stays the installing superuser's (or the shop's): the
 * owner role only needs to look into it, not to create in it.  Indexes, identity
 * sequences and row types follow their table.  A later update script
 * that adds objects must hand them over too (test/owner.sql checks).
 */
DO $usage$
BEGIN
	EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO inventory_owner', pg_catalog.current_schema());
END
$usage$;
DO $own$
DECLARE
	o		record;
	rel		record;
BEGIN
	FOR o IN
		SELECT d.classid, d.objid
		  FROM pg_catalog.pg_depend d
		 WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e
							  WHERE e.extname = 'inventory')
		   AND d.deptype = 'e'
		 -- sequences last: an identity column's changes owner with its table
		 ORDER BY d.classid,
				  (SELECT c.relkind = 'S' FROM pg_catalog.pg_class c WHERE c.oid = d.objid) NULLS FIRST,
				  d.objid
	LOOP
		/*
		 * Each ALTER ... OWNER is followed by a REVOKE that changes nothing:
		 * PostgreSQL 15 does not carry the owner's change into the ACL that
		 * pg_init_privs keeps for the extension's objects, and pg_dump would
		 * dump the difference (a REVOKE from the installing superuser and a
		 * GRANT to inventory_owner for every object, which a restore where
		 * that superuser has another name cannot run).  A GRANT or REVOKE in
		 * an extension's script records the ACL as it then is.
		 */
		IF o.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
			EXECUTE pg_catalog.format('ALTER ROUTINE %s OWNER TO inventory_owner',
									  o.objid::pg_catalog.regprocedure);
			EXECUTE pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM PUBLIC',
									  o.objid::pg_catalog.regprocedure);
		ELSIF o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN
			SELECT CASE c.relkind WHEN 'r' THEN 'TABLE'
								  WHEN 'v' THEN 'VIEW'
								  WHEN 'S' THEN 'SEQUENCE' END AS kind,
				   pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
				   -- a sequence of an identity column goes with its table
				   EXISTS (SELECT FROM pg_catalog.pg_depend s
							WHERE s.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
							  AND s.objid = c.oid
							  AND s.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
							  AND s.deptype IN ('a', 'i')) AS owned_by_table
			  INTO rel
			  FROM pg_catalog.pg_class c
			  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			 WHERE c.oid = o.objid;
			IF rel.kind IS NOT NULL THEN
				IF NOT rel.owned_by_table THEN
					EXECUTE pg_catalog.format('ALTER %s %s OWNER TO inventory_owner',
											  rel.kind, rel.name);
				END IF;
				EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM PUBLIC',
										  CASE rel.kind WHEN 'SEQUENCE' THEN 'SEQUENCE'
														ELSE 'TABLE' END,
										  rel.name);
			END IF;
		END IF;
	END LOOP;
END
$own$;
