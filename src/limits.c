/*-------------------------------------------------------------------------
 *
 * limits.c
 *	  Limits against hoarding, and their per-SKU overrides:
 *	  inv_set_sku_limit, and the checks reserve.c and holds.c run.
 *
 * A DBA sets the limits (PGC_SUSET settings: an application role cannot
 * raise them); 0 turns each off:
 *	- inventory.max_units_per_owner: units of one SKU an owner may have in
 *	  holds in force plus committed within inventory.owner_window ("2 per
 *	  customer"); a row of inventory.sku_limit overrides both for its SKU;
 *	- inventory.max_holds_per_owner: holds in force an owner may have;
 *	- inventory.max_hold_lifetime: how long after its creation a hold may
 *	  expire, extensions included.
 * A hold without an owner is bounded by the per-hold limits only (its ttl,
 * its lifetime, its lines).  Holds past their expiry, swept or not, do not
 * count: they are no longer in force.
 *
 * Cost: a reserve without an owner never comes here.  With an owner, and
 * no limit set nor any override in inventory.sku_limit, the check runs no
 * statement and takes no lock: whether the table has an override is kept
 * per backend, and forgotten whenever the table changes (a statement
 * trigger on it sends a relcache invalidation, which every backend sees at
 * its next transaction).  Only when a limit applies does it take the
 * owner's lock and count, in one statement.
 *
 * Races: the owner's lock (locks.h) serializes the reserves of one owner
 * that a limit applies to, until their transactions end, and the count
 * reads the latest committed state (and the transaction's own holds), so
 * two of them never both pass a limit, under any isolation level.  It is
 * taken after the idempotency key's lock and before any row lock: the
 * order key, owner, stock rows in SKU order adds no cycle of waits.
 * Commits and releases do not take it: a commit keeps the units counted
 * (held, then committed), and a release can only make the count smaller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "inventory.h"
#include "limits.h"
#include "locks.h"
#include "schema.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(inv_set_sku_limit);
PG_FUNCTION_INFO_V1(inv_sku_limit_changed);

int			inv_max_units_per_owner = 0;
int			inv_owner_window = 24 * 3600;
int			inv_max_holds_per_owner = 0;
int			inv_max_hold_lifetime = 24 * 3600;

/*
 * Whether inventory.sku_limit has an override that limits something, as
 * this backend last read it.  UNKNOWN until read, and again after any
 * change of the table (sku_limit_invalidated).
 */
typedef enum OverrideState
{
	OVERRIDES_UNKNOWN,
	OVERRIDES_READING,
	OVERRIDES_NONE,
	OVERRIDES_SOME
} OverrideState;

static OverrideState overrides = OVERRIDES_UNKNOWN;
static Oid	sku_limit_relid = InvalidOid;
static bool callback_registered = false;

static InvPlan overrides_exist_plan = {
	"SELECT EXISTS (SELECT FROM inventory.sku_limit WHERE max_units_per_owner > 0)",
	0, {}
};

/* does a SKU of the cart ($1) have an override that limits it? */
static InvPlan cart_overridden_plan = {
	"SELECT 1 FROM inventory.sku_limit"
	" WHERE sku = ANY ($1) AND max_units_per_owner > 0"
	" LIMIT 1",
	1, {TEXTARRAYOID}
};

/*
 * What owner $1 has of each SKU $2, at $3: one row per SKU, in byte order,
 * with the limit that applies to it ($4 and $5 are the settings, which an
 * override replaces), the units held in force, the units committed within
 * the window, and the owner's holds in force.  The owner's holds are found
 * through the partial index on owner; committed ones only as far back as
 * the widest window.
 */
