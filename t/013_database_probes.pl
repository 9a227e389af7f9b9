# Databases without the extension cost next to nothing, whoever makes them.
#
# With inventory.databases empty (the default) the launcher looks for the
# extension in every database that accepts connections.  Any role with
# CREATEDB can make databases, so: a burst of them must cost at most one
# worker at a time (probes run one after another), and none may keep a
# shared slot (there are only inventory.max_databases of them), so that a
# database that has the extension, made after them, still gets its sweeper.
#
# 20 databases without the extension, 4 slots.  A session samples
# pg_stat_activity all along; and at log_min_messages = debug1 the
# postmaster logs when it starts a background worker and when it forgets
# one that exited, and the probes log when they start and end: these count
# the workers from their first instant to their last.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $nempty = 20;
my $node = PostgreSQL::Test::Cluster->new('probes');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '200ms'
inventory.max_databases = 4
log_min_messages = debug1
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift); }

sub sweepers
{
	my $db = shift;
	return sql(qq{SELECT count(*) FROM pg_stat_activity
				   WHERE backend_type = 'inventory sweeper' AND datname = '$db'});
}

# poll for a result, for at most $secs; returns how long it took, or undef
sub wait_for
{
	my ($sql, $expected, $secs) = @_;
	my $t0 = time;
	while (time - $t0 < $secs)
	{
		return time - $t0 if sql($sql) eq $expected;
		sleep(0.1);
	}
	return undef;
}

sub wait_sweeper
{
	my ($db, $secs) = @_;
	return wait_for(qq{SELECT count(*) FROM pg_stat_activity
					   WHERE backend_type = 'inventory sweeper' AND datname = '$db'
						 AND application_name = 'inventory sweeper'}, '1', $secs);
}

ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory launcher'}, '1'),
	'the launcher runs');

# The sampler: counts, until told to stop, the sweepers in the databases
# without the extension, and the workers that call themselves probes.
sql(q{
CREATE TABLE probe_stop (stop boolean);
INSERT INTO probe_stop VALUES (false);
CREATE TABLE probe_samples (samples int, most_in_empty int, most_probes int, empty_seen int);
CREATE FUNCTION sample_probes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '5 minutes';
	n_empty int;
	n_probe int;
	cur text[];
	seen text[] := '{}';
	most_empty int := 0;
	most_probe int := 0;
	n int := 0;
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT count(*) FILTER (WHERE datname LIKE 'empty%'),
			   count(*) FILTER (WHERE application_name = 'inventory probe'),
			   array_agg(datname::text) FILTER (WHERE datname LIKE 'empty%')
		  INTO n_empty, n_probe, cur
		  FROM pg_stat_activity WHERE backend_type = 'inventory sweeper';
		most_empty := greatest(most_empty, n_empty);
		most_probe := greatest(most_probe, n_probe);
		seen := seen || coalesce(cur, '{}');
		n := n + 1;
		EXIT WHEN (SELECT stop FROM probe_stop) OR clock_timestamp() > deadline;
	END LOOP;
	INSERT INTO probe_samples
		SELECT n, most_empty, most_probe, count(DISTINCT d) FROM unnest(seen) d;
END $$;
});
my $sampler = $node->background_psql('postgres', timeout => 600);
$sampler->query_until(qr/sampling/, "\\echo sampling\nSELECT sample_probes();\n");

# the burst, then a shop
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', "CREATE DATABASE empty_$_") for 1 .. $nempty;
$node->safe_psql('postgres', 'CREATE DATABASE shop1');
my $t0 = time;
$node->safe_psql('shop1', 'CREATE EXTENSION inventory');
my $took = wait_sweeper('shop1', 30);
ok(defined $took,
	"a database with the extension made after $nempty without it gets its sweeper");
note(sprintf('shop1 had its sweeper %.1f s after CREATE EXTENSION', time - $t0));

