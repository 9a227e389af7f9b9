# One sweeper per database with the extension: every such database is
# swept, others are left alone, inventory.databases restricts the set, and
# DROP/CREATE EXTENSION and DROP DATABASE work while sweepers run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('databases');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '200ms'
});
$node->start;
for my $db (qw(shop1 shop2 plain))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
}
$node->safe_psql($_, 'CREATE EXTENSION inventory') for qw(shop1 shop2);

sub sweepers
{
	my $db = shift;
	return $node->safe_psql('postgres',
		qq{SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'inventory sweeper' AND datname = '$db'});
}

sub wait_sweepers
{
	my ($db, $n, $name) = @_;
	ok($node->poll_query_until('postgres',
			qq{SELECT count(*) FROM pg_stat_activity
				WHERE backend_type = 'inventory sweeper' AND datname = '$db'}, $n),
		$name);
}

# holds of 1 s in db, then wait for all to be expired
sub swept
{
	my ($db, $name) = @_;
	$node->safe_psql($db, q{SELECT inv_set_stock('sku', 10);
							SELECT inv_reserve('sku', 1, '1 second') FROM generate_series(1, 5)});
	ok($node->poll_query_until($db,
			q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
		$name);
	is($node->safe_psql($db, 'SELECT count(*) FROM inv_verify()'), '0', "$db: inv_verify() clean");
}

wait_sweepers('shop1', 1, 'shop1 gets a sweeper');
wait_sweepers('shop2', 1, 'shop2 gets a sweeper');
swept('shop1', 'shop1 is swept');
swept('shop2', 'shop2 is swept');

# the database without the extension: no sweeper stays, nothing is created
sleep(1);
is(sweepers('plain'), '0', 'no sweeper stays in a database without the extension');
is(sweepers('template1'), '0', 'nor in a template');
is($node->safe_psql('plain', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'inventory'}),
	'0', 'the database without the extension is left alone');

# CREATE EXTENSION there brings a sweeper after its commit
$node->safe_psql('plain', 'CREATE EXTENSION inventory');
wait_sweepers('plain', 1, 'CREATE EXTENSION starts a sweeper');
swept('plain', 'and that database is swept');

# DROP EXTENSION while the sweeper runs: it leaves quietly; CREATE again
my $log_offset = -s $node->logfile;
$node->safe_psql('shop1', 'DROP EXTENSION inventory');
wait_sweepers('shop1', 0, 'after DROP EXTENSION the sweeper leaves');
sleep(1);
is(sweepers('shop1'), '0', 'and is not started again');
$node->safe_psql('shop1', 'CREATE EXTENSION inventory');
wait_sweepers('shop1', 1, 'CREATE EXTENSION again: a sweeper again');
swept('shop1', 'the re-created extension is swept');
unlike(slurp_file($node->logfile, $log_offset), qr/ERROR|FATAL/,
	'dropping and re-creating logged no error');

# ROLLBACK of a CREATE EXTENSION starts nothing
$node->safe_psql('postgres', 'BEGIN; CREATE EXTENSION inventory; ROLLBACK;');
sleep(1);
is(sweepers('postgres'), '0', 'a rolled back CREATE EXTENSION starts no sweeper');

# only who may drop a database can make its sweeper leave
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
my $before = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory sweeper' AND datname = 'shop2'});
my ($r, $o, $e) = $node->psql('postgres', 'DROP DATABASE shop2', extra_params => [ '-U', 'mallory' ]);
like($e, qr/must be owner of database shop2/, 'a role that does not own shop2 cannot drop it');
sleep(0.5);
is($node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory sweeper' AND datname = 'shop2'}),
	$before, 'and its attempt leaves the sweeper alone');

# DROP DATABASE does not meet "being accessed by other users"
my $t0 = time;
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE shop2');
is($ret, 0, 'DROP DATABASE of a database with a sweeper succeeds');
cmp_ok(time - $t0, '<', 5, 'promptly');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'shop2'}),
	'0', 'the database is gone');
# ... and CREATE DATABASE ... TEMPLATE of one
($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy1 TEMPLATE shop1');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE a database with a sweeper succeeds');
wait_sweepers('copy1', 1, 'the copy, which has the extension, gets a sweeper');
wait_sweepers('shop1', 1, 'the template gets its sweeper back');

# inventory.databases restricts the sweepers to the databases named
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET inventory.databases = 'plain'; SELECT pg_reload_conf();});
wait_sweepers('shop1', 0, 'inventory.databases: shop1 no longer swept');
wait_sweepers('copy1', 0, 'inventory.databases: copy1 no longer swept');
wait_sweepers('plain', 1, 'inventory.databases: plain still swept');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET inventory.databases; SELECT pg_reload_conf();});
wait_sweepers('shop1', 1, 'reset: shop1 swept again');

$node->stop;
done_testing();
