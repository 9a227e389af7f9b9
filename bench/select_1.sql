-- bench/select_1.sql: the floor of a round trip, for the sold-out table:
-- a refusal cannot be cheaper than this.
SELECT 1;
