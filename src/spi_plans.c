/*-------------------------------------------------------------------------
 *
 * spi_plans.c
 *	  Prepare-once, keep-forever SPI statements.
 *
 * Callers must be between SPI_connect() and SPI_finish().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "schema.h"
#include "spi_plans.h"

void
inv_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

ErrorData *
inv_subxact_rollback(MemoryContext cxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

/*
 * In a PG_CATCH block: an error saying that a statement names a table or
 * column the installed schema does not have means the library is newer
 * than the extension's SQL objects (a package upgrade not yet followed by
 * ALTER EXTENSION ... UPDATE).  Say that, rather than what the parser saw;
 * rethrow anything else.  The parser sees the statement when it is
 * prepared and again when a kept plan is revalidated (after DROP and
 * CREATE EXTENSION in the same session, say).
 */
static void
rethrow_schema_error(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (edata->sqlerrcode != ERRCODE_UNDEFINED_COLUMN &&
		edata->sqlerrcode != ERRCODE_UNDEFINED_TABLE)
		PG_RE_THROW();
	FlushErrorState();
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the inventory library needs a newer version of the extension's tables"),
			 errdetail("%s", edata->message),
			 errhint("Run ALTER EXTENSION inventory UPDATE.")));
}

static SPIPlanPtr
inv_plan_get(InvPlan *plan)
{
	uint32		generation = inv_schema_generation();

	if (plan->plan != NULL && plan->generation != generation)
	{
		/* DROP and CREATE EXTENSION put the tables in another schema */
		SPI_freeplan(plan->plan);
		plan->plan = NULL;
	}
	if (plan->plan == NULL)
	{
		/*
		 * Always the generic plan.  Every statement here finds its rows by
		 * key, so a custom plan is never better; but its estimate can look
		 * better (unnest() of an array parameter is ten rows to a generic
		 * plan, one to a custom one), and then the plan cache plans the
		 * statement again at every call: 75 us per commit, measured.
		 */
		SPIPlanPtr	p = SPI_prepare_cursor(inv_schema_sql(plan->sql),
										   plan->nargs, plan->argtypes,
										   CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "inventory: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), plan->sql);
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "inventory: SPI_keepplan failed");
		plan->plan = p;
		plan->generation = generation;
	}
	return plan->plan;
}

/*
 * Run a kept statement, in snapshot snap (InvalidSnapshot: the one SPI
 * takes, as for any statement).
 */
static uint64
plan_exec(InvPlan *plan, Datum *values, const char *nulls, long count,
		  Snapshot snap)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = 0;

	PG_TRY();
	{
		rc = SPI_execute_snapshot(inv_plan_get(plan), values, nulls,
								  snap, InvalidSnapshot, false, true, count);
	}
	PG_CATCH();
	{
		rethrow_schema_error(cxt);
	}
	PG_END_TRY();
	if (rc < 0)
		elog(ERROR, "inventory: SPI_execute_snapshot failed (%s) for: %s",
			 SPI_result_code_string(rc), plan->sql);
	return SPI_processed;
}

uint64
inv_plan_exec(InvPlan *plan, Datum *values, const char *nulls, long count)
{
	return plan_exec(plan, values, nulls, count, InvalidSnapshot);
}

uint64
inv_plan_exec_latest(InvPlan *plan, Datum *values, const char *nulls)
{
	return plan_exec(plan, values, nulls, 0, GetLatestSnapshot());
}

Datum
inv_result(uint64 row, int col, bool *isnull)
{
	Assert(row < SPI_processed);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

int64
inv_result_int8(uint64 row, int col)
{
	bool		isnull;
	Datum		d = inv_result(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

Datum
inv_result_array(int col, Oid elemtype, int *n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems = palloc(sizeof(Datum) * Max(SPI_processed, 1));

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		elems[i] = inv_result(i, col, &isnull);
		if (isnull)
			elog(ERROR, "inventory: unexpected NULL in column %d", col);
	}
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	*n = (int) SPI_processed;
	return PointerGetDatum(construct_array(elems, *n, elemtype,
										   typlen, typbyval, typalign));
}
