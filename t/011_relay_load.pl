# The outbox relay under load: 16 writers whose transactions each write
# two events with a random pause between them, so that seqs commit out of
# order all the time, while a relay loops on inv_outbox_next /
# inv_outbox_ack.  Every committed event must be delivered, once, in seq
# order.  A naive relay ("everything after the last seq I saw") runs
# alongside on the same outbox; what it lost is printed, to show the load
# produces the interleavings the safe horizon is there for.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('relay_load');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = 0
max_connections = 50
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift); }

sql(q{
CREATE EXTENSION inventory;
CREATE TABLE delivered (n bigserial PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE naive_delivered (n bigserial PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE stop (flag boolean);
SELECT inv_outbox_subscribe('load', 0);

-- one turn per transaction: next, "publish", ack
CREATE PROCEDURE relay_loop() LANGUAGE plpgsql AS $$
DECLARE
	upto bigint;
BEGIN
	LOOP
		WITH e AS (SELECT seq FROM inv_outbox_next('load', 500)),
			 i AS (INSERT INTO delivered (seq) SELECT seq FROM e ORDER BY seq RETURNING seq)
		SELECT max(seq) INTO upto FROM i;
		IF upto IS NOT NULL THEN
			PERFORM inv_outbox_ack('load', upto);
		END IF;
		COMMIT;
		EXIT WHEN upto IS NULL AND EXISTS (SELECT FROM stop);
		IF upto IS NULL THEN
			PERFORM pg_sleep(0.005);
		END IF;
	END LOOP;
END $$;

CREATE PROCEDURE naive_loop() LANGUAGE plpgsql AS $$
DECLARE
	pos bigint := 0;
	upto bigint;
BEGIN
	LOOP
		WITH e AS (SELECT seq FROM inventory.outbox WHERE seq > pos ORDER BY seq LIMIT 500),
			 i AS (INSERT INTO naive_delivered (seq) SELECT seq FROM e ORDER BY seq RETURNING seq)
		SELECT max(seq) INTO upto FROM i;
		pos := coalesce(upto, pos);
		COMMIT;
		EXIT WHEN upto IS NULL AND EXISTS (SELECT FROM stop);
		IF upto IS NULL THEN
			PERFORM pg_sleep(0.005);
		END IF;
	END LOOP;
END $$;
});

my @loops;
for my $proc ('relay_loop', 'naive_loop')
{
	my ($out, $err) = ('', '');
	push @loops,
	  [ $proc,
		IPC::Run::start(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
			  '-c', "CALL $proc()" ],
			'>', \$out, '2>', \$err),
		\$err ];
}

$node->pgbench(
	'-n -c 16 -j 4 -T 8',
	0, [qr/number of failed transactions: 0/], [qr/^$/],
	'16 writers, two events per transaction, a random pause between them',
	{
		'writer' => q{
\set sku random(1, 200)
\set ms random(0, 20)
BEGIN;
SELECT inv_set_stock('S' || :sku, :sku);
SELECT pg_sleep(:ms / 1000.0);
SELECT inv_set_stock('T' || :sku, :sku);
COMMIT;
}
	});

sql('INSERT INTO stop VALUES (true)');
for my $loop (@loops)
{
	my ($proc, $h, $err) = @$loop;
	ok($h->finish, "$proc ended cleanly") or diag($$err);
}

my $events = sql('SELECT count(*) FROM inventory.outbox');
cmp_ok($events, '>', 1000, "the writers wrote events ($events)");
is(sql(q{SELECT count(*) FROM inventory.outbox o
		  WHERE NOT EXISTS (SELECT FROM delivered d WHERE d.seq = o.seq)}),
	'0', 'the relay lost no event');
is(sql('SELECT count(*) - count(DISTINCT seq) FROM delivered'), '0',
	'and delivered none twice');
is(sql(q{SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY n) AS prev FROM delivered) x
		  WHERE seq <= prev}),
	'0', 'in seq order');
is(sql(q{SELECT acked_seq = (SELECT max(seq) FROM inventory.outbox)
		   FROM inventory.outbox_consumer WHERE consumer = 'load'}),
	't', 'and acknowledged up to the last event');
diag('the naive relay lost '
	  . sql(q{SELECT count(*) FROM inventory.outbox o
			   WHERE NOT EXISTS (SELECT FROM naive_delivered d WHERE d.seq = o.seq)})
	  . " of $events events");
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');

$node->stop;
done_testing();
