/*-------------------------------------------------------------------------
 *
 * availability.c
 *	  Refusing a reserve without a lock: the sold-out path.
 *
 * Before a reserve locks its stock rows (reserve.c) it reads them, and the
 * overdue holds that could make up a shortfall, straight from the indexes,
 * in a snapshot taken for it: no SPI, no planner, no xid.
 * Under REPEATABLE READ and SERIALIZABLE, whose snapshot is older than the
 * call, the read is skipped and the locks decide.  When that read proves the
 * request cannot be served -- a SKU is unknown, or a line is short and no
 * overdue hold has a line of that SKU for a reclaim to free -- the reserve
 * is refused right there: no row lock, no xid, no WAL.  A refusal read in
 * the snapshot is true at the snapshot's moment, which lies inside the
 * call, just as a refusal decided under the row lock is true at the lock's
 * moment.
 *
 * The read only ever refuses; it never grants.  A cart the snapshot says
 * fits, and a short SKU that has overdue holds (a reclaim may free them),
 * go the locking way, which decides again under the locks.  So the read
 * cannot oversell, and it cannot undersell either: units held by a hold
 * past its expiry always send the call to the reclaim.
 *
 * The overdue holds are found through reservation_held_expires_at_idx,
 * from the expiry floor (expiry_floor.c: no hold in force expires before
 * it) up to now, so that the entries that finished holds leave behind until
 * VACUUM are not walked.  More than OVERDUE_PEEK_MAX overdue holds (a
 * sweeper that lags or is off) and the read gives up: UNDECIDED.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "availability.h"
#include "expiry_floor.h"
#include "rows.h"

/* overdue holds looked at before the read leaves the decision to the locks */
#define OVERDUE_PEEK_MAX 64

/* The relations the read opens (rows.c remembers their OIDs). */
typedef enum PeekRel
{
	PEEK_STOCK,
	PEEK_STOCK_PKEY,
	PEEK_HOLDS,
	PEEK_HOLDS_BY_EXPIRY,
	PEEK_NRELS
} PeekRel;

static const char *const peek_rel_name[PEEK_NRELS] = {
	[PEEK_STOCK] = "stock",
	[PEEK_STOCK_PKEY] = "stock_pkey",
	[PEEK_HOLDS] = "reservation",
	[PEEK_HOLDS_BY_EXPIRY] = "reservation_held_expires_at_idx",
};

/*
 * A relation of the schema "inventory", opened with AccessShareLock; NULL
 * when there is none of that name.
 */
static Relation
open_rel(PeekRel which)
{
	return inv_open_named(peek_rel_name[which],
						  which == PEEK_STOCK_PKEY || which == PEEK_HOLDS_BY_EXPIRY,
						  AccessShareLock);
}

static void
close_rel(Relation rel)
{
	/* the lock is kept to the end of the transaction, as the executor does */
	if (rel != NULL)
		relation_close(rel, NoLock);
}

static AttrNumber
attnum_of(Relation rel, const char *name)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "inventory: column \"%s\" of \"%s\" is missing",
			 name, RelationGetRelationName(rel));
	return attnum;
}

/*
 * Free units of one SKU in the snapshot, through stock_pkey; false when no
 * row of that SKU is visible.
 */
static bool
stock_free_units(Relation stock, Relation pkey, Snapshot snap,
				 TupleTableSlot *slot, AttrNumber available_att,
				 const char *sku, int64 *free)
{
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found = false;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   pkey->rd_indcollation[0], F_TEXTEQ,
						   CStringGetTextDatum(sku));
	scan = index_beginscan(stock, pkey, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	/* a unique index: at most one version is visible */
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;

		*free = DatumGetInt64(slot_getattr(slot, available_att, &isnull));
		found = true;
	}
	index_endscan(scan);
	return found;
}

/* Is sku one of the SKUs of a hold (its skus array)? */
static bool
hold_has_sku(Datum skus, const char *sku)
{
	ArrayType  *arr = DatumGetArrayTypeP(skus);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	bool		found = false;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n && !found; i++)
	{
		text	   *t = DatumGetTextPP(elems[i]);

		found = !nulls[i] &&
			VARSIZE_ANY_EXHDR(t) == strlen(sku) &&
			memcmp(VARDATA_ANY(t), sku, VARSIZE_ANY_EXHDR(t)) == 0;
	}
	return found;
}

/*
 * Could a reclaim free units of a short line?  true when a hold in force in
 * the snapshot and overdue at now has a line of a SKU marked short, or when
 * there are too many overdue holds to look at them all.
 */
