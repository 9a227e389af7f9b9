# Two-phase commit: PREPARE TRANSACTION works with the sweeper off and on
# (a writer queues its NOTIFY only as it commits, and a prepared transaction
# gets none); a prepared transaction keeps its stock rows locked, survives a
# restart, and COMMIT PREPARED / ROLLBACK PREPARED leave the books right.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PostgreSQL::Test::Cluster->new('prepared');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = 0
max_prepared_transactions = 10
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift); }

# BEGIN; $sql; PREPARE TRANSACTION '$gid' in a session of its own: psql's
# exit code, its output, and its errors (with their SQLSTATE).
sub prepare
{
	my ($gid, $sql) = @_;
	return $node->psql('postgres',
		"\\set VERBOSITY verbose\nBEGIN;\n$sql;\nPREPARE TRANSACTION '$gid';");
}

sub prepared
{
	my ($gid) = @_;
	return sql("SELECT count(*) FROM pg_prepared_xacts WHERE gid = '$gid'");
}

# The output of a session that LISTENs on inventory_outbox while $during runs.
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

# A statement's SQLSTATE, or 00000: lock timeouts become a value.
sql(q{CREATE EXTENSION inventory;
	  CREATE FUNCTION sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
	  BEGIN
		EXECUTE q;
		RETURN '00000';
	  EXCEPTION WHEN OTHERS THEN
		RETURN SQLSTATE;
	  END $$;});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory launcher'}, '1'),
	'the launcher runs');
is(sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}) .
	'/' . sql(q{SELECT sweeper_pid IS NULL FROM inventory.stats}), '0/t',
	'with sweep_interval = 0 no sweeper runs');

sql(q{SELECT inv_set_stock('a', 10), inv_set_stock('b', 5), inv_set_stock('c', 4),
			 inv_set_stock('d', 4), inv_set_stock('z', 1);
	  SELECT inv_reserve('z', 1, '1 hour');
	  SELECT inv_outbox_subscribe('relay', 0);});

# ----------------------------------------------------------------
# Sweeper off: the writer sends its own NOTIFY, at its commit only.
# ----------------------------------------------------------------
my $writer;
my $heard = listen_while(sub {
	$writer = sql(q{SELECT pg_backend_pid() FROM inv_set_stock('loud', 1)});
});
like($heard,
	qr/Asynchronous notification "inventory_outbox" received from server process with PID $writer\./,
	'sweeper off: a commit that wrote events is followed by the writer\'s NOTIFY');
$heard = listen_while(sub {
	$writer = sql(q{BEGIN;
		SAVEPOINT s1; SAVEPOINT s2; SELECT inv_set_stock('quiet', 1); RELEASE s2;
		ROLLBACK TO s1;
		SELECT pg_backend_pid();
		COMMIT;});
});
unlike($heard, qr/Asynchronous notification/,
	'events of a rolled back savepoint (written in a released one inside it) send no NOTIFY');
$heard = listen_while(sub {
	$writer = sql(q{BEGIN;
		SAVEPOINT s1; SELECT inv_set_stock('saved', 1) \g /dev/null
		RELEASE s1;
		SAVEPOINT s2; ROLLBACK TO s2;
		SELECT pg_backend_pid();
		COMMIT;});
});
like($heard,
	qr/Asynchronous notification "inventory_outbox" received from server process with PID $writer\./,
	'events of a released savepoint are notified, whatever a later savepoint does');
is(sql(q{SELECT string_agg(sku, ',' ORDER BY sku) FROM inventory.stock WHERE sku IN ('quiet', 'saved')}),
	'saved', 'and only the released savepoint\'s write is there');

# ----------------------------------------------------------------
# Sweeper off: PREPARE TRANSACTION of a write.
# ----------------------------------------------------------------
my ($ret, $out, $err) = prepare('p_stock', q{SELECT inv_set_stock('s', 7)});
is($ret, 0, 'sweeper off: PREPARE TRANSACTION after inv_set_stock succeeds')
	or diag($err);
is(prepared('p_stock'), '1', 'it is in pg_prepared_xacts');
is(sql(q{SELECT count(*) FROM inventory.stock WHERE sku = 's'}), '0',
	'its SKU is not visible to others');
$heard = listen_while(sub { sql(q{COMMIT PREPARED 'p_stock'}) });
unlike($heard, qr/Asynchronous notification/, 'COMMIT PREPARED sends no NOTIFY');
is(sql(q{SELECT on_hand || '/' || (SELECT count(*) FROM inventory.outbox
									 WHERE aggregateid = 's' AND type = 'stock.adjusted')
		   FROM inventory.stock_levels WHERE sku = 's'}), '7/1',
	'after COMMIT PREPARED the SKU is there, with its stock.adjusted event');

($ret, $out, $err) = prepare('p_hold',
	q{SELECT inv_reserve('a', 3, '1 hour', 'key-p-hold', 'alice')});
