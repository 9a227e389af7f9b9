# The tables in a schema chosen at install, in a database that has a
# schema named "inventory" of its own: the sweeper expires holds there
# with nobody connected, and pg_dump / restore makes the same choice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('tables_schema');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'inventory'
inventory.sweep_interval = '1s'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
CREATE SCHEMA inventory;
CREATE TABLE inventory.stock (item text PRIMARY KEY, shelf integer);
INSERT INTO inventory.stock VALUES ('shop-row', 7);
CREATE SCHEMA shop_stock;
CREATE EXTENSION inventory SCHEMA shop_stock;
});

sub sql { return $node->safe_psql($_[0], "SET search_path = shop_stock, public; $_[1]"); }

ok($node->poll_query_until('shop',
		q{SELECT count(*) FROM pg_stat_activity
		   WHERE backend_type = 'inventory sweeper' AND datname = 'shop'}, '1'),
	'a sweeper runs in the database');

sql('shop', q{SELECT inv_set_stock('T-1', 5)});
my $id = sql('shop', q{SELECT inv_reserve('T-1', 2, ttl => '1 s')});
ok($node->poll_query_until('shop',
		qq{SELECT state FROM shop_stock.reservation WHERE id = '$id'}, 'expired'),
	'the sweeper expires a hold in the chosen schema, with nobody connected');
is(sql('shop', q{SELECT available FROM inv_stock('T-1')}), '5', 'its units are back on sale');
is(sql('shop', q{SELECT count(*) FROM shop_stock.outbox WHERE type = 'reservation.expired'}),
	'1', 'with its event');

# a hold in force and a committed one, to carry over; a grant on the
# schema made after the install, and a collation there, which pg_dump
# restores before the extension
$node->safe_psql('shop', q{
CREATE ROLE shop_app;
GRANT USAGE ON SCHEMA shop_stock TO shop_app;
CREATE COLLATION shop_stock.shop_c FROM "C";
});
my $held = sql('shop', q{SELECT inv_reserve('T-1', 1, ttl => '1 h')});
sql('shop', q{SELECT inv_commit(inv_reserve('T-1', 1))});

my $dump = $node->basedir . '/shop.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('shop'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'),
			 '-f', $dump ], 'the dump restores, shop schemas first, then the extension');

is(sql('restored', q{SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'inventory'}),
	'shop_stock', 'restored in the same schema');
is(sql('restored', q{SELECT item || ' ' || shelf FROM inventory.stock}),
	'shop-row 7', 'the shop\'s own table is restored next to it');
is(sql('restored', q{SELECT on_hand || ' ' || reserved || ' ' || available FROM inv_stock('T-1')}),
	'4 1 3', 'stock, holds and sales are restored');
is(sql('restored', q{SELECT count(*) FROM inv_verify()}), '0', 'inv_verify() is clean');
is(sql('restored', q{SELECT has_schema_privilege('shop_app', 'shop_stock', 'USAGE')}),
	't', 'the shop\'s grant on the schema is restored');
is(sql('restored', q{SELECT count(*) FROM pg_collation WHERE collname = 'shop_c'}),
	'1', 'and its collation there');
is(sql('restored', qq{SELECT inv_commit('$held')}), 't', 'a hold in force can be committed');
is(sql('restored', q{SELECT on_hand || ' ' || reserved FROM inv_stock('T-1')}),
	'3 0', 'and is sold');
ok($node->poll_query_until('restored',
		q{SELECT count(*) FROM pg_stat_activity
		   WHERE backend_type = 'inventory sweeper' AND datname = 'restored'}, '1'),
	'a sweeper runs in the restored database');

$node->stop;
done_testing();
