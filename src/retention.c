/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Purging by inventory.retention, so the tables do not grow forever:
 *	  holds finished longer ago than the retention, and outbox events older
 *	  than the retention that every registered consumer has acknowledged
 *	  (with no consumer registered: every event older than the retention).
 *	  An event some consumer has not acknowledged stays, however old.
 *
 * What purging removes would unbalance inv_verify's books, so it leaves
 * two notes: the units sold by purged holds are added to
 * inventory.purged_sales, and the newest purged event's time is kept in
 * inventory.purge_state; inv_verify checks events only of holds and
 * adjustments younger than that.  An idempotency key is forgotten with its
 * hold.
 *
 * Holds are taken with SKIP LOCKED and purged_sales rows are upserted in
 * SKU order, so the sweeper and an inv_purge() from pg_cron can run at the
 * same time.  Events are purged under a SHARE lock on outbox_consumer, in
 * READ COMMITTED: a subscribe takes ROW EXCLUSIVE on it before it reads the
 * horizon, so no consumer starts below what is being deleted.
 * The sweeper purges holds and events in separate transactions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "retention.h"
#include "shmem.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(inv_purge);

int			inv_retention = 7 * 24 * 3600;

static InvPlan purge_holds_plan = {
	"WITH victims AS ("
	"  SELECT r.id, r.state, r.skus, r.qtys FROM inventory.reservation r"
	"   WHERE r.finished_at < $1"
	"   ORDER BY r.finished_at LIMIT $2"
	"   FOR UPDATE SKIP LOCKED),"
	" sold AS ("
	"  INSERT INTO inventory.purged_sales AS p (sku, qty)"
	"  SELECT l.sku, sum(l.qty) FROM victims v, unnest(v.skus, v.qtys) AS l(sku, qty)"
	"   WHERE v.state = 'committed'"
	"   GROUP BY l.sku ORDER BY l.sku COLLATE \"C\""
	"  ON CONFLICT (sku) DO UPDATE SET qty = p.qty + excluded.qty)"
	" DELETE FROM inventory.reservation r USING victims v WHERE r.id = v.id",
	2, {TIMESTAMPTZOID, INT4OID}
};

static InvPlan purge_events_plan = {
	"WITH c AS (SELECT count(*) AS n, min(acked_seq) AS acked"
	"             FROM inventory.outbox_consumer),"
	" gone AS ("
	"  DELETE FROM inventory.outbox o WHERE o.seq IN ("
	"    SELECT e.seq FROM inventory.outbox e, c"
	"     WHERE e.occurred_at < $1 AND (c.n = 0 OR e.seq <= c.acked)"
	"     ORDER BY e.seq LIMIT $2)"
	"  RETURNING o.occurred_at)"
	" SELECT count(*), max(occurred_at) FROM gone",
	2, {TIMESTAMPTZOID, INT4OID}
};

static InvPlan note_purged_events_plan = {
	"INSERT INTO inventory.purge_state AS p (events_before) VALUES ($1)"
	" ON CONFLICT (singleton) DO UPDATE"
	"   SET events_before = greatest(p.events_before, excluded.events_before)",
	1, {TIMESTAMPTZOID}
};

/*
 * Subscribing takes ROW EXCLUSIVE on outbox_consumer: while we purge, no
 * consumer can appear whose position is below what we are deleting.
 */
static InvPlan lock_consumers_plan = {
	"LOCK TABLE inventory.outbox_consumer IN SHARE MODE",
	0, {InvalidOid}
};

int64
retention_purge(RetentionKind kind, int max_rows)
{
	Datum		values[2];
	bool		isnull;
	Datum		newest;
	int64		n;

	if (inv_retention == 0)
		return 0;
	/* a snapshot older than the SHARE lock could miss a new consumer */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("inv_purge requires the READ COMMITTED isolation level"),
				 errdetail("Under REPEATABLE READ or SERIALIZABLE the purge could miss an outbox consumer that subscribed after the transaction's snapshot, and delete events it still needs."),
				 errhint("Call it in a READ COMMITTED transaction (the default).")));

	inv_spi_connect();
	values[0] = TimestampTzGetDatum(GetCurrentTimestamp() -
									(int64) inv_retention * USECS_PER_SEC);
	values[1] = Int32GetDatum(max_rows);
	if (kind == RETENTION_HOLDS)
	{
		n = (int64) inv_plan_exec(&purge_holds_plan, values, NULL, 0);
		stats_count(INV_PURGED_HOLDS, n);
	}
	else
	{
		inv_plan_exec(&lock_consumers_plan, NULL, NULL, 0);
		inv_plan_exec(&purge_events_plan, values, NULL, 0);
		n = inv_result_int8(0, 1);
		newest = inv_result(0, 2, &isnull);
		if (n > 0)
			inv_plan_exec(&note_purged_events_plan, &newest, NULL, 0);
		stats_count(INV_PURGED_EVENTS, n);
	}
	SPI_finish();
	return n;
}

/*
 * inv_purge(max_rows int) RETURNS bigint
 *
 * One batch of retention, for those who schedule it themselves (pg_cron);
 * the sweeper does the same once a minute.
 */
Datum
inv_purge(PG_FUNCTION_ARGS)
{
	int32		max_rows;

	inv_require_writable(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_rows must not be null")));
	max_rows = PG_GETARG_INT32(0);
	if (max_rows <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be positive"),
				 errdetail("max_rows is %d.", max_rows)));
	PG_RETURN_INT64(retention_purge(RETENTION_HOLDS, max_rows) +
					retention_purge(RETENTION_EVENTS, max_rows));
}
