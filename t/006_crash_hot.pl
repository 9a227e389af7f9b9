# kill -9 in the middle of a hot-SKU load: after the crash restart every
# invariant of the stress suite (scripts/stress.sh) holds.
#
# 16 pgbench clients (scripts in t/crash_hot/) hammer a hot SKU (reserve +
# commit, 1 s holds released or abandoned, receipts and write-offs, carts
# with the scarce SKU), a scarce SKU of 50 units that sells out early (its
# refusals then go the lock-free way, through inv_try_reserve_cart), and a
# sold-out SKU; one more client relays the outbox.  Round 1 kills a client
# backend that is in the middle of a write, round 2 the sweeper in the middle
# of expiring 5,000 holds of a fourth SKU (BULK) that fell overdue together;
# each time the postmaster restarts every backend, pgbench's clients die
# (expected), and once the server is back the stock, the holds and the
# outbox are checked against each other, the sweeper expires what fell
# overdue, the relay gets every event, and a reserve and a commit work.
#
# The pgbench scripts are found next to this file: scripts/test.sh copies
# the whole of t/, sub-folders included.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Time::HiRes qw(time sleep);

my $scripts = abs_path(dirname(__FILE__)) . '/crash_hot';
# BULK: the holds round 2's sweep is in the middle of expiring
my %seed = (HOT => 1_000_000, SCARCE => 50, SOLDOUT => 0, BULK => 5000);

my $node = PostgreSQL::Test::Cluster->new('crash_hot');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '100ms'
synchronous_commit = on
restart_after_crash = on
max_connections = 60
# the load would log every statement (the test clusters' default)
log_statement = 'none'
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift); }

# the stress suite's SQL helpers: the stock replayed from the outbox
sql(q{CREATE EXTENSION inventory;}
	  . slurp_file(abs_path(dirname(__FILE__)) . '/../test/pgbench/harness.sql'));
sql(q{CREATE TABLE delivered (seq bigint NOT NULL);
	  SELECT inv_outbox_subscribe('crash-relay', 0);});
sql(join('', map { "SELECT inv_set_stock('$_', $seed{$_}, 'crash_hot seed');" } sort keys %seed));
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}, '1'),
	'a sweeper runs');

# The load: 16 buyers and 1 relay for $seconds (or until a crash kills them).
sub start_load
{
	my ($seconds) = @_;
	my @conn = ('-h', $node->host, '-p', $node->port);
	my %load = (out => '', err => '', relay_out => '', relay_err => '');
	$load{buyers} = IPC::Run::start(
		[ 'pgbench', '-n', '-M', 'prepared', '-c', '16', '-j', '4', '-T', $seconds, @conn,
		  '-D', 'hot=HOT', '-D', 'scarce=SCARCE', '-D', 'soldout=SOLDOUT',
		  '-f', "$scripts/hot.sql\@8", '-f', "$scripts/expire.sql\@4",
		  '-f', "$scripts/scarce.sql\@4", '-f', "$scripts/soldout.sql\@2",
		  '-f', "$scripts/cart.sql\@3", '-f', "$scripts/adjust.sql\@1", 'postgres' ],
		'>', \$load{out}, '2>', \$load{err}, IPC::Run::timeout($seconds + 60));
	$load{relay} = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '1', '-T', $seconds, @conn,
		  '-f', "$scripts/relay.sql", 'postgres' ],
		'>', \$load{relay_out}, '2>', \$load{relay_err}, IPC::Run::timeout($seconds + 60));
	$load{started} = time;
	return \%load;
}

