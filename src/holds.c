/*-------------------------------------------------------------------------
 *
 * holds.c
 *	  Everything that happens to a hold after it is taken: inv_commit,
 *	  inv_release, inv_extend, expiry by inv_sweep and reclaim on demand.
 *
 * Locking protocol (the same in every module, so that nothing deadlocks):
 *	  - stock rows are locked in SKU byte order (COLLATE "C"), all the rows a
 *		call needs before any is changed;
 *	  - a call that waits for a reservation row holds no stock row yet
 *		(commit, release, extend lock the hold first);
 *	  - a call that holds stock rows never waits for a reservation row or
 *		for another stock row out of order: reserve's reclaim takes both
 *		with SKIP LOCKED and leaves what it cannot have to the sweep.
 *	  The sweep locks overdue holds with SKIP LOCKED, then their stock rows
 *	  in order, so several sweepers never block each other.
 *
 * Fencing: a hold past expires_at is expired whether or not a sweep has
 * run.  It cannot be committed or extended, and no longer counts against
 * available stock.  Each call reads the clock once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "holds.h"
#include "inventory.h"
#include "outbox.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(inv_commit);
PG_FUNCTION_INFO_V1(inv_release);
PG_FUNCTION_INFO_V1(inv_extend);
PG_FUNCTION_INFO_V1(inv_sweep);

static InvPlan lock_stock_of_holds_plan = {
	"SELECT s.sku FROM inventory.stock s"
	" WHERE s.sku IN (SELECT l.sku FROM inventory.reservation_line l"
	"                  WHERE l.reservation_id = ANY ($1))"
	" ORDER BY s.sku COLLATE \"C\""
	" FOR NO KEY UPDATE OF s",
	1, {UUIDARRAYOID}
};

/* $2: true when the units are sold (commit), false when they go back */
static InvPlan apply_holds_plan = {
	"UPDATE inventory.stock s"
	"   SET on_hand = s.on_hand - CASE WHEN $2 THEN x.qty ELSE 0 END,"
	"       reserved = s.reserved - x.qty,"
	"       version = s.version + 1,"
	"       updated_at = $3"
	"  FROM (SELECT l.sku, sum(l.qty)::bigint AS qty"
	"          FROM inventory.reservation_line l"
	"         WHERE l.reservation_id = ANY ($1)"
	"         GROUP BY l.sku) x"
	" WHERE s.sku = x.sku",
	3, {UUIDARRAYOID, BOOLOID, TIMESTAMPTZOID}
};

static InvPlan finish_holds_plan = {
	"UPDATE inventory.reservation"
	"   SET state = $2, finished_at = $3,"
	"       reference = coalesce($4, reference),"
	"       reason = coalesce($5, reason)"
	" WHERE id = ANY ($1) AND state = 'held'",
	5, {UUIDARRAYOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID}
};

static InvPlan lock_hold_plan = {
	"SELECT state, expires_at <= $2 AS overdue, expires_at"
	"  FROM inventory.reservation"
	" WHERE id = $1"
	" FOR NO KEY UPDATE",
	2, {UUIDOID, TIMESTAMPTZOID}
};

static InvPlan extend_hold_plan = {
	"UPDATE inventory.reservation SET expires_at = $2 WHERE id = $1",
	2, {UUIDOID, TIMESTAMPTZOID}
};

static InvPlan overdue_qty_plan = {
	"SELECT coalesce(sum(l.qty), 0)::bigint"
	"  FROM inventory.reservation r"
	"  JOIN inventory.reservation_line l ON l.reservation_id = r.id"
	" WHERE r.state = 'held' AND r.expires_at <= $2 AND l.sku = $1",
	2, {TEXTOID, TIMESTAMPTZOID}
};

static InvPlan overdue_for_skus_plan = {
	"SELECT r.id FROM inventory.reservation r"
	" WHERE r.state = 'held' AND r.expires_at <= $2"
	"   AND EXISTS (SELECT 1 FROM inventory.reservation_line l"
	"                WHERE l.reservation_id = r.id AND l.sku = ANY ($1))"
	" FOR NO KEY UPDATE OF r SKIP LOCKED",
	2, {TEXTARRAYOID, TIMESTAMPTZOID}
};

/* SKUs of holds $1 whose stock rows the caller does not hold ($2) */
static InvPlan foreign_skus_plan = {
	"SELECT DISTINCT l.sku FROM inventory.reservation_line l"
	" WHERE l.reservation_id = ANY ($1) AND l.sku <> ALL ($2)",
	2, {UUIDARRAYOID, TEXTARRAYOID}
};

static InvPlan try_lock_stock_plan = {
	"SELECT s.sku FROM inventory.stock s"
	" WHERE s.sku = ANY ($1)"
	" ORDER BY s.sku COLLATE \"C\""
	" FOR NO KEY UPDATE SKIP LOCKED",
	1, {TEXTARRAYOID}
};

