/*-------------------------------------------------------------------------
 *
 * stock.c
 *	  The stock of a SKU: inv_set_stock, inv_adjust, inv_stock and
 *	  inv_available.
 *
 * Every change of on_hand writes a row to the ledger inventory.adjustment
 * and a stock.adjusted event, in the caller's transaction.  on_hand never
 * drops below the units held; holds past their expiry are given back
 * first when that is what stands in the way.
 *
 * The stock row keeps available only; the units held are the lines of the
 * holds held, and on_hand is the sum of both.  A change of the count locks
 * the row (no reserve, release or expiry of the SKU until it is done),
 * then the SKU's sales lock exclusively (no commit of it: locks.h), and
 * only then counts the units held, in a snapshot taken at that moment.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "holds.h"
#include "inventory.h"
#include "locks.h"
#include "outbox.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(inv_set_stock);
PG_FUNCTION_INFO_V1(inv_adjust);
PG_FUNCTION_INFO_V1(inv_stock);
PG_FUNCTION_INFO_V1(inv_available);

static InvPlan lock_stock_plan = {
	"SELECT available, version FROM inventory.stock"
	" WHERE sku = $1 FOR NO KEY UPDATE",
	1, {TEXTOID}
};

/* the units of sku held: the lines of the holds held */
static InvPlan held_units_plan = {
	"SELECT coalesce(sum(l.qty), 0)::bigint"
	"  FROM inventory.reservation r, unnest(r.skus, r.qtys) AS l(sku, qty)"
	" WHERE r.state = 'held' AND l.sku = $1",
	1, {TEXTOID}
};

static InvPlan insert_stock_plan = {
	"INSERT INTO inventory.stock (sku, available, updated_at) VALUES ($1, $2, $3)"
	" ON CONFLICT (sku) DO NOTHING RETURNING version",
	3, {TEXTOID, INT8OID, TIMESTAMPTZOID}
};

static InvPlan set_available_plan = {
	"UPDATE inventory.stock SET available = $2, version = version + 1, updated_at = $3"
	" WHERE sku = $1",
	3, {TEXTOID, INT8OID, TIMESTAMPTZOID}
};

static InvPlan insert_adjustment_plan = {
	"INSERT INTO inventory.adjustment (sku, delta, on_hand, reason, created_at)"
	" VALUES ($1, $2, $3, $4, $5)",
	5, {TEXTOID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}
};

static InvPlan stock_levels_plan = {
	"SELECT sku, on_hand, reserved, available, version, updated_at"
	"  FROM inventory.stock_levels WHERE sku = $1",
	1, {TEXTOID}
};

typedef struct StockRow
{
	int64		on_hand;
	int64		reserved;
	int64		version;
} StockRow;

/*
 * Lock the row of sku and its sales, then count its units; false when
 * there is no row.
 */
static bool
lock_stock(const char *sku, StockRow *row)
{
	Datum		value = CStringGetTextDatum(sku);
	int64		available;

	if (inv_plan_exec(&lock_stock_plan, &value, NULL, 0) == 0)
		return false;
	available = inv_result_int8(0, 1);
	row->version = inv_result_int8(0, 2);

	inv_lock_sku_sales(sku, strlen(sku), ExclusiveLock);
	inv_plan_exec_latest(&held_units_plan, &value, NULL);
	row->reserved = inv_result_int8(0, 1);
	row->on_hand = available + row->reserved;
	return true;
}