# every database without the extension is looked at, and left
my %oid = split /[|\n]/, sql(q{SELECT datname, oid FROM pg_database WHERE datname LIKE 'empty%'});
my %name = reverse %oid;
my @probes;    # [ 'start' | 'end', database ]
my $all_probed = sub {
	@probes = ();
	my $log = slurp_file($node->logfile, $log_offset);
	while ($log =~ /inventory probe for database (\d+) (starting|done)/g)
	{
		push @probes, [ $2 eq 'starting' ? 'start' : 'end', $1 ];
	}
	my %ended = map { $_->[1] => 1 } grep { $_->[0] eq 'end' } @probes;
	return (grep { !$ended{$_} } values %oid) == 0;
};
my $deadline = time + 60;
sleep(0.2) until $all_probed->() || time > $deadline;
ok($all_probed->(), "each of the $nempty databases was probed, and the probe ended");
ok(defined wait_for(q{SELECT count(*) FROM pg_stat_activity
					   WHERE backend_type = 'inventory sweeper' AND datname LIKE 'empty%'}, '0', 10),
	'no sweeper stays in a database without the extension');

$node->safe_psql('postgres', 'UPDATE probe_stop SET stop = true');
$sampler->quit;
my ($samples, $most_in_empty, $most_probes, $empty_seen) =
  split /\|/, sql('SELECT * FROM probe_samples');
note("$samples samples of pg_stat_activity; probes seen in $empty_seen databases");
cmp_ok($empty_seen, '>=', 1, 'the sampler saw probes at work');
cmp_ok($most_in_empty, '<=', 1,
	'never more than one worker at a time in the databases without the extension');
cmp_ok($most_probes, '<=', 1, 'never more than one "inventory probe" at a time');

# The postmaster's lines: a worker in a database without the extension
# lives from "starting background worker process" to "unregistering".
my ($running, $most) = (0, 0);
my $log = slurp_file($node->logfile, $log_offset);
while ($log =~ /(starting background worker process|unregistering background worker) "inventory sweeper for database empty_\d+"/g)
{
	$running += $1 =~ /^starting/ ? 1 : -1;
	$most = $running if $running > $most;
}
is($most, 1,
	'by the postmaster\'s log, one worker at a time in the databases without the extension');

