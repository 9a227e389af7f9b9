# The sweeper: holds expire with nobody connected, the worker reports
# itself, survives an error in a cycle, follows a reload, and comes back
# after it is terminated.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('sweeper');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '1s'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION inventory');

sub sql { return $node->safe_psql('postgres', shift); }

sub sweeper_pid
{
	return sql(q{SELECT pid FROM pg_stat_activity
				  WHERE backend_type = 'inventory sweeper' AND datname = 'postgres'});
}

ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory launcher'}, '1'),
	'the launcher runs, with backend_type "inventory launcher"');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity
		   WHERE backend_type = 'inventory sweeper' AND datname = 'postgres'
			 AND application_name = 'inventory sweeper'}, '1'),
	'a sweeper runs in the database, with backend_type and application_name');
my $pid = sweeper_pid();
is(sql('SELECT sweeper_pid FROM inventory.stats'), $pid, 'inventory.stats names the sweeper');

# LISTEN inventory_outbox: a commit that wrote events is followed by one
# NOTIFY, sent by the sweeper (so writers do not queue on PostgreSQL's
# notify lock); a rollback sends none.
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
my $heard = listen_while(sub { sql(q{BEGIN; SELECT inv_set_stock('quiet', 1); ROLLBACK;}) });
unlike($heard, qr/Asynchronous notification/, 'a rolled back event sends no NOTIFY');
$heard = listen_while(sub { sql(q{SELECT inv_set_stock('loud', 1)}) });
like($heard,
	qr/Asynchronous notification "inventory_outbox" received from server process with PID $pid\./,
	'a committed event is followed by NOTIFY inventory_outbox, from the sweeper');

# 1,000 units held for 1 s; psql exits, so no client is connected while
# they expire.
sql(q{SELECT inv_set_stock('ps5', 1000);
	  SELECT inv_reserve('ps5', 1, '1 second') FROM generate_series(1, 1000);});
is(sql(q{SELECT available FROM inventory.stock WHERE sku = 'ps5'}), '0',
	'all 1000 units held');
sleep(3);
is(sql(q{SELECT available FROM inventory.stock WHERE sku = 'ps5'}), '1000',
	'3 s later, with nobody connected, all 1000 units are back on sale');
is(sql(q{SELECT count(*) FROM inventory.reservation WHERE state = 'expired'}), '1000',
	'all 1000 holds are expired');
is(sql(q{SELECT count(*) FROM inventory.outbox WHERE type = 'reservation.expired'}), '1000',
	'each with its reservation.expired event');
cmp_ok(sql(q{SELECT extract(epoch FROM max(finished_at - expires_at))
			   FROM inventory.reservation}), '<', 2.0,
	'no hold outlived its expiry by 2 s (sweep_interval 1 s)');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');
is(sql(q{SELECT expirations = 1000 AND sweeps > 0 AND last_sweep_at IS NOT NULL
			AND last_sweep_ms >= 0 AND reserves = 1000 AND overdue_holds = 0
		   FROM inventory.stats}), 't', 'inventory.stats counted the holds and the sweeps');

# An error in one cycle: a trigger makes the sweep fail while a flag is set.
sql(q{CREATE TABLE fail_sweep (on_ boolean);
	  INSERT INTO fail_sweep VALUES (true);
	  CREATE FUNCTION fail_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
	  BEGIN
		IF EXISTS (SELECT 1 FROM public.fail_sweep) THEN
		  RAISE EXCEPTION 'sweep sabotaged';
		END IF;
		RETURN NEW;
	  END $$;
	  CREATE TRIGGER fail_sweep BEFORE UPDATE ON inventory.reservation
		FOR EACH ROW WHEN (NEW.state = 'expired') EXECUTE FUNCTION fail_sweep();
	  -- the sweep, and so the trigger, runs as the extension's owner role
	  GRANT SELECT ON fail_sweep TO inventory_owner;});
my $log_offset = -s $node->logfile;
sql(q{SELECT inv_reserve('ps5', 1, '1 second')});
$node->wait_for_log(qr/ERROR:  sweep sabotaged/, $log_offset);
is(sweeper_pid(), $pid, 'after an error in a cycle the sweeper is still the same process');
sql('DELETE FROM fail_sweep');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'the next cycles sweep again');
sql('DROP TRIGGER fail_sweep ON inventory.reservation');