/* holds of $1 all of whose SKUs are in $2 or $3 */
static InvPlan holds_within_plan = {
	"SELECT h.id FROM unnest($1::uuid[]) AS h(id)"
	" WHERE NOT EXISTS (SELECT 1 FROM inventory.reservation_line l"
	"                    WHERE l.reservation_id = h.id"
	"                      AND l.sku <> ALL ($2) AND l.sku <> ALL ($3))",
	3, {UUIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID}
};

static InvPlan overdue_batch_plan = {
	"SELECT id FROM inventory.reservation"
	" WHERE state = 'held' AND expires_at <= $1"
	" ORDER BY expires_at"
	" LIMIT $2"
	" FOR NO KEY UPDATE SKIP LOCKED",
	2, {TIMESTAMPTZOID, INT4OID}
};

static const char *const hold_end_state[] = {
	[HOLD_COMMITTED] = "committed",
	[HOLD_RELEASED] = "released",
	[HOLD_EXPIRED] = "expired",
};

static const char *const hold_end_event[] = {
	[HOLD_COMMITTED] = "reservation.committed",
	[HOLD_RELEASED] = "reservation.released",
	[HOLD_EXPIRED] = "reservation.expired",
};

void
holds_finish(Datum ids, int nids, HoldEnd end, TimestampTz now,
			 text *reference, text *reason)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	uint64		n;

	if (nids == 0)
		return;

	values[0] = ids;
	inv_plan_exec(&lock_stock_of_holds_plan, values, NULL, 0);

	values[1] = BoolGetDatum(end == HOLD_COMMITTED);
	values[2] = TimestampTzGetDatum(now);
	inv_plan_exec(&apply_holds_plan, values, NULL, 0);

	values[1] = CStringGetTextDatum(hold_end_state[end]);
	values[2] = TimestampTzGetDatum(now);
	values[3] = PointerGetDatum(reference);
	values[4] = PointerGetDatum(reason);
	if (reference == NULL)
		nulls[3] = 'n';
	if (reason == NULL)
		nulls[4] = 'n';
	n = inv_plan_exec(&finish_holds_plan, values, nulls, 0);
	if (n != (uint64) nids)
		elog(ERROR, "inventory: finished " UINT64_FORMAT " of %d holds", n, nids);

	outbox_reservation_events(ids, hold_end_event[end], now);
}

int64
holds_overdue_qty(const char *sku, TimestampTz now)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(sku);
	values[1] = TimestampTzGetDatum(now);
	inv_plan_exec(&overdue_qty_plan, values, NULL, 0);
	return inv_result_int8(0, 1);
}

int
holds_reclaim(Datum skus, Datum locked, TimestampTz now)
{
	Datum		values[3];
	Datum		ids;
	int			nids;
	int			nforeign;

	values[0] = skus;
	values[1] = TimestampTzGetDatum(now);
	inv_plan_exec(&overdue_for_skus_plan, values, NULL, 0);
	ids = inv_result_array(1, UUIDOID, &nids);
	if (nids == 0)
		return 0;

	/*
	 * A hold may have lines of SKUs whose rows we do not hold (a cart).
	 * Waiting for those rows could deadlock, so take the free ones only and
	 * leave the holds that need a busy row to the sweep.
	 */
	values[0] = ids;
	values[1] = locked;
	inv_plan_exec(&foreign_skus_plan, values, NULL, 0);
	if (SPI_processed > 0)
	{
		Datum		foreign = inv_result_array(1, TEXTOID, &nforeign);
		Datum		got;
		int			ngot;

		values[0] = foreign;
		inv_plan_exec(&try_lock_stock_plan, values, NULL, 0);
		got = inv_result_array(1, TEXTOID, &ngot);

		values[0] = ids;
		values[1] = locked;
		values[2] = got;
		inv_plan_exec(&holds_within_plan, values, NULL, 0);
		ids = inv_result_array(1, UUIDOID, &nids);
	}

	holds_finish(ids, nids, HOLD_EXPIRED, now, NULL, NULL);
	return nids;
}

/* A one-element uuid[] */
static Datum
uuid_array1(pg_uuid_t *id)
{
	Datum		elem = UUIDPGetDatum(id);

	return PointerGetDatum(construct_array(&elem, 1, UUIDOID, UUID_LEN,
										   false, TYPALIGN_CHAR));
}

/*
 * Lock one hold.  Returns its state; *overdue tells whether it is past its
 * expiry at "now".  Raises IV003 when there is no such hold.
 */
static char *
lock_hold(pg_uuid_t *id, TimestampTz now, bool *overdue)
{
	Datum		values[2];
	bool		isnull;

	values[0] = UUIDPGetDatum(id);
	values[1] = TimestampTzGetDatum(now);
	if (inv_plan_exec(&lock_hold_plan, values, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INV_RESERVATION_NOT_FOUND),
				 errmsg("reservation %s not found", inv_uuid_str(id))));
	*overdue = DatumGetBool(inv_result(0, 2, &isnull));
	return TextDatumGetCString(inv_result(0, 1, &isnull));
}

