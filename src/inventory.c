/*-------------------------------------------------------------------------
 *
 * inventory.c
 *	  Entry point of the inventory extension: module magic, _PG_init, the
 *	  GUCs, and the argument checks every SQL-callable function shares.
 *
 * The library works both from shared_preload_libraries and loaded on first
 * use; nothing in this file needs shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "inventory.h"

PG_MODULE_MAGIC;

int			inv_default_ttl = 300;
int			inv_max_ttl = 3600;
int			inv_max_cart_lines = 100;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("inventory.default_ttl",
							"Time to live of a hold when the caller gives none.",
							NULL,
							&inv_default_ttl,
							300, 1, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/* a limit, so only superusers (or the config file) may raise it */
	DefineCustomIntVariable("inventory.max_ttl",
							"Longest time to live a hold may be given or extended by.",
							NULL,
							&inv_max_ttl,
							3600, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.max_cart_lines",
							"Most lines a cart may have.",
							NULL,
							&inv_max_cart_lines,
							100, 1, 100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("inventory");
}

/* ----------------------------------------------------------------
 * argument checks
 * ----------------------------------------------------------------
 */

static void
inv_arg_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
}

char *
inv_arg_sku(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *sku;

	inv_arg_not_null(fcinfo, argno, argname);
	sku = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (sku[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname)));
	return sku;
}

int64
inv_arg_int8(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	inv_arg_not_null(fcinfo, argno, argname);
	return PG_GETARG_INT64(argno);
}

pg_uuid_t *
inv_arg_uuid(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	inv_arg_not_null(fcinfo, argno, argname);
	return PG_GETARG_UUID_P(argno);
}

text *
inv_arg_text_or_null(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno);
}

/*
 * The ttl in argument argno, checked: NULL stands for inventory.default_ttl;
 * a ttl must be positive and at most inventory.max_ttl, and so must the
 * default.  Checked before any lock is taken; the expiry itself is computed
 * later, with inv_expiry(), from the clock read once the locks are held.
 */
Interval *
inv_arg_ttl(FunctionCallInfo fcinfo, int argno)
{
	Interval   *ttl;
	Interval   *zero = palloc0(sizeof(Interval));
	Interval   *max = palloc0(sizeof(Interval));

	if (PG_ARGISNULL(argno))
	{
		if (inv_default_ttl > inv_max_ttl)
			ereport(ERROR,
					(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
					 errmsg("inventory.default_ttl exceeds inventory.max_ttl"),
					 errdetail("inventory.default_ttl is %d s; inventory.max_ttl is %d s.",
							   inv_default_ttl, inv_max_ttl)));
		return NULL;
	}

	/*
	 * Compare intervals rather than timestamps, so that a ttl of any size
	 * gets a ttl error, never "timestamp out of range".
	 */
	ttl = PG_GETARG_INTERVAL_P(argno);
	max->time = (int64) inv_max_ttl * USECS_PER_SEC;
	if (DatumGetBool(DirectFunctionCall2(interval_le, IntervalPGetDatum(ttl),
										 IntervalPGetDatum(zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be positive"),
				 errdetail("ttl is %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(ttl))))));
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(ttl),
										 IntervalPGetDatum(max))))
		ereport(ERROR,
				(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
				 errmsg("ttl exceeds inventory.max_ttl"),
				 errdetail("ttl is %s; inventory.max_ttl is %d s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(ttl))),
						   inv_max_ttl)));
	return ttl;
}

/* The expiry of a hold given ttl (NULL: inventory.default_ttl) at "now". */
TimestampTz
inv_expiry(Interval *ttl, TimestampTz now)
{
	if (ttl == NULL)
		return now + (int64) inv_default_ttl * USECS_PER_SEC;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(now),
												   IntervalPGetDatum(ttl)));
}

char *
inv_uuid_str(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}