static InvPlan owner_usage_plan = {
	"WITH c AS ("
	"  SELECT c.sku,"
	"         coalesce(l.max_units_per_owner, $4) AS max_units,"
	"         coalesce(l.owner_window, $5) AS win,"
	"         l.sku IS NOT NULL AS overridden,"
	"         l.owner_window"
	"    FROM unnest($2::text[]) AS c(sku)"
	"    LEFT JOIN inventory.sku_limit l ON l.sku = c.sku),"
	" r AS ("
	"  SELECT r.state, r.finished_at, r.skus, r.qtys"
	"    FROM inventory.reservation r"
	"   WHERE r.owner = $1"
	"     AND (r.state = 'held' AND r.expires_at > $3"
	"          OR r.state = 'committed'"
	"             AND r.finished_at > $3 - (SELECT max(c.win) FROM c)))"
	" SELECT c.sku, c.max_units, c.overridden, c.owner_window::text,"
	"        (SELECT coalesce(sum(l.qty), 0)"
	"           FROM r, unnest(r.skus, r.qtys) AS l(sku, qty)"
	"          WHERE r.state = 'held' AND l.sku = c.sku)::bigint,"
	"        (SELECT coalesce(sum(l.qty), 0)"
	"           FROM r, unnest(r.skus, r.qtys) AS l(sku, qty)"
	"          WHERE r.state = 'committed' AND r.finished_at > $3 - c.win"
	"            AND l.sku = c.sku)::bigint,"
	"        (SELECT count(*) FROM r WHERE r.state = 'held')"
	"   FROM c"
	"  ORDER BY c.sku COLLATE \"C\"",
	5, {TEXTOID, TEXTARRAYOID, TIMESTAMPTZOID, INT8OID, INTERVALOID}
};

static InvPlan sku_exists_plan = {
	"SELECT 1 FROM inventory.stock WHERE sku = $1",
	1, {TEXTOID}
};

static InvPlan set_sku_limit_plan = {
	"INSERT INTO inventory.sku_limit AS l"
	"       (sku, max_units_per_owner, owner_window, updated_at)"
	" VALUES ($1, $2, $3, $4)"
	" ON CONFLICT (sku) DO UPDATE"
	"   SET max_units_per_owner = excluded.max_units_per_owner,"
	"       owner_window = excluded.owner_window,"
	"       updated_at = excluded.updated_at",
	4, {TEXTOID, INT8OID, INTERVALOID, TIMESTAMPTZOID}
};

static InvPlan drop_sku_limit_plan = {
	"DELETE FROM inventory.sku_limit WHERE sku = $1",
	1, {TEXTOID}
};

/* A setting as SHOW shows it, with its unit */
static char *
setting_str(const char *name)
{
	return GetConfigOptionByName(name, NULL, false);
}

static void
sku_limit_invalidated(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == sku_limit_relid)
		overrides = OVERRIDES_UNKNOWN;
}

/*
 * Whether inventory.sku_limit has an override that limits something: read
 * once, then kept until the table changes.  Tables older than 0.4.0 have
 * no such table, hence no override.
 */
static bool
overrides_exist(void)
{
	Oid			nsp;
	bool		isnull;
	bool		some;

	if (overrides == OVERRIDES_NONE || overrides == OVERRIDES_SOME)
		return overrides == OVERRIDES_SOME;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(sku_limit_invalidated, (Datum) 0);
		callback_registered = true;
	}
	nsp = inv_schema_oid();
	sku_limit_relid = OidIsValid(nsp) ? get_relname_relid("sku_limit", nsp) : InvalidOid;
	if (!OidIsValid(sku_limit_relid))
		return false;

	/* a change that comes in while we read sets it back to UNKNOWN */
	overrides = OVERRIDES_READING;
	inv_plan_exec(&overrides_exist_plan, NULL, NULL, 0);
	some = DatumGetBool(inv_result(0, 1, &isnull));
	if (overrides == OVERRIDES_READING)
		overrides = some ? OVERRIDES_SOME : OVERRIDES_NONE;
	return some;
}

