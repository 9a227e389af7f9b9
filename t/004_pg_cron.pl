# Without the sweeper (inventory.sweep_interval = 0), pg_cron runs the
# sweep and the retention; retention keeps events a consumer still needs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,inventory'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 20
inventory.sweep_interval = 0
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift); }

sql('CREATE EXTENSION pg_cron');
sql('CREATE EXTENSION inventory');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory launcher'}, '1'),
	'the launcher runs');
sleep(1);
is(sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}), '0',
	'with sweep_interval = 0 no sweeper runs');

# What a LISTEN session hears while $during runs.
sub listen_while
{
	my ($during) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
		  '-c', 'LISTEN inventory_outbox', '-c', 'SELECT pg_sleep(1.5)' ],
		'>', \$out, '2>', \$err);
	sleep(0.5);
	$during->();
	$h->finish;
	return $out;
}

# without a sweeper the writer sends its NOTIFY itself
my $writer;
like(listen_while(sub { $writer = sql(q{SELECT pg_backend_pid() FROM inv_set_stock('loud', 1)}) }),
	qr/Asynchronous notification "inventory_outbox" received from server process with PID $writer\./,
	'without a sweeper the writing session sends NOTIFY inventory_outbox');

# ... unless inventory.writer_notify is off: then nobody does
unlike(listen_while(sub {
		sql(q{SET inventory.writer_notify = off; SELECT inv_set_stock('quiet', 1)}) }),
	qr/Asynchronous notification/,
	'with inventory.writer_notify = off the writing session sends no NOTIFY');
is(sql(q{SELECT count(*) FROM inventory.outbox WHERE aggregateid = 'quiet'}), '1',
	'the event is written all the same');

# pg_cron 1.4 (Debian 12) runs jobs at minute boundaries: one job waits for
# the 1 s holds to be overdue, sweeps, waits past the 1 s retention, and
# purges.  Everything it should act on is
# set up before the next boundary.
sql(q{SELECT inv_set_stock('x', 50);
	  SELECT inv_reserve('x', 1, '1 second') FROM generate_series(1, 20);
	  SELECT inv_commit(inv_reserve('x', 3));});
# a consumer that acknowledged only part of the outbox keeps the rest
sql(q{SELECT inv_outbox_subscribe('relay', 0)});
my $half = sql(q{SELECT max(seq) FROM (SELECT seq FROM inv_outbox_next('relay', 10)) e});
sql("SELECT inv_outbox_ack('relay', $half)");
my $events = sql('SELECT count(*) FROM inventory.outbox');
sql(q{ALTER SYSTEM SET inventory.retention = '1s'; SELECT pg_reload_conf();});
# (schedule_in_database, as README shows it: here the shop's database is
# pg_cron's own)
sql(q{SELECT cron.schedule_in_database('inventory', '* * * * *',
		'SELECT pg_sleep(1.5); SELECT inv_sweep(); SELECT pg_sleep(1.5); SELECT inv_purge();',
		'postgres')});
# (pg_cron 1.4 marks a run succeeded after its first statement: wait for
# the effect instead)
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM inventory.reservation', '0'),
	'pg_cron ran inv_sweep(), which expired the holds, and inv_purge(), which purged every finished hold');
is(sql(q{SELECT string_agg(status, ',') FROM cron.job_run_details}), 'succeeded', 'the job succeeded');
is(sql(q{SELECT sweeps > 0 AND expirations = 20 AND purged_holds = 21 AND sweeper_pid IS NULL
		   FROM inventory.stats}),
	't', 'inventory.stats counts what pg_cron ran');
is(sql(qq{SELECT min(seq) > $half AND count(*) = $events - 10 + 20 FROM inventory.outbox}), 't',
	'events the consumer acknowledged are gone, the others (and the 20 new) stay');
is(sql(q{SELECT qty FROM inventory.purged_sales WHERE sku = 'x'}), '3', 'purged sales are kept');
is(sql(q{SELECT on_hand || '/' || (reserved + overdue) FROM inventory.stock_levels WHERE sku = 'x'}), '47/0',
	'stock is untouched by the purge');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() still balances');
sql(q{SELECT inv_outbox_unsubscribe('relay')});
sleep(1.1);
sql('SELECT inv_purge(100000)');
is(sql('SELECT count(*) FROM inventory.outbox'), '0',
	'with no consumer left, events older than the retention go too');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() still balances');

$node->stop;
done_testing();
