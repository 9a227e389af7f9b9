-- bench/lean/schema.sql: the lean checkout of the project's brief, for
-- make bench and make budget: a reference, not a contender.  A stock row
-- keeps `available`, and a reserve takes its units with one guarded
-- UPDATE; the hold is a narrow row with a bigint key and an index of the
-- held holds by expiry (what a sweeper needs); every step writes a small
-- event (a bigint and a type, no payload); the commit flips the hold and
-- never touches the stock row.  Written in plpgsql, as the brief had it:
-- two round trips per checkout, each one function call.  It keeps no
-- idempotency key, no owner, no lines, no fencing and no consumer-ready
-- event: what it leaves out is what the extension adds.
CREATE SCHEMA lean;
CREATE TABLE lean.stock (
	sku			text PRIMARY KEY,
	available	bigint NOT NULL CHECK (available >= 0)
);
CREATE TABLE lean.hold (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sku			text NOT NULL,
	qty			integer NOT NULL,
	state		text NOT NULL DEFAULT 'held',
	expires_at	timestamptz NOT NULL
);
CREATE INDEX ON lean.hold (expires_at) WHERE state = 'held';
CREATE TABLE lean.event (
	seq			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hold_id		bigint NOT NULL,
	type		text NOT NULL
);

CREATE FUNCTION lean.reserve(p_sku text, p_qty integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_id	bigint;
BEGIN
	UPDATE lean.stock SET available = available - p_qty
	 WHERE sku = p_sku AND available >= p_qty;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'insufficient stock for SKU "%"', p_sku USING ERRCODE = 'IV001';
	END IF;
	INSERT INTO lean.hold (sku, qty, expires_at)
	VALUES (p_sku, p_qty, now() + interval '5 minutes') RETURNING id INTO v_id;
	INSERT INTO lean.event (hold_id, type) VALUES (v_id, 'held');
	RETURN v_id;
END
$$;

CREATE FUNCTION lean.commit(p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE lean.hold SET state = 'committed' WHERE id = p_id AND state = 'held';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no hold % in force', p_id USING ERRCODE = 'IV004';
	END IF;
	INSERT INTO lean.event (hold_id, type) VALUES (p_id, 'committed');
END
$$;
