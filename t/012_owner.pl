# The extension's own role: the first CREATE EXTENSION of a cluster makes
# inventory_owner, the next database reuses it, DROP EXTENSION leaves it,
# and the sweeper, which connects as the bootstrap superuser, does its
# work as inventory_owner: take a right from that role and the sweep and
# the purge fail, which a superuser's would not.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('owner');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '1s'
});
$node->start;

sub sql { return $node->safe_psql(shift, shift); }

is(sql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'inventory_owner'}), '0',
	'a new cluster has no inventory_owner');
sql('postgres', 'CREATE EXTENSION inventory');
is(sql('postgres', q{SELECT rolsuper, rolcanlogin, rolinherit, rolcreaterole, rolcreatedb,
								rolreplication, rolbypassrls
					   FROM pg_roles WHERE rolname = 'inventory_owner'}),
	'f|f|f|f|f|f|f', 'CREATE EXTENSION made inventory_owner: NOLOGIN, and no other right');
is(sql('postgres', q{SELECT pg_get_userbyid(relowner) FROM pg_class
					  WHERE oid = 'inventory.reservation'::regclass}),
	'inventory_owner', 'it owns the tables');

sql('postgres', 'CREATE DATABASE second');
sql('second', 'CREATE EXTENSION inventory');
is(sql('second', q{SELECT count(*) FROM pg_class
					WHERE relnamespace = 'inventory'::regnamespace
					  AND relowner <> 'inventory_owner'::regrole}),
	'0', 'a second database reuses the role for its own tables');

# The sweeper connects as the bootstrap superuser ...
sub sweeper_running
{
	my $db = shift;
	return $node->poll_query_until($db,
		qq{SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'inventory sweeper' AND datname = '$db'}, '1');
}
ok(sweeper_running('postgres'), 'a sweeper runs in the database');
is(sql('postgres', q{SELECT usename FROM pg_stat_activity
					  WHERE backend_type = 'inventory sweeper' AND datname = 'postgres'}),
	'postgres', 'the sweeper connects as the bootstrap superuser (a NOLOGIN role cannot, in PG 15)');

# ... and sweeps as inventory_owner: without UPDATE on its own table, the
# sweep is refused (a superuser's would pass any ACL), and the hold stays.
sql('postgres', q{SELECT inv_set_stock('ps5', 10)});
sql('postgres', 'REVOKE UPDATE ON inventory.reservation FROM inventory_owner');
my $log_offset = -s $node->logfile;
sql('postgres', q{SELECT inv_reserve('ps5', 1, '1 second')});
$node->wait_for_log(qr/ERROR:  permission denied for table reservation/, $log_offset);
pass('the sweep runs as inventory_owner: without UPDATE on inventory.reservation it is refused');
is(sql('postgres', q{SELECT state FROM inventory.reservation}), 'held',
	'and the overdue hold is still held');
sql('postgres', 'GRANT UPDATE ON inventory.reservation TO inventory_owner');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'with the right back, the next cycles sweep again');

# The purge, too: without DELETE on the holds, retention is refused.
sql('postgres', q{SELECT inv_commit(inv_reserve('ps5', 2))});
sql('postgres', 'REVOKE DELETE ON inventory.reservation FROM inventory_owner');
$log_offset = -s $node->logfile;
sql('postgres', q{ALTER SYSTEM SET inventory.retention = '1s'; SELECT pg_reload_conf();});
sleep(1.2);
sql('postgres', 'SELECT pg_reload_conf()');
$node->wait_for_log(qr/ERROR:  permission denied for table reservation/, $log_offset);
pass('the purge runs as inventory_owner: without DELETE on inventory.reservation it is refused');
sql('postgres', 'GRANT DELETE ON inventory.reservation TO inventory_owner');
sql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM inventory.reservation', '0'),
	'with the right back, retention purges the finished holds');
is(sql('postgres', 'SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() balances');

# Roles belong to the cluster: dropping the extension leaves the role.
sql('second', 'DROP EXTENSION inventory');
is(sql('second', q{SELECT count(*) FROM pg_roles WHERE rolname = 'inventory_owner'}), '1',
	'DROP EXTENSION leaves inventory_owner');
sql('postgres', 'DROP EXTENSION inventory');
sql('postgres', 'DROP ROLE inventory_owner');
sql('postgres', 'CREATE EXTENSION inventory');
is(sql('postgres', q{SELECT pg_get_userbyid(relowner) FROM pg_class
					  WHERE oid = 'inventory.stock'::regclass}),
	'inventory_owner', 'dropped by hand once nothing is left of it, it is made again');

$node->stop;
command_like([ 'pg_controldata', $node->data_dir ],
	qr/Database cluster state:\s+shut down/, 'the cluster shut down cleanly');

done_testing();
