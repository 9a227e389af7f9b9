-- test/owner.sql: the extension's objects belong to inventory_owner, a role
-- that can do nothing but own them, so the SECURITY DEFINER functions run
-- with its rights and not a superuser's; CREATE EXTENSION refuses a role
-- of that name that could do more.  Checked in the catalogs, then by
-- behaviour, inside a transaction that is rolled back.
--
-- Runs in a database that already has pgtap and inventory installed.

\set QUIET 1
BEGIN;
SELECT plan(35);

-- ---------------------------------------------------------------------
-- the role: NOLOGIN and nothing more, no members, a member of nothing
-- ---------------------------------------------------------------------
SELECT has_role('inventory_owner', 'CREATE EXTENSION made the role inventory_owner');
SELECT isnt_superuser('inventory_owner', 'inventory_owner is not a superuser');
SELECT is((SELECT ARRAY[rolcanlogin, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit]
			 FROM pg_roles WHERE rolname = 'inventory_owner'),
	ARRAY[false, false, false, false, false, false],
	'inventory_owner: NOLOGIN NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS NOINHERIT');
SELECT is_empty($$SELECT member::regrole FROM pg_auth_members
				   WHERE roleid = 'inventory_owner'::regrole$$,
	'no role is a member of inventory_owner');
SELECT is_empty($$SELECT roleid::regrole FROM pg_auth_members
				   WHERE member = 'inventory_owner'::regrole$$,
	'inventory_owner is a member of no role');

-- ---------------------------------------------------------------------
-- what it owns: every table, sequence, view and function of the extension
-- ---------------------------------------------------------------------
CREATE TEMP VIEW member_relations AS
SELECT c.oid::regclass AS rel, c.relkind, r.rolname AS owner, r.rolsuper
  FROM pg_depend d
  JOIN pg_class c ON c.oid = d.objid
  JOIN pg_roles r ON r.oid = c.relowner
 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory');
CREATE TEMP VIEW member_functions AS
SELECT p.oid::regprocedure AS fn, p.prosecdef, r.rolname AS owner, r.rolsuper
  FROM pg_depend d
  JOIN pg_proc p ON p.oid = d.objid
  JOIN pg_roles r ON r.oid = p.proowner
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory');

SELECT is((SELECT count(*)::int FROM member_relations WHERE relkind = 'r'), 9,
	'the extension has its 9 tables');
SELECT is((SELECT count(*)::int FROM member_relations WHERE relkind = 'v'), 4,
	'and its 4 views');
SELECT is((SELECT count(*)::int FROM member_relations WHERE relkind = 'S'), 2,
	'and its 2 sequences');
SELECT is((SELECT count(*)::int FROM member_functions), 23,
	'and its 23 functions');
SELECT is_empty($$SELECT rel, owner FROM member_relations WHERE owner <> 'inventory_owner'$$,
	'inventory_owner owns every table, view and sequence of the extension');
SELECT is_empty($$SELECT fn, owner FROM member_functions WHERE owner <> 'inventory_owner'$$,
	'inventory_owner owns every function of the extension');
SELECT is_empty($$SELECT fn, owner FROM member_functions WHERE prosecdef AND rolsuper$$,
	'no SECURITY DEFINER function of the extension runs as a superuser');
SELECT is_empty($$SELECT rel, owner FROM member_relations WHERE rolsuper$$,
	'no table, view or sequence of the extension belongs to a superuser');
SELECT is_empty($$SELECT c.oid::regclass FROM pg_class c
				   WHERE c.relnamespace = 'inventory'::regnamespace
					 AND c.relowner <> 'inventory_owner'::regrole$$,
	'nor does any index or other relation in the schema inventory');
SELECT is_empty($$SELECT i.objoid, i.classoid::regclass FROM pg_init_privs i
				   LEFT JOIN pg_class c ON i.classoid = 'pg_class'::regclass AND c.oid = i.objoid
				   LEFT JOIN pg_proc p ON i.classoid = 'pg_proc'::regclass AND p.oid = i.objoid
				  WHERE i.privtype = 'e' AND i.objsubid = 0
					AND (c.relnamespace = 'inventory'::regnamespace
						 OR p.proowner = 'inventory_owner'::regrole)
					AND i.initprivs IS DISTINCT FROM coalesce(c.relacl, p.proacl)$$,
	'pg_init_privs has each object''s ACL as its new owner left it (pg_dump dumps no difference)');
SELECT schema_privs_are('inventory', 'inventory_owner', ARRAY['USAGE'],
	'inventory_owner may look into the schema inventory, and not create in it');
SELECT schema_owner_is('inventory', (SELECT extowner::regrole::name FROM pg_extension
									   WHERE extname = 'inventory'),
	'the schema inventory stays the installing superuser''s');