/* Does a limit apply to a hold of cart by an owner? */
static bool
owner_limited(Datum skus)
{
	if (inv_max_units_per_owner > 0 || inv_max_holds_per_owner > 0)
		return true;
	if (!overrides_exist())
		return false;
	return inv_plan_exec(&cart_overridden_plan, &skus, NULL, 1) > 0;
}

static void
raise_units(const char *owner, const char *sku, int64 max_units, bool overridden,
			const char *sku_window, int64 held, int64 bought, int64 qty)
{
	char	   *limit;
	char	   *window;

	if (overridden)
		limit = psprintf("The limit of SKU \"%s\" (%s.sku_limit) is " INT64_FORMAT,
						 sku, inv_schema_name(), max_units);
	else
		limit = psprintf("inventory.max_units_per_owner is " INT64_FORMAT, max_units);
	if (sku_window != NULL)
		window = psprintf("the SKU's window (%s)", sku_window);
	else
		window = psprintf("inventory.owner_window (%s)", setting_str("inventory.owner_window"));

	ereport(ERROR,
			(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
			 errmsg_plural("owner \"%s\" would hold more than " INT64_FORMAT " unit of SKU \"%s\"",
						   "owner \"%s\" would hold more than " INT64_FORMAT " units of SKU \"%s\"",
						   (unsigned long) max_units, owner, max_units, sku),
			 errdetail("%s; the owner holds " INT64_FORMAT " and bought " INT64_FORMAT
					   " within %s, and asked for " INT64_FORMAT " more.",
					   limit, held, bought, window, qty)));
}

void
limits_check_owner(text *owner, const InvCart *cart, Datum skus)
{
	Datum		values[5];
	Interval	window = {0};
	char	   *name;
	uint64		n;
	int64		holds = 0;

	if (!owner_limited(skus))
		return;

	/* before any row lock: see the header comment */
	inv_lock_owner(VARDATA_ANY(owner), VARSIZE_ANY_EXHDR(owner));

	window.time = (int64) inv_owner_window * USECS_PER_SEC;
	values[0] = PointerGetDatum(owner);
	values[1] = skus;
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[3] = Int64GetDatum(inv_max_units_per_owner);
	values[4] = IntervalPGetDatum(&window);
	/* the latest state: what the owner's lock holders committed before us */
	n = inv_plan_exec_latest(&owner_usage_plan, values, NULL);
	if (n != (uint64) cart->nlines)
		elog(ERROR, "inventory: counted the holds of %d SKUs, not " UINT64_FORMAT,
			 cart->nlines, n);

	name = text_to_cstring(owner);
	for (uint64 row = 0; row < n; row++)
	{
		bool		isnull;
		int64		max_units = inv_result_int8(row, 2);
		int64		held = inv_result_int8(row, 5);
		int64		bought = inv_result_int8(row, 6);
		const InvLine *line = &cart->lines[row];

		holds = inv_result_int8(row, 7);
		/* held + bought + qty > max_units, without overflow */
		if (max_units > 0 &&
			(held + bought >= max_units || line->qty > max_units - held - bought))
		{
			Datum		sku_window = inv_result(row, 4, &isnull);

			raise_units(name, line->sku, max_units,
						DatumGetBool(inv_result(row, 3, &isnull)),
						isnull ? NULL : TextDatumGetCString(sku_window),
						held, bought, line->qty);
		}
	}

	if (inv_max_holds_per_owner > 0 && holds >= inv_max_holds_per_owner)
		ereport(ERROR,
				(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
				 errmsg_plural("owner \"%s\" would have more than %d hold in force",
							   "owner \"%s\" would have more than %d holds in force",
							   inv_max_holds_per_owner, name, inv_max_holds_per_owner),
				 errdetail("inventory.max_holds_per_owner is %d; the owner has " INT64_FORMAT
						   " holds in force.", inv_max_holds_per_owner, holds),
				 errhint("Commit or release one of the owner's holds first.")));
}

