/*-------------------------------------------------------------------------
 *
 * inventory.c
 *	  Entry point of the inventory extension: module magic, _PG_init, the
 *	  GUCs, and the argument checks every SQL-callable function shares.
 *
 * Every GUC is registered here; its variable is declared in the header of
 * the module it steers (inventory.h, limits.h, sweeper.h, retention.h,
 * notify.h, shmem.h).
 *
 * The library works both from shared_preload_libraries and loaded on first
 * use.  Preloaded, it also has shared memory (shmem.c) and background
 * workers: a launcher (launcher.c) that starts a sweeper (sweeper.c) in
 * each database.  Either way a NOTIFY follows the commit of outbox events
 * (notify.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "inventory.h"
#include "launcher.h"
#include "limits.h"
#include "notify.h"
#include "retention.h"
#include "shmem.h"
#include "sweeper.h"

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

	/*
	 * Limits against hoarding (limits.c): PGC_SUSET like max_ttl, so that
	 * an application role cannot raise them; a DBA sets them in the
	 * config, or per database or role with ALTER ... SET.
	 */
	DefineCustomIntVariable("inventory.max_units_per_owner",
							"Most units of one SKU an owner may have in holds in force and committed within inventory.owner_window; 0: no limit.",
							"A SKU's row of inventory.sku_limit (inv_set_sku_limit) replaces it for that SKU.",
							&inv_max_units_per_owner,
							0, 0, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.owner_window",
							"How far back an owner's committed units count against inventory.max_units_per_owner.",
							NULL,
							&inv_owner_window,
							24 * 3600, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.max_holds_per_owner",
							"Most holds in force an owner may have; 0: no limit.",
							NULL,
							&inv_max_holds_per_owner,
							0, 0, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.max_hold_lifetime",
							"Longest time from a hold's creation to its expiry, extensions included; 0: no limit.",
							NULL,
							&inv_max_hold_lifetime,
							24 * 3600, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.sweep_interval",
							"Pause between two sweeps of overdue holds; 0 stops the sweepers.",
							"Holds expire within about this long after their expiry.",
							&inv_sweep_interval,
							1000, 0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Small, because a sweep transaction keeps the stock rows of the holds
	 * it expires locked until it commits, and buyers of those SKUs wait for
	 * it: measured on 2 cores, a buyer behind a sweep of 1,000 holds waited
	 * about 33 ms, behind one of 100 about 7 ms.  A backlog is worked off in
	 * as many transactions as it takes, within the pass's time.
	 */
	DefineCustomIntVariable("inventory.sweep_batch",
							"Most holds a sweep expires, or retention purges, in one transaction.",
							"Buyers of the SKUs a sweep transaction touches wait for its commit: keep it small.",
							&inv_sweep_batch,
							100, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.retention",
							"How long finished holds, and outbox events no consumer waits for, are kept; 0 keeps them forever.",
							NULL,
							&inv_retention,
							7 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * PGC_SUSET, not PGC_SIGHUP, only so that a superuser can turn it off
	 * for one database with ALTER DATABASE ... SET; a sweeper reads it as
	 * it connects and at a reload.  Set in a session it means nothing.
	 */
	DefineCustomBoolVariable("inventory.sweeper",
							 "Whether a sweeper serves the database; set it per database with ALTER DATABASE.",
							 "Off: holds expire only when inv_sweep() runs or a reserve needs their units.",
							 &inv_sweeper,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Without a sweeper each writer sends its own NOTIFY, and PostgreSQL
	 * serialises the commits of every notifying transaction of the cluster
	 * on one lock, held through the commit's WAL flush: measured on 2
	 * cores, 64 clients, checkouts ran at 315-476/s with it and 883-975/s
	 * without.  Off: no NOTIFY then; relays find the events by polling.
	 */
	DefineCustomBoolVariable("inventory.writer_notify",
							 "Whether a transaction that wrote outbox events sends NOTIFY inventory_outbox itself when no sweeper serves the database.",
							 "Off: relays find those events by polling; with a sweeper nothing changes.",
							 &inv_writer_notify,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("inventory.databases",
							   "Databases the sweepers serve (comma-separated); empty: every database with the extension.",
							   "Empty: the launcher looks for the extension in every database, one at a time.",
							   &inv_databases,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   inv_check_databases, NULL, NULL);

	/*
	 * Loaded on first use, the library has no shared memory and no
	 * workers.  It must not define a PGC_POSTMASTER setting then either:
	 * PostgreSQL ends the session (FATAL) for that after startup.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("inventory.max_databases",
								"Most databases with a sweeper or counters at once (only databases with the extension keep a slot).",
								NULL,
								&inv_max_databases,
								256, 1, 100000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		shmem_init();
		inv_launcher_init();
	}

	/*
	 * After inv_launcher_init(): transaction callbacks run newest first, so
	 * at a commit the sweeper's latch is set before the launcher's.
	 */
	inv_notify_init();

	MarkGUCPrefixReserved("inventory");
}

/*
 * Every function that writes calls this first: in a read-only transaction,
 * and so on a hot standby, it refuses with 25006 and the function's name,
 * as PostgreSQL refuses a write, before anything else could fail in a way
 * an application cannot branch on (a standby refuses even to assign a
 * transaction id, with an internal error).
 */
void
inv_require_writable(FunctionCallInfo fcinfo)
{
	if (XactReadOnly)
		PreventCommandIfReadOnly(psprintf("%s()", get_func_name(fcinfo->flinfo->fn_oid)));
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

/* Raise unless a string argument of len bytes is 1 (0 if may_be_empty) to max. */
static void
check_length(const char *argname, int len, int max, bool may_be_empty)
{
	if (len == 0 && !may_be_empty)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname)));
	if (len > max)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is longer than %d bytes", argname, max),
				 errdetail("It is %d bytes long.", len)));
}

