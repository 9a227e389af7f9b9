# The sweeper and the settings of its database.
#
# The sweeper runs as the bootstrap superuser: a database owner who is not
# a superuser must not be able to make it run code of theirs, nor stop it
# from expiring holds, through the settings of their database.
#
# Two attacks, each in a database of its own that a non-superuser owns:
#  1. ALTER DATABASE ... SET search_path = evil, pg_catalog, public and an
#     operator evil.= (uuid, uuid) that makes its owner a superuser;
#  2. no ALTER DATABASE at all: the default path starts with "$user", so a
#     schema named like the bootstrap superuser, with an aggregate
#     jsonb_agg(jsonb) in it, wins over pg_catalog.jsonb_agg(anyelement).
# A third owner sets default_transaction_read_only and lock_timeout on
# their database, which would make every sweep fail.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('search_path');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '200ms'
});
$node->start;

my $boot = $node->safe_psql('postgres', 'SELECT rolname FROM pg_roles WHERE oid = 10');

sub as_owner
{
	my ($role, $db, $sql) = @_;
	return $node->safe_psql($db, $sql, extra_params => [ '-U', $role ]);
}

# The superuser sets up each shop as README says; the owners are ordinary.
for my $i (1, 2, 3)
{
	$node->safe_psql('postgres', qq{
		CREATE ROLE dbo$i LOGIN;
		CREATE DATABASE shop$i OWNER dbo$i;});
	$node->safe_psql("shop$i", qq{
		CREATE EXTENSION inventory;
		GRANT USAGE ON SCHEMA inventory TO dbo$i;
		GRANT EXECUTE ON FUNCTION inv_reserve(text, bigint, interval, text, text),
			inv_set_stock(text, bigint, text) TO dbo$i;});
}

# Attack 1: the database's search_path, and an operator = for uuid.
as_owner('dbo1', 'shop1', q{
	CREATE SCHEMA evil;
	CREATE TABLE evil.calls (who name, at timestamptz DEFAULT now());
	CREATE FUNCTION evil.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO evil.calls VALUES (current_user);
		ALTER ROLE dbo1 SUPERUSER;
		RETURN pg_catalog.uuid_eq($1, $2);
	END $$;
	CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.uuid_eq);
	GRANT USAGE ON SCHEMA evil TO PUBLIC;
	GRANT INSERT ON evil.calls TO PUBLIC;
	ALTER DATABASE shop1 SET search_path = evil, pg_catalog, public;
});

# Attack 2: a schema named like the bootstrap superuser, first in its
# default search_path ("$user", public), with an aggregate jsonb_agg(jsonb).
as_owner('dbo2', 'shop2', qq{
	CREATE SCHEMA "$boot";
	CREATE TABLE "$boot".calls (who name, at timestamptz DEFAULT now());
	CREATE FUNCTION "$boot".grab(jsonb, jsonb) RETURNS jsonb LANGUAGE plpgsql AS \$\$
	BEGIN
		INSERT INTO "$boot".calls VALUES (current_user);
		ALTER ROLE dbo2 SUPERUSER;
		RETURN coalesce(\$1, '[]'::jsonb) || jsonb_build_array(\$2);
	END \$\$;
	CREATE AGGREGATE "$boot".jsonb_agg(jsonb) (SFUNC = "$boot".grab, STYPE = jsonb);
	GRANT USAGE ON SCHEMA "$boot" TO PUBLIC;
	GRANT INSERT ON "$boot".calls TO PUBLIC;
});

# Settings that would make every sweep fail.
as_owner('dbo3', 'shop3', q{
	ALTER DATABASE shop3 SET default_transaction_read_only = on;
	ALTER DATABASE shop3 SET lock_timeout = '1ms';
});