static void
raise_expired(pg_uuid_t *id, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_INV_RESERVATION_EXPIRED),
			 errmsg("reservation %s has expired", inv_uuid_str(id)),
			 errdetail("A hold past its expiry cannot be %s; its units are back on sale.",
					   action),
			 errhint("Reserve again.")));
}

static void
raise_not_held(pg_uuid_t *id, const char *state, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_INV_RESERVATION_NOT_HELD),
			 errmsg("reservation %s is not held", inv_uuid_str(id)),
			 errdetail("It is %s, so it cannot be %s.", state, action)));
}

/*
 * inv_commit(reservation_id uuid, reference text) RETURNS boolean
 *
 * The payment went through: the units of the hold are sold.  false when
 * the hold was committed already (a retried call changes nothing).
 */
Datum
inv_commit(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = inv_arg_uuid(fcinfo, 0, "reservation_id");
	text	   *reference = inv_arg_text_or_null(fcinfo, 1);
	TimestampTz now = GetCurrentTimestamp();
	bool		overdue;
	char	   *state;
	bool		done = false;

	SPI_connect();
	state = lock_hold(id, now, &overdue);
	if (strcmp(state, "committed") == 0)
		done = false;
	else if (strcmp(state, "released") == 0)
		raise_not_held(id, state, "committed");
	else if (strcmp(state, "expired") == 0 || overdue)
		raise_expired(id, "committed");
	else
	{
		holds_finish(uuid_array1(id), 1, HOLD_COMMITTED, now, reference, NULL);
		done = true;
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/*
 * inv_release(reservation_id uuid, reason text) RETURNS boolean
 *
 * The payment failed or the buyer left: the units go back on sale.  false
 * when the hold was released or expired already; a hold past its expiry
 * that no sweep has reached yet is expired now, with its event.
 */
Datum
inv_release(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = inv_arg_uuid(fcinfo, 0, "reservation_id");
	text	   *reason = inv_arg_text_or_null(fcinfo, 1);
	TimestampTz now = GetCurrentTimestamp();
	bool		overdue;
	char	   *state;
	bool		done = false;

	SPI_connect();
	state = lock_hold(id, now, &overdue);
	if (strcmp(state, "committed") == 0)
		raise_not_held(id, state, "released");
	else if (strcmp(state, "held") != 0)
		done = false;
	else if (overdue)
		holds_finish(uuid_array1(id), 1, HOLD_EXPIRED, now, NULL, NULL);
	else
	{
		holds_finish(uuid_array1(id), 1, HOLD_RELEASED, now, NULL, reason);
		done = true;
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/*
 * inv_extend(reservation_id uuid, ttl interval) RETURNS timestamptz
 *
 * Give a hold in force a new expiry, now + ttl.  An expired hold stays
 * expired: its units may already be someone else's.
 */
Datum
inv_extend(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = inv_arg_uuid(fcinfo, 0, "reservation_id");
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz expires;
	Datum		values[2];
	bool		overdue;
	char	   *state;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ttl must not be null")));
	expires = inv_expiry(fcinfo, 1, now);

	SPI_connect();
	state = lock_hold(id, now, &overdue);
	if (strcmp(state, "committed") == 0 || strcmp(state, "released") == 0)
		raise_not_held(id, state, "extended");
	else if (strcmp(state, "expired") == 0 || overdue)
		raise_expired(id, "extended");

	values[0] = UUIDPGetDatum(id);
	values[1] = TimestampTzGetDatum(expires);
	inv_plan_exec(&extend_hold_plan, values, NULL, 0);
	outbox_reservation_events(uuid_array1(id), "reservation.extended", now);
	SPI_finish();
	PG_RETURN_TIMESTAMPTZ(expires);
}

/*
 * inv_sweep(max_holds int) RETURNS int
 *
 * Expire up to max_holds overdue holds, oldest first, skipping holds that
 * other sessions have locked.  Returns how many were expired.
 */
Datum
inv_sweep(PG_FUNCTION_ARGS)
{
	int32		max_holds;
	TimestampTz now = GetCurrentTimestamp();
	Datum		values[2];
	Datum		ids;
	int			nids;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_holds must not be null")));
	max_holds = PG_GETARG_INT32(0);
	if (max_holds <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_holds must be positive"),
				 errdetail("max_holds is %d.", max_holds)));

	SPI_connect();
	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(max_holds);
	inv_plan_exec(&overdue_batch_plan, values, NULL, 0);
	ids = inv_result_array(1, UUIDOID, &nids);
	holds_finish(ids, nids, HOLD_EXPIRED, now, NULL, NULL);
	SPI_finish();
	PG_RETURN_INT32(nids);
}
