/*-------------------------------------------------------------------------
 *
 * availability.c
 *	  Refusing a reserve without a lock: the sold-out path.
 *
 * Before a reserve locks its stock rows (reserve.c) it reads them, and the
 * overdue holds that could make up a shortfall, in its snapshot, straight
 * from the indexes: no SPI, no planner, no xid.  When that read proves the
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
 * which the sweeper keeps short.  More than OVERDUE_PEEK_MAX of them (a
 * sweeper that lags or is off) and the read gives up: UNDECIDED.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "availability.h"

/* overdue holds looked at before the read leaves the decision to the locks */
#define OVERDUE_PEEK_MAX 64

/* A relation of the schema "inventory", opened with AccessShareLock. */
static Relation
open_rel(Oid nsp, const char *name, bool is_index)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		return NULL;
	return is_index ? index_open(relid, AccessShareLock) :
		table_open(relid, AccessShareLock);
}

static void
close_rel(Relation rel)
{
	if (rel == NULL)
		return;
	/* the lock is kept to the end of the transaction, as the executor does */
	if (rel->rd_rel->relkind == RELKIND_INDEX)
		index_close(rel, NoLock);
	else
		table_close(rel, NoLock);
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
				 TupleTableSlot *slot, AttrNumber on_hand_att,
				 AttrNumber reserved_att, const char *sku, int64 *free)
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
		int64		on_hand = DatumGetInt64(slot_getattr(slot, on_hand_att, &isnull));
		int64		reserved = DatumGetInt64(slot_getattr(slot, reserved_att, &isnull));

		*free = on_hand - reserved;
		found = true;
	}
	index_endscan(scan);
	return found;
}

/* Does hold id have a line of sku, in the snapshot? */
static bool
hold_has_line(Relation lines, Relation pkey, Snapshot snap,
			  TupleTableSlot *slot, Datum id, const char *sku)
{
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		found;

	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_UUID_EQ, id);
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   pkey->rd_indcollation[1], F_TEXTEQ,
						   CStringGetTextDatum(sku));
	scan = index_beginscan(lines, pkey, snap, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * Could a reclaim free units of a short line?  true when a hold in force in
 * the snapshot and overdue at now has a line of a SKU marked short, or when
 * there are too many overdue holds to look at them all.
 */
static bool
overdue_may_cover(Oid nsp, Snapshot snap, TimestampTz now,
				  const InvCart *cart, const bool *is_short)
{
	Relation	holds = open_rel(nsp, "reservation", false);
	Relation	by_expiry = open_rel(nsp, "reservation_held_expires_at_idx", true);
	Relation	lines = open_rel(nsp, "reservation_line", false);
	Relation	lines_pkey = open_rel(nsp, "reservation_line_pkey", true);
	bool		may = false;

	if (holds == NULL || by_expiry == NULL || lines == NULL || lines_pkey == NULL)
		may = true;				/* not our schema: let the locking way say so */
	else
	{
		TupleTableSlot *hold = table_slot_create(holds, NULL);
		TupleTableSlot *line = table_slot_create(lines, NULL);
		AttrNumber	id_att = attnum_of(holds, "id");
		AttrNumber	state_att = attnum_of(holds, "state");
		ScanKeyData key;
		IndexScanDesc scan;
		int			seen = 0;

		ScanKeyEntryInitialize(&key, 0, 1, BTLessEqualStrategyNumber, InvalidOid,
							   InvalidOid, F_TIMESTAMPTZ_LE,
							   TimestampTzGetDatum(now));
		scan = index_beginscan(holds, by_expiry, snap, 1, 0);
		index_rescan(scan, &key, 1, NULL, 0);
		while (!may && index_getnext_slot(scan, ForwardScanDirection, hold))
		{
			bool		isnull;
			Datum		id;
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
			id = slot_getattr(hold, id_att, &isnull);
			for (int i = 0; i < cart->nlines && !may; i++)
				if (is_short[i] &&
					hold_has_line(lines, lines_pkey, snap, line, id,
								  cart->lines[i].sku))
					may = true;
		}
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(line);
		ExecDropSingleTupleTableSlot(hold);
	}
	close_rel(lines_pkey);
	close_rel(lines);
	close_rel(by_expiry);
	close_rel(holds);
	return may;
}

AvailabilityVerdict
availability_peek(const InvCart *cart, TimestampTz now, int64 *avail)
{
	Oid			nsp = get_namespace_oid("inventory", true);
	Snapshot	snap;
	Relation	stock;
	Relation	pkey;
	TupleTableSlot *slot;
	AttrNumber	on_hand_att;
	AttrNumber	reserved_att;
	bool	   *is_short;
	bool		unknown = false;
	bool		any_short = false;
	AvailabilityVerdict verdict;

	if (!OidIsValid(nsp))
		return AVAILABILITY_UNDECIDED;
	stock = open_rel(nsp, "stock", false);
	pkey = open_rel(nsp, "stock_pkey", true);
	if (stock == NULL || pkey == NULL)
	{
		close_rel(pkey);
		close_rel(stock);
		return AVAILABILITY_UNDECIDED;
	}

	/*
	 * The statement's snapshot: it sees what committed before the call
	 * began, and this transaction's earlier changes.
	 */
	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	slot = table_slot_create(stock, NULL);
	on_hand_att = attnum_of(stock, "on_hand");
	reserved_att = attnum_of(stock, "reserved");
	is_short = palloc0(sizeof(bool) * cart->nlines);
	for (int i = 0; i < cart->nlines; i++)
	{
		if (!stock_free_units(stock, pkey, snap, slot, on_hand_att, reserved_att,
							  cart->lines[i].sku, &avail[i]))
		{
			avail[i] = -1;
			unknown = true;
		}
		else if (cart->lines[i].qty > avail[i])
			is_short[i] = any_short = true;
	}
	ExecDropSingleTupleTableSlot(slot);
	close_rel(pkey);
	close_rel(stock);

	if (unknown)
		verdict = AVAILABILITY_UNKNOWN_SKU;
	else if (!any_short)
		verdict = AVAILABILITY_UNDECIDED;
	else if (overdue_may_cover(nsp, snap, now, cart, is_short))
		verdict = AVAILABILITY_UNDECIDED;
	else
		verdict = AVAILABILITY_SHORT;
	pfree(is_short);
	return verdict;
}
