/*-------------------------------------------------------------------------
 *
 * spi_plans.h
 *	  Statements prepared once per backend and kept.
 *
 * Each module declares its statements next to the code that runs them, as
 * static InvPlan structs; the first execution prepares and keeps the plan.
 * Kept plans are revalidated by the plan cache when the tables change, so
 * DROP EXTENSION / CREATE EXTENSION in a live session needs nothing more
 * from us: every name in the SQL carries its schema.  The SQL names the
 * tables "inventory.<table>"; a plan is made with the schema's actual name
 * (schema.h), and made again if that name changes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_SPI_PLANS_H
#define INVENTORY_SPI_PLANS_H

#include "executor/spi.h"
#include "utils/resowner.h"

#define INV_PLAN_MAX_ARGS 8

typedef struct InvPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[INV_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;			/* NULL until first use */
	uint32		generation;		/* inv_schema_generation() it was made in */
} InvPlan;

/* SPI_connect(), raising an error if it fails */
extern void inv_spi_connect(void);

/*
 * In the PG_CATCH of statements run in an internal subtransaction begun
 * (BeginInternalSubTransaction) in memory context cxt under resource owner
 * owner: roll the subtransaction back, restore both, and return the error,
 * for the caller to raise again or to take as an outcome.
 */
extern ErrorData *inv_subxact_rollback(MemoryContext cxt, ResourceOwner owner);

/*
 * Run a statement; returns SPI_processed.  nulls is NULL or has ' '/'n' per
 * argument, as for SPI_execute_plan.  count limits the rows (0: all).
 */
extern uint64 inv_plan_exec(InvPlan *plan, Datum *values, const char *nulls,
							long count);

/*
 * The same in a snapshot taken now, under any isolation level: for a read
 * whose rows the caller has made sure nobody else can change (by its
 * locks), so that the latest committed state is the state.  The
 * transaction's own earlier changes are seen too.
 */
extern uint64 inv_plan_exec_latest(InvPlan *plan, Datum *values,
								   const char *nulls);

/* Fetch column "col" (1-based) of result row "row" of the last statement. */
extern Datum inv_result(uint64 row, int col, bool *isnull);
extern int64 inv_result_int8(uint64 row, int col);

/* Column "col" of every result row, as an array of elemtype; *n gets its length. */
extern Datum inv_result_array(int col, Oid elemtype, int *n);

#endif							/* INVENTORY_SPI_PLANS_H */
