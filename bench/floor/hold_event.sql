-- bench/floor/hold_event.sql: a checkout that writes only a hold and its
-- event, then marks the hold sold and writes a second event (schema.sql).
SELECT floor.reserve('0') AS id \gset
SELECT floor.commit(:id);
