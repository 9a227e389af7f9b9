-- bench/lean.sql: not a contender but a reference, measured in the same
-- rounds as the contenders: the lean checkout of the project's brief
-- (bench/lean/schema.sql), a plpgsql reserve and commit, each its own
-- transaction as in inventory.sql.  It cannot refuse without aborting the
-- client, so it sits the sold-out scenario out.
\set n random(:lo, :hi)
SELECT lean.reserve(:n::text, 1) AS id \gset
SELECT lean.commit(:id);