static bool
overdue_may_cover(Snapshot snap, TimestampTz now, TimestampTz floor,
				  const InvCart *cart, const bool *is_short)
{
	Relation	holds = open_rel(PEEK_HOLDS);
	Relation	by_expiry = open_rel(PEEK_HOLDS_BY_EXPIRY);
	TupleTableSlot *hold;
	AttrNumber	state_att;
	AttrNumber	skus_att;
	ScanKeyData keys[2];
	int			nkeys = 1;
	IndexScanDesc scan;
	int			seen = 0;
	bool		may = false;

	if (holds == NULL || by_expiry == NULL)
	{
		/* not our schema: let the locking way say what is wrong */
		close_rel(by_expiry);
		close_rel(holds);
		return true;
	}
	/* no hold in force expires before the floor: none is overdue */
	if (floor > now)
	{
		close_rel(by_expiry);
		close_rel(holds);
		return false;
	}

	/* a schema older than the library: the locking way will say so */
	skus_att = get_attnum(RelationGetRelid(holds), "skus");
	if (skus_att == InvalidAttrNumber)
	{
		close_rel(by_expiry);
		close_rel(holds);
		return true;
	}
	hold = table_slot_create(holds, NULL);
	state_att = attnum_of(holds, "state");
	/* overdue: expiring at now or before, and not before the floor */
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTLessEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_TIMESTAMPTZ_LE, TimestampTzGetDatum(now));
	if (floor != DT_NOBEGIN)
		ScanKeyEntryInitialize(&keys[nkeys++], 0, 1, BTGreaterEqualStrategyNumber,
							   InvalidOid, InvalidOid, F_TIMESTAMPTZ_GE,
							   TimestampTzGetDatum(floor));
	scan = index_beginscan(holds, by_expiry, snap, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	while (!may && index_getnext_slot(scan, ForwardScanDirection, hold))
	{
		bool		isnull;
		Datum		skus;
		char	   *state;

		if (++seen > OVERDUE_PEEK_MAX)
		{
			may = true;
			break;
		}
		/* the index entry may lead to a version that is no longer held */
		state = TextDatumGetCString(slot_getattr(hold, state_att, &isnull));
		if (strcmp(state, "held") != 0)
			continue;
		skus = slot_getattr(hold, skus_att, &isnull);
		if (isnull)
			continue;
		for (int i = 0; i < cart->nlines && !may; i++)
			if (is_short[i] && hold_has_sku(skus, cart->lines[i].sku))
				may = true;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(hold);
	close_rel(by_expiry);
	close_rel(holds);
	return may;
}

AvailabilityVerdict
availability_judge(const InvCart *cart, const int64 *avail, Snapshot snap,
				   TimestampTz now, TimestampTz floor)
{
	bool	   *is_short;
	bool		any_short = false;
	AvailabilityVerdict verdict;

	for (int i = 0; i < cart->nlines; i++)
		if (avail[i] < 0)
			return AVAILABILITY_UNKNOWN_SKU;
	is_short = palloc0(sizeof(bool) * cart->nlines);
	for (int i = 0; i < cart->nlines; i++)
		if (cart->lines[i].qty > avail[i])
			is_short[i] = any_short = true;
	if (!any_short)
		verdict = AVAILABILITY_FITS;
	else if (overdue_may_cover(snap, now, floor, cart, is_short))
		verdict = AVAILABILITY_RECLAIM;
	else
		verdict = AVAILABILITY_SHORT;
	pfree(is_short);
	return verdict;
}

AvailabilityVerdict
availability_peek(const InvCart *cart, TimestampTz now, int64 *avail)
{
	Snapshot	snap;
	Relation	stock;
	Relation	pkey;
	TupleTableSlot *slot;
	AttrNumber	available_att;
	ExpiryFloorRead floor_before;
	TimestampTz floor;
	AvailabilityVerdict verdict;

	/*
	 * Under REPEATABLE READ or SERIALIZABLE the only snapshot is the
	 * transaction's first one, which may be older than units freed since:
	 * leave the decision to the locks, which see the row as it is now (and
	 * raise a serialization failure if it changed since that snapshot).
	 */
	if (IsolationUsesXactSnapshot())
		return AVAILABILITY_UNDECIDED;

	stock = open_rel(PEEK_STOCK);
	pkey = open_rel(PEEK_STOCK_PKEY);
	/* no column available: tables older than the library (spi_plans.c says so) */
	if (stock == NULL || pkey == NULL ||
		(available_att = get_attnum(RelationGetRelid(stock), "available")) == InvalidAttrNumber)
	{
		close_rel(pkey);
		close_rel(stock);
		return AVAILABILITY_UNDECIDED;
	}

	/*
	 * A snapshot taken now, not the statement's: that one was taken before
	 * the call, maybe long before (a statement that releases a hold and
	 * then reserves, or a slow query around the call), and would refuse
	 * units freed since.  It sees what committed before this moment, and
	 * this transaction's earlier changes.
	 */
	floor_before = expiry_floor_before();
	snap = RegisterSnapshot(GetLatestSnapshot());
	floor = expiry_floor_after(floor_before);
	slot = table_slot_create(stock, NULL);
	for (int i = 0; i < cart->nlines; i++)
		if (!stock_free_units(stock, pkey, snap, slot, available_att,
							  cart->lines[i].sku, &avail[i]))
			avail[i] = -1;
	ExecDropSingleTupleTableSlot(slot);
	close_rel(pkey);
	close_rel(stock);

	verdict = availability_judge(cart, avail, snap, now, floor);
	UnregisterSnapshot(snap);
	return verdict;
}
