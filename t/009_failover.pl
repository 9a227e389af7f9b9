# Failover: a primary and a synchronous streaming standby under a checkout
# load.  The standby answers the read-only API and runs no sweeper; the
# primary is stopped hard and the standby promoted; then the sweeper
# starts there by itself and expires the holds left behind, every checkout
# a buyer saw committed is committed, inv_verify() is clean, and a relay
# that reconnects to the new primary loses no event.
#
# The buyers and the relay are shell loops of psql calls, so that what a
# client saw succeed is on record (a file per loop) when the primary dies.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(sleep);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '200ms'
log_statement = 'none'
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION inventory;
	SELECT inv_set_stock('A', 1000000), inv_set_stock('B', 1000000);
	SELECT inv_outbox_subscribe('failover-relay', 0);});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
# synchronous from now on (before, the set-up's commits would wait for it)
$primary->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = '*'});
$primary->reload;
$primary->poll_query_until('postgres', q{SELECT sync_state FROM pg_stat_replication}, 'sync');
is($primary->safe_psql('postgres', q{SELECT sync_state FROM pg_stat_replication}), 'sync',
	'the standby is synchronous');

my $dir = PostgreSQL::Test::Utils::tempdir();
my $pconn = sprintf('-h %s -p %d', $primary->host, $primary->port);
my $psql = 'psql -XAtq -v ON_ERROR_STOP=1 -d postgres';

# buyers: reserve then commit, the committed ids on record; a walker-away
# leaves 4-second holds behind; a relay takes events and acknowledges them
my @loops;
for my $n (1 .. 3)
{
	my $sku = $n % 2 ? 'A' : 'B';
	push @loops, IPC::Run::start([ 'bash', '-c', qq{
		while true; do
			id=\$($psql $pconn -c "SELECT inv_reserve('$sku', 1, ttl => '3 seconds')") || exit 0
			$psql $pconn -c "SELECT inv_commit('\$id')" >/dev/null || exit 0
			echo "\$id" >>$dir/committed.$n
		done} ]);
}
push @loops, IPC::Run::start([ 'bash', '-c', qq{
	while true; do
		$psql $pconn -c "SELECT inv_reserve('B', 1, ttl => '4 seconds')" >/dev/null || exit 0
	done} ]);
sub relay_batch
{
	my ($node) = @_;
	my $seqs = $node->safe_psql('postgres',
		q{SELECT string_agg(seq::text, ' ' ORDER BY seq) FROM inv_outbox_next('failover-relay', 500)});
	return 0 if $seqs eq '';
	my @seqs = split / /, $seqs;
	open(my $fh, '>>', "$dir/delivered") or die $!;
	print $fh "$_\n" for @seqs;
	close $fh;
	$node->safe_psql('postgres', "SELECT inv_outbox_ack('failover-relay', $seqs[-1])");
	return scalar @seqs;
}

# while the load runs, the standby answers reads and runs no sweeper
sleep(1.5);
relay_batch($primary);
is($standby->safe_psql('postgres', q{SELECT pg_is_in_recovery()}), 't', 'the standby is in recovery');
like($standby->safe_psql('postgres', q{SELECT on_hand || '/' || reserved FROM inv_stock('A')}),
	qr/^\d+\/\d+$/, 'inv_stock answers on the standby');
like($standby->safe_psql('postgres', q{SELECT inv_available('B')}), qr/^\d+$/,
	'inv_available answers on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM inventory.stock_levels}), '2',
	'inventory.stock_levels answers on the standby');
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity
		   WHERE backend_type IN ('inventory launcher', 'inventory sweeper')}),
	'0', 'no launcher and no sweeper run on the standby');
my ($out, $err) = ('', '');
$standby->psql('postgres', q{SELECT inv_reserve('A', 1)}, stdout => \$out, stderr => \$err);
like($err, qr/cannot execute inv_reserve\(\) in a read-only transaction/,
	'a reserve on the standby is refused as a write (25006)');
sleep(1.5);
relay_batch($primary);

# the primary dies in the middle of the load
$primary->stop('immediate');
$_->finish for @loops;
my @committed = map { -e "$dir/committed.$_" ? split(/\n/, slurp_file("$dir/committed.$_")) : () } 1 .. 3;
ok(@committed > 10, scalar(@committed) . ' checkouts were committed on the old primary');

$standby->promote;
is($standby->safe_psql('postgres', q{SELECT pg_is_in_recovery()}), 'f', 'the standby is promoted');
my $left = $standby->safe_psql('postgres', q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'});
ok($left > 0, "$left holds were left behind in force");
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}, '1'),
	'the sweeper starts on the new primary by itself');
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) FROM inventory.reservation WHERE state = 'held'}, '0'),
	'it expires the holds left behind');
ok($standby->safe_psql('postgres', q{SELECT expirations FROM inventory.stats}) >= $left,
	'the new primary\'s sweeper expired them (its counters start at 0)');
$standby->safe_psql('postgres', q{CREATE TABLE seen (id uuid)});
$standby->safe_psql('postgres',
	'INSERT INTO seen VALUES ' . join(',', map { "('$_')" } @committed));
is($standby->safe_psql('postgres', q{
		SELECT count(*) FROM seen s
		  LEFT JOIN inventory.reservation r ON r.id = s.id
		 WHERE r.state IS DISTINCT FROM 'committed'}),
	'0', 'every checkout a buyer saw committed is committed on the new primary');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM inv_verify()}), '0',
	'inv_verify() is clean on the new primary');

# the relay reconnects to the new primary and drains the outbox
# (its safe horizon may need a call or two to pass the last events)
my $empty = 0;
for (1 .. 100)
{
	if (relay_batch($standby) > 0) { $empty = 0; next; }
	last if ++$empty == 3;
	sleep(0.2);
}
my %delivered = map { $_ => 1 } split /\n/, slurp_file("$dir/delivered");
my $missing = $standby->safe_psql('postgres', q{SELECT string_agg(seq::text, ',') FROM inventory.outbox});
my @lost = grep { !$delivered{$_} } split /,/, $missing;
is(scalar(@lost), 0, 'the relay lost no event across the failover ('
	. scalar(keys %delivered) . ' delivered)') or diag("lost: @lost[0 .. ($#lost < 9 ? $#lost : 9)]");

# and the new primary takes checkouts
is($standby->safe_psql('postgres', q{SELECT inv_commit(inv_reserve('A', 1))}), 't',
	'a checkout works on the new primary');

$standby->stop;
done_testing();