/* A SKU is a non-empty string of at most INV_MAX_SKU_BYTES bytes. */
void
inv_check_sku(const char *sku, int len, const char *argname)
{
	check_length(argname, len, INV_MAX_SKU_BYTES, false);
}

char *
inv_arg_sku(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	text	   *sku;

	inv_arg_not_null(fcinfo, argno, argname);
	sku = PG_GETARG_TEXT_PP(argno);
	inv_check_sku(VARDATA_ANY(sku), VARSIZE_ANY_EXHDR(sku), argname);
	return text_to_cstring(sku);
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

/* An idempotency key: NULL (none), or 1 to INV_MAX_KEY_BYTES bytes. */
text *
inv_arg_key(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	text	   *key = inv_arg_text_or_null(fcinfo, argno);

	if (key != NULL)
		check_length(argname, VARSIZE_ANY_EXHDR(key), INV_MAX_KEY_BYTES, false);
	return key;
}

/* An owner: NULL (none), or at most INV_MAX_OWNER_BYTES bytes. */
text *
inv_arg_owner(FunctionCallInfo fcinfo, int argno)
{
	text	   *owner = inv_arg_text_or_null(fcinfo, argno);

	if (owner != NULL)
		check_length("owner", VARSIZE_ANY_EXHDR(owner), INV_MAX_OWNER_BYTES, true);
	return owner;
}

/*
 * Largest part of a ttl we add to a timestamp: beyond it the addition could
 * leave the timestamp range, and no max_ttl (at most INT_MAX seconds, about
 * 68 years) comes near it.
 */
#define TTL_PART_MAX_YEARS 1000

static char *
interval_str(Interval *ttl)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(ttl)));
}

/*
 * Raise unless now < expires <= now + inventory.max_ttl, and within
 * inventory.max_hold_lifetime of now (a hold taken now).  Checking the
 * computed expiry, rather than comparing intervals, keeps mixed units
 * honest: '1 mon -30 days' is not zero in every month.
 */