# pgbench's clients die with the crash: their exit status is not checked.
sub end_load
{
	my ($load) = @_;
	eval { $load->{$_}->finish; 1 } or diag("pgbench $_: $@") for ('buyers', 'relay');
	# (the threads' lines may interleave)
	my $aborted = () = $load->{err} =~ /aborted in command/g;
	my ($tx) = $load->{out} =~ /number of transactions actually processed: (\d+)/;
	note sprintf('pgbench ended after %.1f s, exit %s: %s transactions, %d clients aborted',
		time - $load->{started}, eval { $load->{buyers}->result } // '?', $tx // '?', $aborted);
	# what pgbench said, one line per kind of message
	my %said;
	for my $line (split /\n/, $load->{err} . $load->{relay_err})
	{
		(my $kind = $line) =~ s/\d+/N/g;
		$said{$kind}++;
	}
	note "  ${said{$_}}x $_" for sort keys %said;
	return $aborted;
}

sub sleep_until
{
	my ($t) = @_;
	my $d = $t - time;
	sleep($d) if $d > 0;
}

# A check in the manner of scripts/stress.sh: the query returns one row per
# problem, none when all is well.
sub check
{
	my ($name, $query) = @_;
	my $out = sql($query);
	my @rows = split /\n/, $out;
	ok(!@rows, $name)
	  or diag(join("\n", @rows[ 0 .. ($#rows < 9 ? $#rows : 9) ]) . (@rows > 10 ? "\n..." : ''));
}

# kill -9 of $pid; wait for the crash restart and for connections.
sub crash
{
	my ($round, $pid, $what) = @_;
	my $offset = -s $node->logfile;
	my $t0 = time;
	ok(kill('KILL', $pid), "$round: kill -9 of $what (pid $pid)");
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
	ok($node->poll_query_until('postgres', 'SELECT 1', '1'), "$round: the server accepts connections again");
	note sprintf('%s: back %.1f s after the kill', $round, time - $t0);
	my $log = slurp_file($node->logfile, $offset);
	like($log, qr/\(PID $pid\) was terminated by signal 9/, "$round: the log shows the kill -9");
	like($log,
		qr/terminating any other active server processes.*all server processes terminated; reinitializing/s,
		"$round: and the crash restart");
	return $log;
}

# What the load did, as the tables tell it.
sub tally
{
	return sql(q{SELECT string_agg(state || ' ' || n, ', ' ORDER BY state)
				   FROM (SELECT state, count(*) AS n FROM inventory.reservation GROUP BY 1) s})
	  . '; ' . sql(q{SELECT string_agg(sku || ' ' || on_hand || '/' || reserved, ', ' ORDER BY sku)
					  FROM harness.stock});
}

sub sold
{
	my ($sku) = @_;
	return sql(qq{SELECT coalesce(sum(l.qty), 0) FROM inventory.reservation_line l
					JOIN inventory.reservation r ON r.id = l.reservation_id
				   WHERE r.state = 'committed' AND l.sku = '$sku'});
}

# After the restart: the sweeper is back and works, the relay gets every
# event, and the books balance.
sub after_recovery
{
	my ($round, $old_sweeper) = @_;

	ok($node->poll_query_until('postgres',
			qq{SELECT count(*) FROM pg_stat_activity
				WHERE backend_type = 'inventory sweeper' AND pid <> $old_sweeper}, '1'),
		"$round: a new sweeper runs");
	my $sweeper_start = sql(q{SELECT backend_start FROM pg_stat_activity
							   WHERE backend_type = 'inventory sweeper'});
	note "$round: right after recovery: " . tally();
	my $overdue = sql(q{SELECT count(*) FROM inventory.reservation
						 WHERE state = 'held' AND expires_at <= clock_timestamp()});
	my $short = sql(q{SELECT count(*) FROM inventory.reservation
					   WHERE state = 'held' AND expires_at - created_at <= interval '4 seconds'});
	note "$round: held holds overdue: $overdue, with a short ttl (overdue soon): $short";
	# the last short hold (1 s, or 3 s for BULK) is overdue soon after the crash
	my $t0 = time;
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) FROM inventory.reservation
			   WHERE state = 'held' AND (expires_at <= clock_timestamp()
										 OR expires_at - created_at <= interval '4 seconds')}, '0'),
		"$round: the sweeper expires every hold that was or fell overdue");
	my $took = time - $t0;
	cmp_ok($took, '<', 5, "$round: within a few seconds");
	note sprintf('%s: overdue holds gone %.1f s after the sweeper was back', $round, $took);
	my $swept = sql(qq{SELECT count(*) FROM inventory.reservation
						WHERE state = 'expired' AND finished_at >= '$sweeper_start'});
	cmp_ok($swept, '>', 0, "$round: holds expired after the crash ($swept)");

	# the relay: drain what the killed relay left, then every event is delivered once
	my $drained = 0;
	for (1 .. 200)
	{
		my $n = sql(q{WITH batch AS (SELECT seq FROM inv_outbox_next('crash-relay', 5000)),
						   d AS (INSERT INTO delivered SELECT seq FROM batch RETURNING seq)
					  SELECT count(*) FROM (SELECT inv_outbox_ack('crash-relay', max(seq))
											  FROM d HAVING max(seq) IS NOT NULL) a});
		last if $n eq '0'
		  && sql(q{SELECT backlog FROM inventory.outbox_consumers WHERE consumer = 'crash-relay'}) eq '0';
		$drained++;
		sleep(0.05);
	}
	is(sql(q{SELECT backlog FROM inventory.outbox_consumers WHERE consumer = 'crash-relay'}), '0',
		"$round: the relay catches up after the crash ($drained batches)");
	check("$round: the relay got every event, once", q{
SELECT 'seq ' || seq || ' never delivered' FROM
  (SELECT seq FROM inventory.outbox EXCEPT SELECT seq FROM delivered) m
UNION ALL
SELECT 'seq ' || seq || ' delivered but not in the outbox' FROM
  (SELECT seq FROM delivered EXCEPT SELECT seq FROM inventory.outbox) x
UNION ALL
SELECT 'seq ' || seq || ' delivered ' || count(*) || ' times' FROM delivered GROUP BY seq HAVING count(*) > 1
});

	# the books, as scripts/stress.sh checks them
	check("$round: inv_verify() returns no row", q{
SELECT sku || ': ' || problem || ' (expected ' || expected || ', actual ' || actual || ')'
  FROM inv_verify()
});
	check("$round: 0 <= reserved <= on_hand for every SKU", q{
SELECT sku || ': on_hand ' || on_hand || ', reserved ' || reserved
  FROM harness.stock
 WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand
});
	check("$round: on_hand = seed + adjustments - committed units", qq{
SELECT s.sku || ': on_hand ' || s.on_hand || ', adjusted (seed included) '
       || coalesce(a.delta, 0) || ' - sold ' || coalesce(c.qty, 0)
  FROM harness.stock s
  LEFT JOIN (SELECT sku, sum(delta) AS delta FROM inventory.adjustment GROUP BY sku) a ON a.sku = s.sku
  LEFT JOIN (SELECT l.sku, sum(l.qty) AS qty
               FROM inventory.reservation_line l
               JOIN inventory.reservation r ON r.id = l.reservation_id AND r.state = 'committed'
              GROUP BY l.sku) c ON c.sku = s.sku
 WHERE s.on_hand <> coalesce(a.delta, 0) - coalesce(c.qty, 0)
UNION ALL
SELECT 'SKUs: ' || count(*) FROM inventory.stock HAVING count(*) <> ${\ scalar(keys %seed)}
});
	check("$round: the stock row's available is what the outbox adds up to", q{
SELECT s.sku || ': available ' || s.available || ', replay '
       || coalesce((h.last_on_hand - h.last_reserved)::text, 'missing')
  FROM inventory.stock s
  LEFT JOIN harness.stock_history() h ON h.sku = s.sku
 WHERE s.available IS DISTINCT FROM h.last_on_hand - h.last_reserved
});
	my $sold_scarce = sold('SCARCE');
	cmp_ok($sold_scarce, '<=', $seed{SCARCE}, "$round: SCARCE not oversold ($sold_scarce of $seed{SCARCE})");
	is(sold('SOLDOUT') . '/' . sql(q{SELECT reserved FROM harness.stock WHERE sku = 'SOLDOUT'}),
		'0/0', "$round: nothing of SOLDOUT sold or held");
	check("$round: the stock replayed from the outbox never goes negative and ends at the row", q{
SELECT coalesce(h.sku, s.sku) || ': lowest on_hand ' || h.min_on_hand || ', lowest reserved '
       || h.min_reserved || ', lowest available ' || h.min_available || ', replay ends at '
       || h.last_on_hand || '/' || h.last_reserved || ', row is ' || s.on_hand || '/' || s.reserved
  FROM harness.stock_history() h
  FULL JOIN harness.stock s ON s.sku = h.sku
 WHERE h.sku IS NULL OR s.sku IS NULL
    OR h.min_on_hand < 0 OR h.min_reserved < 0 OR h.min_available < 0
    OR h.last_on_hand <> s.on_hand OR h.last_reserved <> s.reserved
});
	check("$round: the adjustment ledger matches the stock.adjusted events", q{
SELECT coalesce(a.sku, e.sku) || ': adjustment #' || coalesce(a.n, e.n) || ' '
       || coalesce(a.delta || '->' || a.on_hand, 'missing') || ', event '
       || coalesce(e.delta || '->' || e.on_hand, 'missing')
  FROM (SELECT sku, delta, on_hand, row_number() OVER (PARTITION BY sku ORDER BY id) AS n
          FROM inventory.adjustment) a
  FULL JOIN (SELECT sku, (payload->>'delta')::bigint AS delta, (payload->>'on_hand')::bigint AS on_hand,
                    row_number() OVER (PARTITION BY sku ORDER BY seq) AS n
               FROM harness.stock_replay() WHERE type = 'stock.adjusted') e
    ON e.sku = a.sku AND e.n = a.n
 WHERE a.sku IS NULL OR e.sku IS NULL OR a.delta <> e.delta OR a.on_hand <> e.on_hand
});
	check("$round: every hold has exactly one reservation.held event", q{
SELECT r.id || ': ' || count(o.id) || ' reservation.held events'
  FROM inventory.reservation r
  LEFT JOIN inventory.outbox o ON o.aggregateid = r.id::text AND o.type = 'reservation.held'
 GROUP BY r.id
HAVING count(o.id) <> 1
});
	check("$round: every finished hold has exactly one terminal event, a held one none", q{
SELECT r.id || ' (' || r.state || '): terminal events ' || coalesce(e.types, 'none')
  FROM inventory.reservation r
  LEFT JOIN (SELECT aggregateid, string_agg(type, ',' ORDER BY seq) AS types, count(*) AS n,
                    min(occurred_at) AS at1, max(occurred_at) AS at2
               FROM inventory.outbox
              WHERE type IN ('reservation.committed', 'reservation.released', 'reservation.expired')
              GROUP BY aggregateid) e ON e.aggregateid = r.id::text
 WHERE CASE WHEN r.state = 'held' THEN e.n IS NOT NULL
            ELSE e.n IS DISTINCT FROM 1 OR e.types <> 'reservation.' || r.state
                 OR e.at1 <> r.finished_at OR e.at2 <> r.finished_at END
});
	check("$round: every event belongs to a hold or a SKU, and events by type add up", q{
SELECT o.type || ' event ' || o.seq || ' of unknown ' || o.aggregatetype || ' ' || o.aggregateid
  FROM inventory.outbox o
 WHERE (o.aggregatetype = 'reservation'
        AND NOT EXISTS (SELECT 1 FROM inventory.reservation r WHERE r.id::text = o.aggregateid))
    OR (o.aggregatetype = 'stock'
        AND NOT EXISTS (SELECT 1 FROM inventory.stock s WHERE s.sku = o.aggregateid))
    OR o.aggregatetype NOT IN ('reservation', 'stock')
UNION ALL
SELECT 'events by type do not add up: ' || string_agg(t || ' ' || ev || ' vs ' || holds, ', ')
  FROM (SELECT t,
               (SELECT count(*) FROM inventory.outbox WHERE type = 'reservation.' || t) AS ev,
               (SELECT count(*) FROM inventory.reservation
                 WHERE t = 'held' OR state = t) AS holds
          FROM unnest(ARRAY['held', 'committed', 'released', 'expired']) t) x
 WHERE ev <> holds
HAVING count(*) > 0
});
	check("$round: every hold has lines", q{
SELECT r.id || ' has no line' FROM inventory.reservation r
 WHERE NOT EXISTS (SELECT 1 FROM inventory.reservation_line l WHERE l.reservation_id = r.id)
});

	# and the API works
	is(sql(q{SELECT inv_commit(inv_reserve('HOT', 1), 'after the crash')}), 't',
		"$round: a reserve and a commit work after recovery");
	like(sql(q{SELECT status FROM inv_try_reserve_cart('[{"sku": "SOLDOUT", "qty": 1}]')}),
		qr/^insufficient_stock$/, "$round: SOLDOUT is still refused");
	is(sql('SELECT count(*) FROM inv_verify()'), '0', "$round: inv_verify() clean after the new sale");
}

# --- round 1: kill -9 of a client backend in the middle of a write ---------

my $load = start_load(10);
sleep_until($load->{started} + 3);
my $before = tally();
my $stats = sql(q{SELECT reserves || ' reserves, ' || commits || ' commits, ' || releases || ' releases, '
					  || expirations || ' expirations, ' || refused_insufficient_stock || ' refusals, '
					  || sweeps || ' sweeps' FROM inventory.stats});
my $refusals = sql('SELECT refused_insufficient_stock FROM inventory.stats');
my $sweeper = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'});
# a pgbench backend inside an inventory call that has taken an xid (it is
# writing), if one is caught within a second, else any inside a call
my ($victim, $victim_query);
my $deadline = time + 1;
while (1)
{
	my $row = sql(q{SELECT pid, backend_xid IS NOT NULL,
						   left(regexp_replace(query, '\s+', ' ', 'g'), 100)
					  FROM pg_stat_activity
					 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
					   AND state = 'active' AND query ~ 'inv_(reserve|try_reserve_cart|commit|release|adjust|sweep)'
					 ORDER BY backend_xid IS NULL, random() LIMIT 1});
	my ($pid, $writing, $query) = split /\|/, $row, 3;
	if ($pid && ($writing eq 't' || time > $deadline))
	{
		($victim, $victim_query) = ($pid, ($writing eq 't' ? 'writing: ' : 'reading: ') . $query);
		last;
	}
	die 'no pgbench backend inside an inventory call' if time > $deadline + 5;
}
note "round 1: before the crash: $before";
note "round 1: inventory.stats before the crash: $stats";
note "round 1: the victim, pid $victim: $victim_query";
cmp_ok($refusals, '>', 0, 'round 1: refusals happened before the crash');
crash('round 1', $victim, 'a client backend');
my $aborted = end_load($load);
cmp_ok($aborted, '>', 0, 'round 1: the crash aborted the pgbench clients');
after_recovery('round 1', $sweeper);
cmp_ok(sold('HOT'), '>', 1000, 'round 1: the load sold the hot SKU');
cmp_ok(sold('SCARCE'), '>', 0, 'round 1: and the scarce one');
is(sql(q{SELECT count(*) FILTER (WHERE state = 'released') > 0 AND count(*) FILTER (WHERE state = 'expired') > 0
		   FROM inventory.reservation}), 't', 'round 1: holds were released and expired');

# --- round 2: kill -9 of the sweeper in the middle of a sweep, under load ---

# 5,000 holds of 3 s on BULK, taken in one statement just before the load
# starts (under the load it would take much longer), fall overdue together
# once the load is warm: the sweeper needs several batches (transactions of
# at most inventory.sweep_batch holds) to expire them.
sql(q{SELECT count(inv_reserve('BULK', 1, '3 seconds', NULL, 'crash_hot bulk'))
		FROM generate_series(1, 5000)});
$load = start_load(10);
$sweeper = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'});
# the sweeper inside a sweep transaction, if it is caught within 4 s
$deadline = time + 4;
my $busy = 'f';
while (time < $deadline)
{
	$busy = sql(qq{SELECT count(*) > 0 FROM pg_stat_activity
					WHERE pid = $sweeper AND state = 'active' AND backend_xid IS NOT NULL});
	last if $busy eq 't';
	sleep(0.005);
}
note "round 2: before the crash: " . tally();
note 'round 2: the 5,000 holds before the crash: '
  . sql(q{SELECT string_agg(state || ' ' || n, ', ') FROM
		   (SELECT state, count(*) AS n FROM inventory.reservation WHERE owner = 'crash_hot bulk' GROUP BY 1) s});
note 'round 2: the sweeper, pid ' . $sweeper . ($busy eq 't' ? ', in a sweep' : ', between sweeps');
crash('round 2', $sweeper, 'the sweeper');
$aborted = end_load($load);
cmp_ok($aborted, '>', 0, 'round 2: the crash aborted the pgbench clients');
after_recovery('round 2', $sweeper);
is(sql(q{SELECT string_agg(state || ' ' || n, ', ') FROM
		   (SELECT state, count(*) AS n FROM inventory.reservation WHERE owner = 'crash_hot bulk' GROUP BY 1) s}),
	'expired 5000', 'round 2: the 5,000 holds the sweep was expiring all expired, once');

$node->stop;
done_testing();
