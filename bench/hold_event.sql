-- bench/hold_event.sql: not a contender but a floor, measured in the same
-- rounds as the contenders.  A checkout that writes a hold and its event,
-- then marks the hold sold and writes a second event (bench/floor/schema.sql):
-- no stock row, no check, no expiry index, a bigint key and a narrow event.
-- Any design that keeps a durable hold and a durable event per change (the
-- extension's, whatever its tables) writes at least this much, so its rate
-- is an upper bound of what such a design can reach on this machine; the
-- SKU drawn is only passed along.
\set n random(:lo, :hi)
SELECT floor.reserve(:n::text) AS id \gset
SELECT floor.commit(:id);