static Datum
sku_array1(const char *sku)
{
	Datum		elem = CStringGetTextDatum(sku);

	return PointerGetDatum(construct_array(&elem, 1, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * on_hand is about to become new_on_hand: refuse (IV001) when that is
 * below the units held, after giving back the overdue holds of the SKU
 * when those are enough to make room.
 */
static void
make_room(const char *sku, StockRow *row, int64 new_on_hand, TimestampTz now)
{
	Datum		skus;
	Datum		ids;
	int			nids;
	int64		held = row->reserved;

	if (new_on_hand >= held)
		return;

	skus = sku_array1(sku);
	ids = holds_lock_overdue(skus, skus, now, 0, &nids);
	if (nids > 0)
		held -= holds_units(ids, sku);
	if (new_on_hand < held)
		ereport(ERROR,
				(errcode(ERRCODE_INV_INSUFFICIENT_STOCK),
				 errmsg("insufficient stock for SKU \"%s\"", sku),
				 errdetail("on_hand would be " INT64_FORMAT ", but " INT64_FORMAT
						   " units are held.", new_on_hand, held),
				 errhint("Release or commit holds first.")));
	holds_finish(ids, nids, HOLD_EXPIRED, now, NULL, NULL);
	row->reserved = held;
}

/* The ledger row of a change of on_hand, and its event. */
static void
store_ledger(const char *sku, int64 on_hand, int64 reserved, int64 delta,
			 text *reason, TimestampTz now)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(sku);
	values[1] = Int64GetDatum(delta);
	values[2] = Int64GetDatum(on_hand);
	values[3] = PointerGetDatum(reason);
	values[4] = TimestampTzGetDatum(now);
	if (reason == NULL)
		nulls[3] = 'n';
	inv_plan_exec(&insert_adjustment_plan, values, nulls, 0);

	outbox_stock_event(sku, on_hand, reserved, delta, reason, now);
}

/*
 * Write the new on_hand (as available: on_hand less the units held), its
 * ledger row and its event.
 */
static void
store_on_hand(const char *sku, const StockRow *row, int64 on_hand, int64 delta,
			  text *reason, TimestampTz now)
{
	Datum		values[3];

	values[0] = CStringGetTextDatum(sku);
	values[1] = Int64GetDatum(on_hand - row->reserved);
	values[2] = TimestampTzGetDatum(now);
	inv_plan_exec(&set_available_plan, values, NULL, 0);
	store_ledger(sku, on_hand, row->reserved, delta, reason, now);
}

/*
 * inv_set_stock(sku text, on_hand bigint, reason text) RETURNS bigint
 *
 * Create the SKU with on_hand units, or set its count (a cycle count).
 */
Datum
inv_set_stock(PG_FUNCTION_ARGS)
{
	char	   *sku = inv_arg_sku(fcinfo, 0, "sku");
	int64		on_hand = inv_arg_int8(fcinfo, 1, "on_hand");
	text	   *reason = inv_arg_text_or_null(fcinfo, 2);
	TimestampTz now;
	StockRow	row;

	inv_require_writable(fcinfo);
	if (on_hand < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_hand must not be negative"),
				 errdetail("on_hand is " INT64_FORMAT ".", on_hand)));

	inv_spi_connect();
	for (;;)
	{
		Datum		values[3];

		bool		found = lock_stock(sku, &row);

		/* the clock is read once the row is ours */
		now = GetCurrentTimestamp();
		if (found)
		{
			make_room(sku, &row, on_hand, now);
			store_on_hand(sku, &row, on_hand, on_hand - row.on_hand, reason, now);
			break;
		}

		values[0] = CStringGetTextDatum(sku);
		values[1] = Int64GetDatum(on_hand);
		values[2] = TimestampTzGetDatum(now);
		if (inv_plan_exec(&insert_stock_plan, values, NULL, 0) == 1)
		{
			store_ledger(sku, on_hand, 0, on_hand, reason, now);
			break;
		}
		/* created by a concurrent call since we looked: lock it and set it */
	}
	SPI_finish();
	PG_RETURN_INT64(on_hand);
}

/*
 * inv_adjust(sku text, delta bigint, reason text, expected_version bigint)
 *	RETURNS bigint
 *
 * Receive (+delta) or write off (-delta) units.  With expected_version, a
 * compare-and-set: IV008 when the row is at another version.
 */
Datum
inv_adjust(PG_FUNCTION_ARGS)
{
	char	   *sku = inv_arg_sku(fcinfo, 0, "sku");
	int64		delta = inv_arg_int8(fcinfo, 1, "delta");
	text	   *reason = inv_arg_text_or_null(fcinfo, 2);
	TimestampTz now;
	StockRow	row;
	int64		on_hand;

	inv_require_writable(fcinfo);
	if (delta == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta must not be zero")));

	inv_spi_connect();
	if (!lock_stock(sku, &row))
		ereport(ERROR,
				(errcode(ERRCODE_INV_UNKNOWN_SKU),
				 errmsg("unknown SKU \"%s\"", sku),
				 errhint("Create a SKU with inv_set_stock().")));
	now = GetCurrentTimestamp();
	if (!PG_ARGISNULL(3) && PG_GETARG_INT64(3) != row.version)
		ereport(ERROR,
				(errcode(ERRCODE_INV_VERSION_CONFLICT),
				 errmsg("version conflict on SKU \"%s\"", sku),
				 errdetail("Expected version " INT64_FORMAT ", found " INT64_FORMAT ".",
						   PG_GETARG_INT64(3), row.version),
				 errhint("Read the stock again and retry.")));
	if (pg_add_s64_overflow(row.on_hand, delta, &on_hand))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("on_hand of SKU \"%s\" would be out of range for bigint", sku)));
	if (on_hand < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INV_INSUFFICIENT_STOCK),
				 errmsg("insufficient stock for SKU \"%s\"", sku),
				 errdetail("delta is " INT64_FORMAT "; on_hand is " INT64_FORMAT ".",
						   delta, row.on_hand)));
	make_room(sku, &row, on_hand, now);
	store_on_hand(sku, &row, on_hand, delta, reason, now);
	SPI_finish();
	PG_RETURN_INT64(on_hand);
}

/* Read the stock_levels row of sku; IV002 when there is none. */
static void
read_levels(const char *sku)
{
	Datum		value = CStringGetTextDatum(sku);

	if (inv_plan_exec(&stock_levels_plan, &value, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INV_UNKNOWN_SKU),
				 errmsg("unknown SKU \"%s\"", sku),
				 errhint("Create a SKU with inv_set_stock().")));
}

/*
 * inv_stock(sku text) RETURNS TABLE (sku, on_hand, reserved, available,
 *									  version, updated_at)
 */
Datum
inv_stock(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sku = inv_arg_sku(fcinfo, 0, "sku");
	Datum		values[6];
	bool		nulls[6];

	InitMaterializedSRF(fcinfo, 0);
	inv_spi_connect();
	read_levels(sku);
	for (int i = 0; i < 6; i++)
		values[i] = inv_result(0, i + 1, &nulls[i]);
	/* tuplestore_putvalues copies, and the tuplestore outlives SPI */
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}

/* inv_available(sku text) RETURNS bigint */
Datum
inv_available(PG_FUNCTION_ARGS)
{
	char	   *sku = inv_arg_sku(fcinfo, 0, "sku");
	int64		available;

	inv_spi_connect();
	read_levels(sku);
	available = inv_result_int8(0, 4);
	SPI_finish();
	PG_RETURN_INT64(available);
}