is($ret, 0, 'sweeper off: PREPARE TRANSACTION after inv_reserve succeeds')
	or diag($err);
my $hold = $out;
like($hold, qr/^[0-9a-f-]{36}$/, 'the prepared reserve returned its hold\'s id');

# While prepared: invisible, and its stock row stays locked.
sub while_prepared
{
	my ($when) = @_;
	is(sql(qq{SELECT count(*) FROM inventory.reservation WHERE id = '$hold'}) . '/' .
		sql(qq{SELECT count(*) FROM inventory.outbox WHERE aggregateid = '$hold'}) . '/' .
		sql(q{SELECT reserved || '/' || available FROM inv_stock('a')}),
		'0/0/0/10', "$when: the hold, its event and its units are not visible to others");
	is(sql(q{SET lock_timeout = '200ms';
			 SELECT sqlstate_of($$SELECT inv_reserve('a', 1)$$)}), '55P03',
		"$when: a reserve of the same SKU waits for the prepared transaction's row lock (55P03)");
}
while_prepared('prepared');
is(sql(q{SET lock_timeout = '200ms';
		 SELECT status FROM inv_try_reserve_cart('[{"sku": "z", "qty": 1}]')}),
	'insufficient_stock', 'a sold-out refusal of another SKU does not wait');
is(sql(q{SET lock_timeout = '200ms';
		 SELECT status FROM inv_try_reserve_cart('[{"sku": "a", "qty": 1}, {"sku": "z", "qty": 1}]')}),
	'insufficient_stock',
	'nor does the refusal of a cart with a sold-out line and a line of the locked SKU');

# a relay does not hand out what commits after the prepared transaction
sql(q{SELECT inv_set_stock('late', 1)});
is(sql(q{SELECT count(*) FROM inv_outbox_next('relay', 1000) WHERE aggregateid = 'late'}), '0',
	'a relay holds back events committed after a prepared transaction');

$node->stop;
$node->start;
is(prepared('p_hold'), '1', 'the prepared transaction survives a restart');
while_prepared('after the restart');

sql(q{COMMIT PREPARED 'p_hold'});
is(sql(qq{SELECT state || '/' || owner FROM inventory.reservation WHERE id = '$hold'}),
	'held/alice', 'after COMMIT PREPARED the hold is held');
is(sql(qq{SELECT count(*) FROM inventory.outbox
		   WHERE aggregateid = '$hold' AND type = 'reservation.held'}), '1',
	'with its reservation.held event');
is(sql(q{SELECT on_hand || '/' || (reserved + overdue) FROM inventory.stock_levels WHERE sku = 'a'}), '10/3',
	'stock.reserved counts it');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');
is(sql(qq{SELECT string_agg(type, ',' ORDER BY seq) FROM inv_outbox_next('relay', 1000)
		   WHERE aggregateid IN ('$hold', 'late')}), 'reservation.held,stock.adjusted',
	'the relay\'s poll hands out the hold\'s event, then the one committed after it');
is(sql(qq{SELECT inv_commit('$hold')}), 't', 'inv_commit of that hold works');
is(sql(q{SELECT on_hand || '/' || (reserved + overdue) FROM inventory.stock_levels WHERE sku = 'a'}), '7/0',
	'and sells its units');

# ROLLBACK PREPARED: nothing of it remains.
($ret, $out, $err) = prepare('p_gone', q{SELECT inv_reserve('b', 2, '1 hour', 'key-p-gone')});
is($ret, 0, 'PREPARE TRANSACTION of another reserve succeeds') or diag($err);
my $gone = $out;
sql(q{ROLLBACK PREPARED 'p_gone'});
is(prepared('p_gone'), '0', 'ROLLBACK PREPARED ends it');
is(sql(qq{SELECT count(*) FROM inventory.reservation WHERE id = '$gone'}) . '/' .
	sql(qq{SELECT count(*) FROM inventory.reservation_line WHERE reservation_id = '$gone'}) . '/' .
	sql(qq{SELECT count(*) FROM inventory.outbox WHERE aggregateid = '$gone'}),
	'0/0/0', 'no hold, no line, no event of it remains');
is(sql(q{SELECT on_hand || '/' || (reserved + overdue) FROM inventory.stock_levels WHERE sku = 'b'}), '5/0',
	'its units are not reserved');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');
isnt(sql(q{SELECT inv_reserve('b', 1, '1 hour', 'key-p-gone')}), $gone,
	'its idempotency key is free: the same key makes a new hold');