-- ---------------------------------------------------------------------
-- by behaviour: the functions run with inventory_owner's rights.  A
-- superuser would pass any ACL; take a right from the owner and the
-- function that needs it fails.
-- ---------------------------------------------------------------------
SELECT lives_ok($$SELECT inv_set_stock('tap-owner', 5)$$, 'inv_set_stock works');
SAVEPOINT revoked;
REVOKE SELECT ON inventory.stock FROM inventory_owner;
SELECT throws_ok($$SELECT * FROM inv_stock('tap-owner')$$, '42501',
	'permission denied for table stock',
	'inv_stock runs as inventory_owner: without SELECT on its table it is refused');
SELECT throws_ok($$SELECT * FROM inv_verify()$$, '42501',
	'permission denied for table stock',
	'and so does inv_verify, a SECURITY DEFINER function in SQL');
ROLLBACK TO revoked;
SELECT is((SELECT available FROM inv_stock('tap-owner')), 5::bigint,
	'with the right back, inv_stock reads the stock');
-- the checkout writes its rows without a statement (src/rows.c), and
-- checks the same rights a statement would
SAVEPOINT revoked_writes;
REVOKE UPDATE ON inventory.stock FROM inventory_owner;
SELECT throws_ok($$SELECT inv_reserve('tap-owner', 1)$$, '42501',
	'permission denied for table stock',
	'inv_reserve without UPDATE on stock is refused, on the statement-free path too');
ROLLBACK TO revoked_writes;
REVOKE INSERT ON inventory.outbox FROM inventory_owner;
SELECT throws_ok($$SELECT inv_reserve('tap-owner', 1)$$, '42501',
	'permission denied for table outbox',
	'inv_reserve without INSERT on the outbox is refused');
ROLLBACK TO revoked_writes;
SELECT ok(inv_reserve('tap-owner', 1, idempotency_key => 'tap-owner-1') IS NOT NULL,
	'with the rights back, inv_reserve holds a unit');
SAVEPOINT revoked_commit;
REVOKE UPDATE ON inventory.reservation FROM inventory_owner;
SELECT throws_ok($$SELECT inv_commit(id) FROM inventory.reservation WHERE idempotency_key = 'tap-owner-1'$$,
	'42501', 'permission denied for table reservation',
	'inv_commit without UPDATE on the holds is refused');
ROLLBACK TO revoked_commit;
SELECT ok((SELECT inv_commit(id) FROM inventory.reservation WHERE idempotency_key = 'tap-owner-1'),
	'with the rights back, the hold is sold');

-- ---------------------------------------------------------------------
-- CREATE EXTENSION refuses an inventory_owner that could do more than own
-- ---------------------------------------------------------------------
CREATE FUNCTION pg_temp.create_extension() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state	text;
	msg		text;
	detail	text;
BEGIN
	CREATE EXTENSION inventory;
	DROP EXTENSION inventory;
	RETURN 'created';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN state || ': ' || msg || ' ' || detail;
END
$$;

DROP EXTENSION inventory CASCADE;
SELECT has_role('inventory_owner', 'DROP EXTENSION leaves the role (it belongs to the cluster)');
SELECT is(pg_temp.create_extension(), 'created',
	'CREATE EXTENSION reuses an inventory_owner fit for it');

SAVEPOINT attrs;
ALTER ROLE inventory_owner LOGIN;
SELECT is(pg_temp.create_extension(),
	'55000: role "inventory_owner" cannot own the inventory extension''s objects It can log in.',
	'CREATE EXTENSION refuses an inventory_owner that can log in');
ROLLBACK TO attrs;
ALTER ROLE inventory_owner SUPERUSER;
SELECT is(pg_temp.create_extension(),
	'55000: role "inventory_owner" cannot own the inventory extension''s objects It is a superuser.',
	'a superuser');
ROLLBACK TO attrs;
ALTER ROLE inventory_owner CREATEROLE BYPASSRLS;
SELECT is(pg_temp.create_extension(),
	'55000: role "inventory_owner" cannot own the inventory extension''s objects It has CREATEROLE (it could grant itself other roles); it has BYPASSRLS.',
	'a role with CREATEROLE or BYPASSRLS');
ROLLBACK TO attrs;
ALTER ROLE inventory_owner REPLICATION CREATEDB;
SELECT is(pg_temp.create_extension(),
	'55000: role "inventory_owner" cannot own the inventory extension''s objects It has CREATEDB; it has REPLICATION.',
	'a role with CREATEDB or REPLICATION');
ROLLBACK TO attrs;
CREATE ROLE tap_owner_member NOLOGIN;
GRANT inventory_owner TO tap_owner_member;
SELECT is(pg_temp.create_extension(),
	'55000: role "inventory_owner" cannot own the inventory extension''s objects Roles are members of it: tap_owner_member.',
	'a role that another role is a member of (it would act as the owner)');
ROLLBACK TO attrs;
GRANT pg_read_server_files TO inventory_owner;
SELECT is(pg_temp.create_extension(),
	'55000: role "inventory_owner" cannot own the inventory extension''s objects It is a member of pg_read_server_files.',
	'a role that is a member of another role (the functions would have its rights)');
ROLLBACK TO attrs;
SELECT is(pg_temp.create_extension(), 'created',
	'and, put right again, CREATE EXTENSION takes it');

SELECT * FROM finish();
ROLLBACK;
