# The monitoring kit of monitoring/: prometheus-postgres-exporter, given
# queries.yaml, exports inventory.stats with the view's values after a
# known sequence of calls; promtool accepts the alert rules, and their
# unit tests pass.  Skipped when the exporter or promtool is not installed
# (Debian: prometheus-postgres-exporter, prometheus), unless
# INV_REQUIRE_MONITORING is set, as make test sets it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(sleep);

my $kit = "$ENV{TESTDIR}/monitoring";
my %bin;
for my $name ('prometheus-postgres-exporter', 'promtool')
{
	($bin{$name}) = grep { -x $_ } map { "$_/$name" } split /:/, $ENV{PATH};
	next if $bin{$name};
	die "$name is not installed (INV_REQUIRE_MONITORING is set)\n"
	  if $ENV{INV_REQUIRE_MONITORING};
	plan skip_all => "$name is not installed";
}

# --- the rules ---------------------------------------------------------
for my $cmd ([ 'check', 'rules', 'alerts.yml' ], [ 'test', 'rules', 'alerts_test.yml' ])
{
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $bin{promtool}, @$cmd ], '>', \$out, '2>', \$err,
		init => sub { chdir $kit or die "chdir $kit: $!" });
	ok($ok, "promtool @$cmd") or diag("$out$err");
}

# --- the exporter ------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('monitoring');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'inventory'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE shop');
# no sweeper there: the overdue hold below stays overdue, and sweeper_up is 0
$node->safe_psql('postgres', 'ALTER DATABASE shop SET inventory.sweeper = off');

sub sql { return $node->safe_psql('shop', shift); }

sql('CREATE EXTENSION inventory');
# the exporter's role: pg_monitor and nothing else, as doc/operations.md says
sql('CREATE ROLE exporter LOGIN IN ROLE pg_monitor');
sql(q{SELECT inv_set_stock('m', 10)});
# 4 holds (one replayed by its key), 1 commit, 1 release, 1 refusal for
# want of units, 1 for an unknown SKU, 1 hold left overdue
sql(q{SELECT inv_commit(inv_reserve('m', 1))});
sql(q{SELECT inv_release(inv_reserve('m', 1, idempotency_key => 'k'))});
sql(q{SELECT inv_reserve('m', 1, idempotency_key => 'k')});
sql(q{SELECT inv_reserve('m', 2, ttl => '1 second')});
sql(q{SELECT inv_try_reserve_cart('[{"sku": "m", "qty": 100}]')});
sql(q{SELECT inv_try_reserve_cart('[{"sku": "nope", "qty": 1}]')});
sql(q{SELECT inv_outbox_subscribe('kafka', 0)});
sql(q{SELECT inv_outbox_subscribe('sqs', 0)});
sql(q{SELECT inv_outbox_ack('sqs', max(seq)) FROM inv_outbox_next('sqs', 3)});
ok($node->poll_query_until('shop', 'SELECT overdue_holds FROM inventory.stats', '1'),
	'one hold is overdue');

# a free port on loopback
my $port = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
  ->sockport;
my $dsn = sprintf('host=%s port=%d user=exporter dbname=shop sslmode=disable',
	$node->host, $node->port);
my ($eout, $eerr) = ('', '');
my $exporter = IPC::Run::start(
	[
		$bin{'prometheus-postgres-exporter'},
		"--web.listen-address=127.0.0.1:$port",
		"--extend.query-path=$kit/queries.yaml",
		'--disable-default-metrics', '--disable-settings-metrics'
	],
	'>', \$eout, '2>', \$eerr,
	init => sub { $ENV{DATA_SOURCE_NAME} = $dsn });

my $http = HTTP::Tiny->new(timeout => 5);
my $metrics;
for (1 .. 100)
{
	my $r = $http->get("http://127.0.0.1:$port/metrics");
	if ($r->{success} && $r->{content} =~ /^inventory_reserves_total/m)
	{
		$metrics = $r->{content};
		last;
	}
	sleep(0.1);
}
ok(defined $metrics, 'the exporter serves /metrics with the inventory metrics')
  or diag("exporter: $eout$eerr");
