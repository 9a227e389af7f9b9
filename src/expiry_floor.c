/*-------------------------------------------------------------------------
 *
 * expiry_floor.c
 *	  A bound below which no hold in force expires.
 *
 * The lock-free refusal (availability.c) must know whether a short SKU has
 * overdue holds that a reclaim could free.  It finds them in
 * reservation_held_expires_at_idx, from the earliest expiry up to now.  But
 * that index keeps an entry for every hold that was ever held, until
 * VACUUM removes those of finished holds, and a finished hold's entry
 * falls in the overdue range once its expiry passes: between two vacuums
 * of a busy table, every refusal stepped over thousands of dead entries
 * (a sold-out storm at a third of its rate, measured).
 *
 * The floor is where that walk may start: no version of a hold in state
 * 'held', committed or still in progress, expires before it.  It is kept
 * per database in shared memory, and stays true this way:
 *
 * - whoever writes a held version (a reserve, an extension of a hold)
 *	 lowers the floor to its expiry once the version and its index entries
 *	 are written, before its transaction commits (expiry_floor_lower);
 * - only a sweep raises it (expiry_floor_refresh): it notes that a
 *	 recomputation began (floor_lowest reset, floor_gen bumped), reads the
 *	 index from its start until the first held version that is not gone for
 *	 good, and publishes the lower of that version's expiry and
 *	 floor_lowest.  "Gone for good": its insert aborted or its end
 *	 committed.  A version whose end is still in progress counts, whoever
 *	 ends it (the sweep's own transaction too, which may yet roll back), and
 *	 so does one whose insert is in progress (prepared transactions too).
 *	 A version the read missed was indexed after the read passed its place,
 *	 so after the recomputation began, and its writer's lowering is in
 *	 floor_lowest.  When another recomputation or a slot reset came in
 *	 between, nothing is published.
 *
 * A reader reads the floor before it takes its snapshot and again after,
 * and uses the lower: a hold held in that snapshot was held at the first
 * read (then the floor was below it) or was written in between (then its
 * writer lowered the floor before it committed, so before the second
 * read).  That holds unless a sweep raised the floor in between, past a
 * hold that ended after the snapshot was taken: then the reader does not
 * trust the floor (floor_raises, bumped before and after each raise, as a
 * sequence lock, tells it).  Without shared memory, or before a sweep, the
 * floor is DT_NOBEGIN and the read walks the whole overdue range, as before.
 *
 * A hold written behind the extension's back (COPY, INSERT by hand, a
 * restore) does not lower the floor: until the next sweep a refusal may
 * miss it if it is overdue, and that sweep expires it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "expiry_floor.h"
#include "rows.h"
#include "shmem.h"

ExpiryFloorRead
expiry_floor_before(void)
{
	InvDbSlot  *slot = shmem_my_slot();
	ExpiryFloorRead r = {NULL, DT_NOBEGIN, 0};

	if (slot == NULL)
		return r;
	r.slot = slot;
	r.raises = pg_atomic_read_u64(&slot->floor_raises);
	pg_read_barrier();
	r.floor = (TimestampTz) pg_atomic_read_u64(&slot->floor);
	/* both read before whatever the caller reads next (its snapshot) */
	pg_memory_barrier();
	return r;
}

TimestampTz
expiry_floor_after(ExpiryFloorRead before)
{
	/* the slot read before: the counts of two slots say nothing together */
	InvDbSlot  *slot = before.slot;
	TimestampTz floor;
	uint64		raises;

	if (slot == NULL || before.floor == DT_NOBEGIN)
		return DT_NOBEGIN;
	/* read after whatever the caller read before (its snapshot) */
	pg_memory_barrier();
	floor = (TimestampTz) pg_atomic_read_u64(&slot->floor);
	pg_read_barrier();
	raises = pg_atomic_read_u64(&slot->floor_raises);
	/* a raise began or ended in between, or the slot is another's now */
	if (raises != before.raises || (raises & 1) != 0 || slot->dboid != MyDatabaseId)
		return DT_NOBEGIN;
	return Min(before.floor, floor);
}

void
expiry_floor_lower(TimestampTz expires)
{
	InvDbSlot  *slot = shmem_my_slot();

	/*
	 * No slot cached may mean none was free when this backend looked: look
	 * again, as a slot claimed since is one whose sweeps count on us.  (A
	 * slot claimed after this look is recomputed after our index entry was
	 * written: its first sweep sees the entry.)
	 */
	if (slot == NULL)
		slot = shmem_db_slot(MyDatabaseId, false);
	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->floor_mutex);
	if (expires < slot->floor_lowest)
		slot->floor_lowest = expires;
	if (expires < (TimestampTz) pg_atomic_read_u64(&slot->floor))
		pg_atomic_write_u64(&slot->floor, (uint64) expires);
	SpinLockRelease(&slot->floor_mutex);
}