# Database settings reach the sweepers when they connect: restart.
$node->restart;
for my $i (1, 2, 3)
{
	ok($node->poll_query_until('postgres', qq{
			SELECT count(*) FROM pg_stat_activity
			 WHERE backend_type = 'inventory sweeper' AND datname = 'shop$i'}, '1'),
		"a sweeper runs in shop$i");
}
is($node->safe_psql('shop1', 'SHOW search_path'), 'evil, pg_catalog, public',
	"shop1's owner did set its search_path");

# Each owner holds one unit for a second, then nobody calls anything.
for my $i (1, 2, 3)
{
	as_owner("dbo$i", "shop$i", q{
		SET default_transaction_read_only = off;
		SELECT inv_set_stock('ps5', 1);
		SELECT inv_reserve('ps5', 1, '1 second');});
}

for my $i (1, 2, 3)
{
	ok($node->poll_query_until("shop$i", q{
			SELECT count(*) FROM inventory.reservation WHERE state = 'expired'}, '1'),
		"shop$i: the sweeper expired the hold");
	is($node->safe_psql("shop$i", q{
			SELECT available FROM inventory.stock WHERE sku = 'ps5'}),
		'1', "shop$i: the unit is back on sale");
	is($node->safe_psql("shop$i", q{
			SELECT count(*) FROM inventory.outbox WHERE type = 'reservation.expired'}),
		'1', "shop$i: with its reservation.expired event");
	is($node->safe_psql("shop$i", 'SELECT count(*) FROM inv_verify()'), '0',
		"shop$i: inv_verify() is clean");
	is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbo$i'"),
		'f', "dbo$i is still not a superuser");
}
is($node->safe_psql('shop1', 'SELECT count(*) FROM evil.calls'), '0',
	'the operator evil.= was never called');
is($node->safe_psql('shop2', qq{SELECT count(*) FROM "$boot".calls}), '0',
	"the aggregate $boot.jsonb_agg was never called");

# A sweep that failed would have been logged; none was.
my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR:.*read-only/, 'no sweep failed on the owner\'s settings');

# A superuser may switch one database's sweeper off, and on again, with
# ALTER DATABASE ... SET inventory.sweeper; its owner may not.
my ($rc, $out, $err) = $node->psql('shop2', 'ALTER DATABASE shop2 SET inventory.sweeper = off',
	extra_params => [ '-U', 'dbo2' ]);
like($err, qr/permission denied to set parameter "inventory.sweeper"/,
	'the database owner may not switch its sweeper off');
my $sweepers = q{SELECT count(*) FROM pg_stat_activity
				  WHERE backend_type = 'inventory sweeper' AND datname = 'shop2'};
$node->safe_psql('postgres', 'ALTER DATABASE shop2 SET inventory.sweeper = off');
ok($node->poll_query_until('postgres', $sweepers, '0'),
	'ALTER DATABASE shop2 SET inventory.sweeper = off: its sweeper leaves');
ok($node->wait_for_log(qr/inventory sweeper for database "shop2" stopping: inventory.sweeper is off for this database/),
	'and logs why');
$node->safe_psql('shop2', q{SELECT inv_reserve('ps5', 1, '100 milliseconds')});
sleep(3);
is($node->safe_psql('postgres', $sweepers), '0', 'the launcher does not start it again');
is($node->safe_psql('shop2', q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}),
	'1', 'a hold past its expiry stays held: nobody sweeps shop2');
is($node->safe_psql('shop1', q{SELECT count(*) FROM pg_stat_activity
								WHERE backend_type = 'inventory sweeper' AND datname = 'shop1'}),
	'1', 'the other databases keep theirs');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
sleep(2);
is($node->safe_psql('postgres', $sweepers), '0', 'nor after a reload');
$node->safe_psql('postgres', 'ALTER DATABASE shop2 RESET inventory.sweeper');
ok($node->poll_query_until('postgres', $sweepers, '1'),
	'ALTER DATABASE shop2 RESET inventory.sweeper: a sweeper is back');
ok($node->poll_query_until('shop2', q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'and it expires the hold');
is($node->safe_psql('shop2', 'SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');

$node->stop;
done_testing();