void
limits_check_lifetime(TimestampTz created, TimestampTz expires,
					  const pg_uuid_t *id, Interval *ttl)
{
	if (inv_max_hold_lifetime <= 0 ||
		expires - created <= (int64) inv_max_hold_lifetime * USECS_PER_SEC)
		return;

	if (id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
				 errmsg("ttl exceeds inventory.max_hold_lifetime"),
				 errdetail("ttl is %s; inventory.max_hold_lifetime is %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(ttl))),
						   setting_str("inventory.max_hold_lifetime"))));
	ereport(ERROR,
			(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
			 errmsg("reservation %s would be held longer than inventory.max_hold_lifetime",
					inv_uuid_str(id)),
			 errdetail("inventory.max_hold_lifetime is %s, counted from the hold's creation at %s, extensions included.",
					   setting_str("inventory.max_hold_lifetime"),
					   timestamptz_to_str(created)),
			 errhint("Commit or release the hold, or reserve again.")));
}

/*
 * inv_set_sku_limit(sku text, max_units_per_owner bigint,
 *					 owner_window interval DEFAULT NULL) RETURNS bigint
 *
 * Set the SKU's own limit, which replaces inventory.max_units_per_owner
 * (0: no limit for this SKU) and, unless owner_window is NULL,
 * inventory.owner_window for its holds.  max_units_per_owner NULL drops
 * the override: the settings apply again.  Returns the units per owner
 * that now apply to the SKU (0: none).  For the operator's role: an
 * application role is not granted it, so it cannot raise a limit.
 */
Datum
inv_set_sku_limit(PG_FUNCTION_ARGS)
{
	char	   *sku = inv_arg_sku(fcinfo, 0, "sku");
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int64		max_units = 0;
	Interval   *window = NULL;
	int64		applies;

	inv_require_writable(fcinfo);
	if (!PG_ARGISNULL(1))
	{
		max_units = PG_GETARG_INT64(1);
		if (max_units < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_units_per_owner must not be negative"),
					 errdetail("max_units_per_owner is " INT64_FORMAT ".", max_units)));
	}
	if (!PG_ARGISNULL(2))
	{
		Interval   *zero = palloc0(sizeof(Interval));

		window = PG_GETARG_INTERVAL_P(2);
		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("owner_window needs max_units_per_owner"),
					 errdetail("max_units_per_owner NULL drops the SKU's limit, window included.")));
		if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(window),
											 IntervalPGetDatum(zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("owner_window must not be negative"),
					 errdetail("owner_window is %s.",
							   DatumGetCString(DirectFunctionCall1(interval_out,
																   IntervalPGetDatum(window))))));
	}

	inv_spi_connect();
	values[0] = CStringGetTextDatum(sku);
	if (inv_plan_exec(&sku_exists_plan, values, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INV_UNKNOWN_SKU),
				 errmsg("unknown SKU \"%s\"", sku),
				 errhint("Create a SKU with inv_set_stock().")));
	if (PG_ARGISNULL(1))
	{
		inv_plan_exec(&drop_sku_limit_plan, values, NULL, 0);
		applies = inv_max_units_per_owner;
	}
	else
	{
		values[1] = Int64GetDatum(max_units);
		values[2] = PointerGetDatum(window);
		if (window == NULL)
			nulls[2] = 'n';
		values[3] = TimestampTzGetDatum(GetCurrentTimestamp());
		inv_plan_exec(&set_sku_limit_plan, values, nulls, 0);
		applies = max_units;
	}
	SPI_finish();
	PG_RETURN_INT64(applies);
}

/*
 * inventory.sku_limit_changed() RETURNS trigger: after any statement that
 * changes inventory.sku_limit, every backend forgets what it knew of it
 * (overrides_exist), as the transaction commits.
 */
Datum
inv_sku_limit_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s.sku_limit_changed() may only be called as a trigger",
						inv_schema_name())));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
