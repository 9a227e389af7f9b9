-- bench/hold_event.sql: not a contender but a reference, measured in the
-- same rounds as the contenders.  A checkout that writes a hold and its
-- event, then marks the hold sold and writes a second event
-- (bench/floor/schema.sql): no stock row, no check, no expiry index, a
-- bigint key and a narrow event.  Any design that keeps a durable hold and
-- a durable event per change (the extension's, whatever its tables) writes
-- at least this much WAL; its rate is what such a design reaches through
-- SQL functions, not a bound on one that spends less CPU per call.  The
-- SKU drawn is only passed along.
\set n random(:lo, :hi)
SELECT floor.reserve(:n::text) AS id \gset
SELECT floor.commit(:id);