# the probes' own log lines
($running, $most) = (0, 0);
my %started;
for my $p (@probes)
{
	if ($p->[0] eq 'start')
	{
		$running++;
		$started{ $p->[1] }++;
	}
	else
	{
		$running--;
	}
	$most = $running if $running > $most;
}
is($most, 1, 'by their log lines too, one probe at a time');
is(scalar(grep { ($started{$_} // 0) != 1 } values %oid), 0,
	'each database without the extension was probed once');

# No slot is kept for them: with 4 slots, 4 databases with the extension
# get a sweeper each, one of them a database probed before, whose CREATE
# EXTENSION must reach the launcher without a slot of its own.
$node->safe_psql('empty_5', 'CREATE EXTENSION inventory');
ok(defined wait_sweeper('empty_5', 30),
	'CREATE EXTENSION in a database probed before brings its sweeper');
for my $db (qw(shop2 shop3))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION inventory');
	ok(defined wait_sweeper($db, 30), "$db gets its sweeper");
}
is(sql(q{SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity
		  WHERE backend_type = 'inventory sweeper'}),
	'empty_5,shop1,shop2,shop3',
	'four databases with the extension, four sweepers: every one of the 4 slots');
for my $db (qw(shop1 shop2 shop3 empty_5))
{
	is($node->safe_psql($db, q{SELECT sweeper_pid IS NOT NULL AND last_sweep_at IS NOT NULL
								 FROM inventory.stats}),
		't', "$db: inventory.stats has its sweeper and its sweeps");
}
unlike(slurp_file($node->logfile, $log_offset), qr/no shared slot left/,
	'the launcher never ran out of slots');

# The absence is remembered: a whole naptime (10 s) later, no probe again.
$log_offset = -s $node->logfile;
sleep(11);
unlike(slurp_file($node->logfile, $log_offset),
	qr/starting background worker process "inventory sweeper for database (empty_\d+|postgres)"/,
	'the databases without the extension are not probed again');

# A wake while every slot is taken: no sweeper, said once in the log; then
# a slot comes free (DROP DATABASE) and the woken database gets it.
$node->safe_psql('empty_6', 'CREATE EXTENSION inventory');
ok($node->wait_for_log(qr/no shared slot left for database "empty_6"/, $log_offset),
	'CREATE EXTENSION with every slot taken: the launcher says so');
is(sweepers('empty_6'), '0', 'and starts no sweeper there');
$node->safe_psql('postgres', 'DROP DATABASE shop3');
ok(defined wait_sweeper('empty_6', 40),
	'a slot comes free: the woken database gets its sweeper');
$node->safe_psql('empty_6', q{SELECT inv_set_stock('sku', 1);
							  SELECT inv_reserve('sku', 1, '1 second')});
ok($node->poll_query_until('empty_6',
		q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'and it expires holds there');

# A probe that cannot get in: the owner of a database holds a lock on it
# (ALTER DATABASE ... RENAME, in a transaction left open), so connecting
# there waits.  The launcher stops that probe after 10 s, and the others go
# on.  Restarted, the launcher looks at every database again, one at a time
# (what it knew was in its own memory), and keeps the sweepers that run.
$node->safe_psql('postgres', 'DROP DATABASE shop2');    # a slot for the probes
$node->safe_psql('postgres', 'CREATE DATABASE locked');
my $locked = sql(q{SELECT oid FROM pg_database WHERE datname = 'locked'});
ok($node->wait_for_log(qr/inventory probe for database $locked done/, $log_offset),
	'a new database is probed (within the launcher\'s naptime)');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('ALTER DATABASE locked RENAME TO locked_now');
my $pids = q{SELECT string_agg(datname || ':' || pid, ',' ORDER BY datname)
			   FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'};
my $before = sql($pids);
$log_offset = -s $node->logfile;
sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	   WHERE backend_type = 'inventory launcher'});
ok($node->wait_for_log(qr/inventory launcher: probing database "locked"/, $log_offset),
	'the launcher, restarted, probes every database again, the locked one last');
$node->safe_psql('postgres', 'CREATE DATABASE late');
$t0 = time;
$node->safe_psql('late', 'CREATE EXTENSION inventory');
ok(defined wait_sweeper('late', 30),
	'a database with the extension made meanwhile still gets its sweeper');
note(sprintf('late had its sweeper %.1f s after CREATE EXTENSION', time - $t0));
like(slurp_file($node->logfile, $log_offset),
	qr/inventory probe in database "locked" has not finished after 10 s: stopping it/,
	'once the probe stuck in the locked database was stopped');
$locker->query_safe('ROLLBACK');
$locker->quit;
is(sql(qq{SELECT count(*) FROM pg_stat_activity
		   WHERE backend_type = 'inventory sweeper' AND datname IN ('locked', 'postgres')
			  OR datname LIKE 'empty%' AND datname NOT IN ('empty_5', 'empty_6')}),
	'0', 'no sweeper stays in a database without the extension');
is(sql(qq{SELECT string_agg(datname || ':' || pid, ',' ORDER BY datname)
			FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'
			 AND datname <> 'late'}),
	$before, 'the sweepers that ran kept running, through the launcher\'s restart');
($running, $most) = (0, 0);
my $probed = 0;
$log = slurp_file($node->logfile, $log_offset);
while ($log =~ /(starting background worker process|unregistering background worker) "inventory sweeper for database (empty_\d+|postgres|locked)"/g)
{
	my $starting = $1 =~ /^starting/;
	$running += $starting ? 1 : -1;
	$probed++ if $starting;
	$most = $running if $running > $most;
}
# 18 empty_N, postgres and locked
cmp_ok($probed, '>=', $nempty - 2 + 2, 'after the restart, each database was probed again');
is($most, 1, 'one at a time');

$node->stop;
done_testing();