$metrics //= '';

# the value of a metric with these labels, as a number
sub metric
{
	my ($name, %labels) = @_;
	for my $line (split /\n/, $metrics)
	{
		next unless $line =~ /^\Q$name\E\{([^}]*)\} (\S+)$/;
		my ($lbl, $value) = ($1, $2);
		my %have = $lbl =~ /(\w+)="([^"]*)"/g;
		next if grep { ($have{$_} // '') ne $labels{$_} } keys %labels;
		return $value + 0;
	}
	return undef;
}

my %stats = split /\|/, sql(q{
	SELECT concat_ws('|', 'reserves', reserves, 'replays', replays,
		'refused_insufficient_stock', refused_insufficient_stock,
		'refused_unknown_sku', refused_unknown_sku, 'commits', commits,
		'releases', releases, 'expirations', expirations, 'sweeps', sweeps,
		'overdue_holds', overdue_holds)
	  FROM inventory.stats});
is_deeply(\%stats,
	{ reserves => 3, replays => 1, refused_insufficient_stock => 1,
	  refused_unknown_sku => 1, commits => 1, releases => 1, expirations => 0,
	  sweeps => 0, overdue_holds => 1 },
	'inventory.stats counted the sequence');
for my $c (sort keys %stats)
{
	my $name = $c eq 'overdue_holds' ? 'inventory_overdue_holds' : "inventory_${c}_total";
	is(metric($name, datname => 'shop'), $stats{$c}, "$name is the view's $c");
}
is(metric('inventory_sweeper_up', datname => 'shop'), 0, 'inventory_sweeper_up is 0: no sweeper serves shop');
my $age = metric('inventory_oldest_overdue_hold_age_seconds', datname => 'shop');
ok(defined $age && $age > 0 && $age < 60,
	'inventory_oldest_overdue_hold_age_seconds is the age of the overdue hold, in seconds')
  or diag("age: " . ($age // 'none'));
my %backlog = split /\|/, sql(q{
	SELECT string_agg(consumer || '|' || backlog, '|' ORDER BY consumer)
	  FROM inventory.outbox_consumers});
for my $consumer (sort keys %backlog)
{
	is(metric('inventory_outbox_backlog_events', datname => 'shop', consumer => $consumer),
		$backlog{$consumer}, "inventory_outbox_backlog_events of $consumer is the view's backlog");
}
ok($backlog{kafka} > $backlog{sqs}, 'the consumer that acknowledged has the smaller backlog');

# an expiry shows in the next scrape
sql('SELECT inv_sweep()');
my $r = $http->get("http://127.0.0.1:$port/metrics");
$metrics = $r->{content} // '';
is(metric('inventory_expirations_total', datname => 'shop'), 1, 'a sweep\'s expiry shows in the next scrape');
is(metric('inventory_sweeps_total', datname => 'shop'), 1, 'and so does the sweep');
is(metric('inventory_overdue_holds', datname => 'shop'), 0, 'and the overdue hold is gone');
ok(metric('inventory_last_sweep_timestamp_seconds', datname => 'shop') > time() - 60,
	'inventory_last_sweep_timestamp_seconds is the time of that sweep');

# a sweeper comes: inventory_sweeper_up turns 1
$node->safe_psql('postgres', 'ALTER DATABASE shop RESET inventory.sweeper');
ok($node->poll_query_until('shop', 'SELECT sweeper_pid IS NOT NULL FROM inventory.stats'),
	'a sweeper serves shop once the setting is reset');
$metrics = $http->get("http://127.0.0.1:$port/metrics")->{content} // '';
is(metric('inventory_sweeper_up', datname => 'shop'), 1, 'inventory_sweeper_up is 1 then');

$exporter->kill_kill;
$node->stop;
done_testing();
