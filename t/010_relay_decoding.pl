# The outbox relay and logical decoding read one outbox, with no set-up
# for either: test_decoding sees every event, in commit order, with all the
# columns Debezium's outbox router reads; a FOR ALL TABLES publication
# (Debezium's default) and its pgoutput slot take the relay's own writes;
# and the relay still delivers an event committed late under a lower seq.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('relay');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = 0
});
$node->start;

sub sql { return $node->safe_psql('postgres', shift); }

sql('CREATE EXTENSION inventory');
# what Debezium's PostgreSQL connector creates by default, and a plain slot
sql('CREATE PUBLICATION dbz_publication FOR ALL TABLES');
sql(q{SELECT pg_create_logical_replication_slot('dbz', 'pgoutput')});
sql(q{SELECT pg_create_logical_replication_slot('td', 'test_decoding')});
is(sql(q{SELECT inv_outbox_subscribe('relay', 0)}), '0', 'a relay subscribes');

# A takes the lower seq; B takes the higher one and commits first.
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe(q{SELECT inv_set_stock('A', 1)});
sql(q{SELECT inv_set_stock('B', 1)});
is(sql(q{SELECT count(*) FROM inv_outbox_next('relay')}), '0',
	'while A is open, the relay hands out nothing, not even B');
$writer->query_safe('COMMIT');
$writer->quit;

ok( $node->poll_query_until(
		'postgres',
		q{SELECT string_agg(aggregateid, ',' ORDER BY seq) FROM inv_outbox_next('relay')},
		'A,B'),
	'once A has committed, the relay hands out A, then B');
my $upto = sql(q{SELECT max(seq) FROM inv_outbox_next('relay')});
is(sql(qq{SELECT inv_outbox_ack('relay', $upto)}), $upto, 'the relay acknowledges both');
is(sql(q{SELECT count(*) FROM inv_outbox_next('relay')}), '0', 'and nothing is left');

# Logical decoding sees the same two events, in commit order: B, then A.
my $td = sql(
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_get_changes('td', NULL, NULL)
	   WHERE data LIKE 'table inventory.outbox: INSERT:%'});
my @inserts = split /\n/, $td;
is(scalar(@inserts), 2, 'test_decoding sees two outbox inserts');
like($inserts[0], qr/aggregateid\[text\]:'B'/, 'B first: it committed first');
like($inserts[1], qr/aggregateid\[text\]:'A'/, 'then A');
like($inserts[0],
	qr/^table inventory\.outbox: INSERT: id\[uuid\]:'[0-9a-f-]+' seq\[bigint\]:\d+ occurred_at\[timestamp with time zone\]:'[^']+' aggregatetype\[text\]:'stock' aggregateid\[text\]:'B' type\[text\]:'stock\.adjusted' payload\[jsonb\]:'\{.*\}'$/,
	'with every column of the outbox router: id, seq, occurred_at, aggregatetype, aggregateid, type, payload');

# The relay's writes (horizon, position, unsubscribe) went through under
# the FOR ALL TABLES publication, and pgoutput decodes the lot.
is(sql(q{SELECT inv_outbox_unsubscribe('relay')}), 't', 'the relay unsubscribes');
cmp_ok(
	sql(q{SELECT count(*) FROM pg_logical_slot_get_binary_changes('dbz', NULL, NULL,
			'proto_version', '1', 'publication_names', 'dbz_publication')}),
	'>', 0, 'pgoutput decodes the publication, relay writes included');
is(sql('SELECT count(*) FROM inv_verify()'), '0', 'inv_verify() is clean');

$node->stop;
done_testing();
