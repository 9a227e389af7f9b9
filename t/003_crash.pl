# The sweeper after a crash and after a restart in the middle of a sweep:
# no hold is lost, none is freed twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '1s'
inventory.sweep_batch = 100
restart_after_crash = on
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift); }

sub sweeper_pid
{
	return sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'});
}

sql('CREATE EXTENSION inventory');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}, '1'),
	'a sweeper runs');

# kill -9 of the sweeper: the postmaster restarts the cluster, and with it
# the launcher, which starts a sweeper again.
my $pid = sweeper_pid();
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'inventory sweeper' AND pid <> $pid}, '1'),
	'after kill -9 the sweeper is back');
sql(q{SELECT inv_set_stock('a', 100000); SELECT inv_set_stock('b', 100000);
	  SELECT inv_reserve('a', 1, '1 second') FROM generate_series(1, 10)});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'and sweeps');

# 6,000 holds on two SKUs (some carts) expire while the server restarts
# in the middle of the sweep: batches of 100, a commit each.
sql(q{SET inventory.max_ttl = '1h';
	  SELECT inv_reserve('a', 1, '2 seconds') FROM generate_series(1, 3000);
	  SELECT inv_reserve_cart('[{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]', '2 seconds')
		FROM generate_series(1, 3000);});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM inventory.reservation WHERE state = 'expired'
			AND finished_at > now() - interval '5 seconds'}),
	'the sweep has begun');
my $expired_before = sql(q{SELECT count(*) FROM inventory.reservation WHERE state = 'expired'});
$node->restart('fast');
my $expired_after = sql(q{SELECT count(*) FROM inventory.reservation WHERE state = 'expired'});
note "expired before the restart: $expired_before, right after: $expired_after";
cmp_ok($expired_after, '<', 6010, 'the restart came in the middle of the sweep');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'after the restart the sweep finishes');
is(sql(q{SELECT count(*) FROM inventory.reservation WHERE state = 'expired'}), '6010',
	'every hold expired');
is(sql(q{SELECT string_agg(sku || '=' || on_hand || '/' || (reserved + overdue), ' ' ORDER BY sku)
		   FROM inventory.stock_levels}), 'a=100000/0 b=100000/0',
	'no unit lost or freed twice');
is(sql(q{SELECT count(*) FROM inventory.outbox WHERE type = 'reservation.expired'}), '6010',
	'one reservation.expired event per hold');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() clean');

$node->stop;
command_like([ 'pg_controldata', $node->data_dir ],
	qr/Database cluster state:\s+shut down/, 'the cluster shut down cleanly');
done_testing();