# Reload: a long interval stops expiry on time, a short one brings it back.
my $sweeps = sql('SELECT sweeps FROM inventory.stats');
sql(q{ALTER SYSTEM SET inventory.sweep_interval = '1h'; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', "SELECT sweeps > $sweeps FROM inventory.stats"),
	'a reload makes the sweeper sweep at once');
sql(q{SELECT inv_reserve('ps5', 1, '1 second') FROM generate_series(1, 10)});
sleep(2.5);
is(sql(q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}), '10',
	'with sweep_interval = 1h overdue holds wait for the next sweep');
my $t0 = time;
sql(q{ALTER SYSTEM SET inventory.sweep_interval = '100ms'; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'after a reload to 100ms they expire');
cmp_ok(time - $t0, '<', 2.0, 'within 2 s of the reload');
is(sweeper_pid(), $pid, 'a reload does not restart the sweeper');

# sweep_interval = 0 switches the sweepers off, and back on.  A writer
# whose transaction began while the sweeper ran and commits after it left
# still gets its NOTIFY (it sends it itself).
my ($lout, $lerr, $wout, $werr) = ('', '', '', '');
my $listener = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', 'LISTEN inventory_outbox', '-c', 'SELECT pg_sleep(4)' ],
	'>', \$lout, '2>', \$lerr);
my $writer = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', q{BEGIN; SELECT pg_backend_pid(); SELECT inv_set_stock('late', 1) AS n; SELECT pg_sleep(2); COMMIT;} ],
	'>', \$wout, '2>', \$werr);
sleep(0.5);
$log_offset = -s $node->logfile;
sql(q{ALTER SYSTEM SET inventory.sweep_interval = 0; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}, '0'),
	'sweep_interval = 0 stops the sweeper');
$writer->finish;
$listener->finish;
my ($writer_pid) = split /\n/, $wout;
like($lout,
	qr/Asynchronous notification "inventory_outbox" received from server process with PID $writer_pid\./,
	'a writer that commits after the sweeper left sends its NOTIFY itself');
$node->wait_for_log(qr/inventory sweeper for database "postgres" stopping: inventory.sweep_interval is 0/,
	$log_offset);
sql(q{ALTER SYSTEM RESET inventory.sweep_interval; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}, '1'),
	'resetting it starts one again');

# Terminated: the launcher starts a new sweeper.
$pid = sweeper_pid();
sql("SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'inventory sweeper' AND pid <> $pid}, '1'),
	'a terminated sweeper is replaced');

# Retention: a reload runs the purge at once.
sql(q{SELECT inv_commit(inv_reserve('ps5', 2))});
sql(q{ALTER SYSTEM SET inventory.retention = '1s'; SELECT pg_reload_conf();});
sleep(1.2);
sql('SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM inventory.reservation', '0'),
	'retention purges finished holds');
is(sql(q{SELECT qty FROM inventory.purged_sales WHERE sku = 'ps5'}), '2',
	'their sales are kept in purged_sales');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() still balances');
cmp_ok(sql('SELECT purged_holds FROM inventory.stats'), '>=', 1012, 'inventory.stats counts the purge');

# A purge that keeps failing (a table of yours references a hold) is
# logged, and does not slow the sweep down.
sql(q{CREATE TABLE orders (hold uuid REFERENCES inventory.reservation);
	  INSERT INTO orders SELECT inv_reserve('ps5', 1);
	  SELECT inv_commit(hold) FROM orders;});
sleep(1.2);
$pid = sweeper_pid();
$log_offset = -s $node->logfile;
sql('SELECT pg_reload_conf()');
$node->wait_for_log(qr/ERROR:  update or delete on table "reservation" violates foreign key constraint/,
	$log_offset);
sql(q{SELECT inv_reserve('ps5', 1, '1 second')});
sleep(3);
is(sql(q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}), '0',
	'with the purge failing, a 1 s hold is still expired within 3 s');
is(sweeper_pid(), $pid, 'by the same sweeper');

$node->stop;
command_like([ 'pg_controldata', $node->data_dir ],
	qr/Database cluster state:\s+shut down/, 'the cluster shut down cleanly');

done_testing();