/*
 * Is the version in slot (fetched with SnapshotAny) possibly still there:
 * not inserted by a transaction that aborted, and not ended by one that
 * committed?
 */
static bool
not_gone_for_good(TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	TransactionId dead_after;
	HTSV_Result res;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	res = HeapTupleSatisfiesVacuumHorizon(bslot->base.tuple, bslot->buffer, &dead_after);
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	return res == HEAPTUPLE_LIVE || res == HEAPTUPLE_INSERT_IN_PROGRESS ||
		res == HEAPTUPLE_DELETE_IN_PROGRESS;
}

/*
 * Can the floor be learned from these relations: ours, the index valid and
 * ready (not one CREATE INDEX CONCURRENTLY is still building), and neither
 * made anew in this transaction (a TRUNCATE, which may yet give way to the
 * old ones, with their holds)?  Sets the columns the read needs.
 */
static bool
floor_source_usable(Relation holds, Relation by_expiry,
					AttrNumber *state_att, AttrNumber *expires_att)
{
	if (holds == NULL || by_expiry == NULL ||
		!by_expiry->rd_index->indisvalid || !by_expiry->rd_index->indisready ||
		by_expiry->rd_index->indrelid != RelationGetRelid(holds) ||
		holds->rd_createSubid != InvalidSubTransactionId ||
		holds->rd_firstRelfilenodeSubid != InvalidSubTransactionId ||
		by_expiry->rd_createSubid != InvalidSubTransactionId ||
		by_expiry->rd_firstRelfilenodeSubid != InvalidSubTransactionId)
		return false;
	*state_att = get_attnum(RelationGetRelid(holds), "state");
	*expires_att = get_attnum(RelationGetRelid(holds), "expires_at");
	return *state_att != InvalidAttrNumber && *expires_att != InvalidAttrNumber;
}

/*
 * The expiry of the first held version in the index that is not gone for
 * good; DT_NOEND when there is none.
 */
static TimestampTz
first_held_expiry(Relation holds, Relation by_expiry,
				  AttrNumber state_att, AttrNumber expires_att)
{
	TupleTableSlot *hold = table_slot_create(holds, NULL);
	IndexScanDesc scan = index_beginscan(holds, by_expiry, SnapshotAny, 0, 0);
	TimestampTz earliest = DT_NOEND;

	index_rescan(scan, NULL, 0, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, hold))
	{
		bool		isnull;
		Datum		state;

		CHECK_FOR_INTERRUPTS();
		if (!not_gone_for_good(hold))
			continue;
		/* an entry of a version that is no longer held: step over it */
		state = slot_getattr(hold, state_att, &isnull);
		if (isnull || VARSIZE_ANY_EXHDR(DatumGetTextPP(state)) != 4 ||
			memcmp(VARDATA_ANY(DatumGetTextPP(state)), "held", 4) != 0)
			continue;
		earliest = DatumGetTimestampTz(slot_getattr(hold, expires_att, &isnull));
		break;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(hold);
	return earliest;
}

void
expiry_floor_refresh(void)
{
	InvDbSlot  *slot = shmem_my_slot();
	Relation	holds;
	Relation	by_expiry;
	AttrNumber	state_att;
	AttrNumber	expires_att;
	TimestampTz earliest;
	uint64		gen;

	if (slot == NULL)
		return;
	holds = inv_open_named("reservation", false, AccessShareLock);
	by_expiry = inv_open_named("reservation_held_expires_at_idx", true, AccessShareLock);
	if (floor_source_usable(holds, by_expiry, &state_att, &expires_att))
	{
		/* a recomputation begins; it counts if the slot is still ours at its end */
		SpinLockAcquire(&slot->floor_mutex);
		gen = ++slot->floor_gen;
		slot->floor_lowest = DT_NOEND;
		SpinLockRelease(&slot->floor_mutex);

		earliest = first_held_expiry(holds, by_expiry, state_att, expires_att);

		SpinLockAcquire(&slot->floor_mutex);
		if (slot->floor_gen == gen && slot->dboid == MyDatabaseId)
		{
			/* odd while the floor may be higher than a reader's first look */
			pg_atomic_fetch_add_u64(&slot->floor_raises, 1);
			pg_write_barrier();
			pg_atomic_write_u64(&slot->floor, (uint64) Min(earliest, slot->floor_lowest));
			pg_write_barrier();
			pg_atomic_fetch_add_u64(&slot->floor_raises, 1);
		}
		SpinLockRelease(&slot->floor_mutex);
	}
	if (by_expiry != NULL)
		relation_close(by_expiry, NoLock);
	if (holds != NULL)
		relation_close(holds, NoLock);
}