# inv_commit and inv_release in prepared transactions.
my $to_sell = sql(q{SELECT inv_reserve('c', 2, '1 hour')});
my $to_free = sql(q{SELECT inv_reserve('d', 1, '1 hour')});
($ret, $out, $err) = prepare('p_commit', qq{SELECT inv_commit('$to_sell', 'order-1')});
is("$ret/$out", '0/t', 'PREPARE TRANSACTION after inv_commit succeeds') or diag($err);
($ret, $out, $err) = prepare('p_release', qq{SELECT inv_release('$to_free', 'changed mind')});
is("$ret/$out", '0/t', 'PREPARE TRANSACTION after inv_release succeeds') or diag($err);
is(sql(qq{SELECT string_agg(state::text, ',' ORDER BY state)
		   FROM inventory.reservation WHERE id IN ('$to_sell', '$to_free')}), 'held,held',
	'while prepared, others still see both holds held');
is(sql(qq{SET lock_timeout = '200ms';
		  SELECT sqlstate_of(\$\$SELECT inv_release('$to_sell')\$\$)}), '55P03',
	'a release of the hold being committed waits for the prepared transaction');
is(sql(q{SET lock_timeout = '200ms'; BEGIN;
		  SELECT sqlstate_of($$SELECT inv_reserve('c', 1, '1 hour')$$); ROLLBACK;}), '00000',
	'a reserve of the SKU being sold does not wait: a commit locks no stock row');
is(sql(q{SET lock_timeout = '200ms';
		  SELECT sqlstate_of($$SELECT inv_adjust('c', 1, 'count')$$)}), '55P03',
	'a change of the count of that SKU waits for the prepared sale (its sales lock)');
sql(q{COMMIT PREPARED 'p_commit'; COMMIT PREPARED 'p_release';});
is(sql(qq{SELECT string_agg(state || ':' || coalesce(reference, '') || ':' || coalesce(reason, ''),
						   ',' ORDER BY state)
		   FROM inventory.reservation WHERE id IN ('$to_sell', '$to_free')}),
	'committed:order-1:,released::changed mind',
	'after COMMIT PREPARED one is committed, the other released');
is(sql(q{SELECT string_agg(sku || '=' || on_hand || '/' || (reserved + overdue), ' ' ORDER BY sku)
		   FROM inventory.stock_levels WHERE sku IN ('c', 'd')}), 'c=2/0 d=4/0',
	'the sold units are gone, the released ones back on sale');
is(sql(qq{SELECT string_agg(type, ',' ORDER BY type) FROM inventory.outbox
		   WHERE aggregateid IN ('$to_sell', '$to_free')}),
	'reservation.committed,reservation.held,reservation.held,reservation.released',
	'with their reservation.committed and reservation.released events');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');

# ----------------------------------------------------------------
# With a sweeper.
# ----------------------------------------------------------------
sql(q{ALTER SYSTEM SET inventory.sweep_interval = '100ms'; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory sweeper'}, '1'),
	'after a reload to 100ms a sweeper runs');

# Two holds of 2 s that the sweeper will find overdue; a prepared reserve
# then locks the stock row of one of them.
sql(q{SELECT inv_set_stock('e', 10), inv_set_stock('g', 10)});
my ($blocked, $free) = split /\n/, sql(q{SELECT inv_reserve('e', 1, '2 seconds');
										SELECT inv_reserve('g', 1, '2 seconds');});
($ret, $out, $err) = prepare('p_swept',
	q{SELECT inv_set_stock('f', 3) \g /dev/null
	  SELECT inv_reserve('e', 2, '1 second')});
is($ret, 0, 'sweeper on: PREPARE TRANSACTION after inv_set_stock and inv_reserve succeeds')
	or diag($err);
my $swept = $out;
ok($node->poll_query_until('postgres',
		qq{SELECT state FROM inventory.reservation WHERE id = '$free'}, 'expired'),
	'the sweeper expires an overdue hold of another SKU');
my $sweeps = sql('SELECT sweeps FROM inventory.stats');
ok($node->poll_query_until('postgres', "SELECT sweeps >= $sweeps + 3 FROM inventory.stats"),
	'and keeps sweeping: it does not wait for the prepared transaction\'s row lock');
is(sql(qq{SELECT state FROM inventory.reservation WHERE id = '$blocked'}), 'held',
	'the overdue hold whose stock row the prepared transaction locks is skipped meanwhile');
sql(q{COMMIT PREPARED 'p_swept'});
ok($node->poll_query_until('postgres',
		qq{SELECT string_agg(state::text, ',') FROM inventory.reservation
			WHERE id IN ('$swept', '$blocked')}, 'expired,expired'),
	'after COMMIT PREPARED the sweeper expires the prepared hold (ttl 1 s) and the skipped one');
is(sql(qq{SELECT count(*) FROM inventory.outbox
		   WHERE aggregateid IN ('$swept', '$blocked') AND type = 'reservation.expired'}), '2',
	'each with its reservation.expired event');
is(sql(q{SELECT string_agg(sku || '=' || on_hand || '/' || (reserved + overdue), ' ' ORDER BY sku)
		   FROM inventory.stock_levels WHERE sku IN ('e', 'f', 'g')}), 'e=10/0 f=3/0 g=10/0',
	'their units are back on sale');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');

$node->stop;
done_testing();
