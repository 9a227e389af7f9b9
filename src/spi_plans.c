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

#include "utils/array.h"
#include "utils/lsyscache.h"

#include "spi_plans.h"

void
inv_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

static SPIPlanPtr
inv_plan_get(InvPlan *plan)
{
	if (plan->plan == NULL)
	{
		SPIPlanPtr	p;

		/*
		 * Always the generic plan.  Every statement here finds its rows by
		 * key, so a custom plan is never better; but its estimate can look
		 * better (unnest() of an array parameter is ten rows to a generic
		 * plan, one to a custom one), and then the plan cache plans the
		 * statement again at every call: 75 us per commit, measured.
		 */
		p = SPI_prepare_cursor(plan->sql, plan->nargs, plan->argtypes,
							   CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "inventory: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), plan->sql);
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "inventory: SPI_keepplan failed");
		plan->plan = p;
	}
	return plan->plan;
}

uint64
inv_plan_exec(InvPlan *plan, Datum *values, const char *nulls, long count)
{
	int			rc;

	rc = SPI_execute_plan(inv_plan_get(plan), values, nulls, false, count);
	if (rc < 0)
		elog(ERROR, "inventory: SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), plan->sql);
	return SPI_processed;
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
