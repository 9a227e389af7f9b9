-- bench/floor/schema.sql: the least a durable checkout can write, for
-- scripts/bench_floor.sh.  A hold is one narrow row with a bigint key, its
-- event one narrow row: no uuid, no jsonb, no line table, no stock row, no
-- constraint but the keys.  Nothing checks or counts stock: this is not a
-- contender, it is the ceiling any design with a durable hold and a
-- durable event in the caller's transaction runs under on this machine.
CREATE SCHEMA floor;
CREATE TABLE floor.hold (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sku		text NOT NULL,
	state	text NOT NULL DEFAULT 'held'
);
CREATE TABLE floor.event (
	seq		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hold_id	bigint NOT NULL,
	type	text NOT NULL
);
CREATE FUNCTION floor.reserve(p_sku text) RETURNS bigint
LANGUAGE sql AS $$
	WITH h AS (INSERT INTO floor.hold (sku) VALUES (p_sku) RETURNING id),
		 e AS (INSERT INTO floor.event (hold_id, type) SELECT id, 'held' FROM h)
	SELECT id FROM h
$$;
CREATE FUNCTION floor.commit(p_id bigint) RETURNS void
LANGUAGE sql AS $$
	WITH h AS (UPDATE floor.hold SET state = 'committed'
				WHERE id = p_id AND state = 'held' RETURNING id)
	INSERT INTO floor.event (hold_id, type) SELECT id, 'committed' FROM h
$$;