static void
check_expiry(Interval *ttl, TimestampTz now, TimestampTz expires)
{
	if (expires <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be positive"),
				 errdetail("ttl is %s.", interval_str(ttl))));
	if (expires - now > (int64) inv_max_ttl * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
				 errmsg("ttl exceeds inventory.max_ttl"),
				 errdetail("ttl is %s; inventory.max_ttl is %d s.",
						   interval_str(ttl), inv_max_ttl)));
	limits_check_lifetime(now, expires, NULL, ttl);
}

/*
 * The ttl in argument argno, checked: NULL stands for inventory.default_ttl;
 * a ttl must be positive and at most inventory.max_ttl, and so must the
 * default.  Checked before any lock is taken; inv_expiry() computes the
 * expiry later, from the clock read once the locks are held, and checks it
 * again there.
 */
Interval *
inv_arg_ttl(FunctionCallInfo fcinfo, int argno)
{
	Interval   *ttl;
	int64		part_max = (int64) TTL_PART_MAX_YEARS * DAYS_PER_YEAR * USECS_PER_DAY;

	if (PG_ARGISNULL(argno))
	{
		if (inv_default_ttl > inv_max_ttl)
			ereport(ERROR,
					(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
					 errmsg("inventory.default_ttl exceeds inventory.max_ttl"),
					 errdetail("inventory.default_ttl is %d s; inventory.max_ttl is %d s.",
							   inv_default_ttl, inv_max_ttl)));
		if (inv_max_hold_lifetime > 0 && inv_default_ttl > inv_max_hold_lifetime)
			ereport(ERROR,
					(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
					 errmsg("inventory.default_ttl exceeds inventory.max_hold_lifetime"),
					 errdetail("inventory.default_ttl is %d s; inventory.max_hold_lifetime is %d s.",
							   inv_default_ttl, inv_max_hold_lifetime)));
		return NULL;
	}

	ttl = PG_GETARG_INTERVAL_P(argno);
	if (Abs(ttl->month) > TTL_PART_MAX_YEARS * MONTHS_PER_YEAR ||
		Abs(ttl->day) > TTL_PART_MAX_YEARS * DAYS_PER_YEAR ||
		ttl->time > part_max || ttl->time < -part_max)
	{
		Interval   *zero = palloc0(sizeof(Interval));

		/* far out of range either way: its rough sign decides the error */
		check_expiry(ttl, 0,
					 DatumGetBool(DirectFunctionCall2(interval_le,
													  IntervalPGetDatum(ttl),
													  IntervalPGetDatum(zero)))
					 ? 0 : PG_INT64_MAX);
	}
	(void) inv_expiry(ttl, GetCurrentTimestamp());
	return ttl;
}

/*
 * The expiry of a hold given ttl (NULL: inventory.default_ttl) at "now",
 * checked against inventory.max_ttl.
 */
TimestampTz
inv_expiry(Interval *ttl, TimestampTz now)
{
	TimestampTz expires;

	if (ttl == NULL)
		return now + (int64) inv_default_ttl * USECS_PER_SEC;
	expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													  TimestampTzGetDatum(now),
													  IntervalPGetDatum(ttl)));
	check_expiry(ttl, now, expires);
	return expires;
}

char *
inv_uuid_str(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}

void
inv_random_uuid(pg_uuid_t *id)
{
	if (!pg_strong_random(id->data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	/* the version (4) and the variant (RFC 4122) */
	id->data[6] = (id->data[6] & 0x0f) | 0x40;
	id->data[8] = (id->data[8] & 0x3f) | 0x80;
}

/* A uuid[] of one element */
Datum
inv_uuid_array1(pg_uuid_t *id)
{
	Datum		elem = UUIDPGetDatum(id);

	return PointerGetDatum(construct_array(&elem, 1, UUIDOID, UUID_LEN,
										   false, TYPALIGN_CHAR));
}
