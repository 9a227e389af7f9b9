/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The extension's shared memory: one slot per database, holding the
 *	  counters behind the inventory.stats view and the coordinates of that
 *	  database's sweeper (see launcher.c and sweeper.c).
 *
 * It exists only when the library is in shared_preload_libraries.  Without
 * it, counting is a no-op and the counters read as NULL; everything else
 * works.
 *
 * Locking protocol:
 *	  - inv_shared->lock, exclusive, to claim or free a slot and to change
 *		the worker fields of a slot; shared to find a slot;
 *	  - counters are atomics, updated without a lock: a reader may see one
 *		counter a moment ahead of another;
 *	  - the launcher frees a slot once its database is gone, or once a
 *		sweeper there found no extension (or a probe there failed), and only
 *		while no sweeper holds it: a database without the extension keeps
 *		no slot;
 *	  - a backend caches the slot of its database, and before each use
 *		checks, without the lock, that the slot still carries its database:
 *		a counter bumped as the slot changes hands may land in the new
 *		owner's counters (only when the extension is not, or not yet,
 *		installed here, or a probe here failed), which costs a statistic,
 *		nothing else;
 *	  The counters live as long as the shared memory: a server restart (or
 *	  a crash) starts them from zero, and stats_since says when.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "shmem.h"

PG_FUNCTION_INFO_V1(inv_stats_counters);
PG_FUNCTION_INFO_V1(inv_stats_reset);

InvShared  *inv_shared = NULL;
int			inv_max_databases = 256;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static InvDbSlot *my_slot = NULL;
static Oid	my_slot_db = InvalidOid;

static Size
shmem_size(void)
{
	return add_size(offsetof(InvShared, slots),
					mul_size(inv_max_databases, sizeof(InvDbSlot)));
}

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shmem_size());
	RequestNamedLWLockTranche("inventory", 1);
}

static void
slot_reset(InvDbSlot *slot, Oid dboid)
{
	/*
	 * A backend of the database that had the slot may still be lowering its
	 * floor: the lock was made once, at startup, and is taken here.  Lower
	 * is always safe; a recomputation under way sees floor_gen move on and
	 * publishes nothing.  The floor is reset before the slot is given its
	 * database (barrier below): a backend that finds its database in the
	 * slot never reads the floor of the one before.
	 */
	SpinLockAcquire(&slot->floor_mutex);
	pg_atomic_write_u64(&slot->floor, (uint64) DT_NOBEGIN);
	pg_atomic_fetch_add_u64(&slot->floor_raises, 2);
	slot->floor_lowest = DT_NOEND;
	slot->floor_gen++;
	SpinLockRelease(&slot->floor_mutex);

	slot->worker_pid = 0;
	slot->worker_latch = NULL;
	slot->extension_present = false;
	slot->extension_absent = false;
	slot->sweeper_off = false;
	slot->restart_requested = false;
	slot->hold_off_until = 0;
	pg_atomic_init_u32(&slot->notify_pending, 0);
	for (int c = 0; c < INV_NUM_COUNTERS; c++)
		pg_atomic_init_u64(&slot->counters[c], 0);
	pg_atomic_init_u64(&slot->last_sweep_at, 0);
	pg_atomic_init_u64(&slot->last_sweep_us, 0);
	pg_atomic_init_u64(&slot->stats_since, (uint64) GetCurrentTimestamp());
	pg_write_barrier();
	slot->dboid = dboid;
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	inv_shared = ShmemInitStruct("inventory", shmem_size(), &found);
	if (!found)
	{
		inv_shared->lock = &(GetNamedLWLockTranche("inventory"))->lock;
		inv_shared->launcher_latch = NULL;
		inv_shared->wake_seq = 0;
		inv_shared->nwakes = 0;
		inv_shared->wakes_lost = false;
		inv_shared->nslots = inv_max_databases;
		for (int i = 0; i < inv_shared->nslots; i++)
		{
			SpinLockInit(&inv_shared->slots[i].floor_mutex);
			pg_atomic_init_u64(&inv_shared->slots[i].floor, (uint64) DT_NOBEGIN);
			pg_atomic_init_u64(&inv_shared->slots[i].floor_raises, 0);
			inv_shared->slots[i].floor_gen = 0;
			slot_reset(&inv_shared->slots[i], InvalidOid);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init while shared_preload_libraries is processed. */
void
shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

InvDbSlot *
shmem_find_slot(Oid dboid)
{
	for (int i = 0; i < inv_shared->nslots; i++)
		if (inv_shared->slots[i].dboid == dboid)
			return &inv_shared->slots[i];
	return NULL;
}

InvDbSlot *
shmem_db_slot(Oid dboid, bool create)
{
	InvDbSlot  *slot;

	if (inv_shared == NULL || !OidIsValid(dboid))
		return NULL;

	LWLockAcquire(inv_shared->lock, LW_SHARED);
	slot = shmem_find_slot(dboid);
	LWLockRelease(inv_shared->lock);
	if (slot != NULL || !create)
		return slot;

	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	slot = shmem_find_slot(dboid);
	if (slot == NULL && (slot = shmem_find_slot(InvalidOid)) != NULL)
		slot_reset(slot, dboid);
	LWLockRelease(inv_shared->lock);
	return slot;
}

InvDbSlot *
shmem_my_slot(void)
{
	/* an Oid is read whole: no lock to check the cached slot is still ours */
	if (likely(my_slot_db == MyDatabaseId) &&
		(my_slot == NULL || likely(my_slot->dboid == MyDatabaseId)))
		return my_slot;
	if (inv_shared == NULL || !OidIsValid(MyDatabaseId))
		return NULL;
	my_slot = shmem_db_slot(MyDatabaseId, true);
	my_slot_db = MyDatabaseId;
	/* once per session; the launcher logs it too */
	if (my_slot == NULL)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("inventory has no shared slot left for this database: inventory.stats stays empty"),
				 errhint("Raise inventory.max_databases (now %d).", inv_max_databases)));
	return my_slot;
}

void
stats_sweep_done(TimestampTz start, TimestampTz end)
{
	InvDbSlot  *slot = shmem_my_slot();

	if (slot == NULL)
		return;
	pg_atomic_fetch_add_u64(&slot->counters[INV_SWEEPS], 1);
	pg_atomic_write_u64(&slot->last_sweep_at, (uint64) end);
	pg_atomic_write_u64(&slot->last_sweep_us, (uint64) Max(end - start, 0));
}

/*
 * inventory.stats_counters() RETURNS record
 *
 * This database's counters, one row; all NULL without shared memory.
 * Column order follows InvCounter, then last_sweep_at, last_sweep_ms,
 * stats_since and sweeper_pid.
 */
Datum
inv_stats_counters(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[INV_NUM_COUNTERS + 4];
	bool		nulls[INV_NUM_COUNTERS + 4];
	InvDbSlot  *slot = shmem_my_slot();
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != lengthof(values))
		elog(ERROR, "inventory.stats_counters() returns %d columns, not %d",
			 tupdesc->natts, (int) lengthof(values));

	memset(nulls, slot == NULL, sizeof(nulls));
	if (slot != NULL)
	{
		uint64		at = pg_atomic_read_u64(&slot->last_sweep_at);
		pid_t		pid;

		for (i = 0; i < INV_NUM_COUNTERS; i++)
			values[i] = Int64GetDatum((int64) pg_atomic_read_u64(&slot->counters[i]));
		values[i] = TimestampTzGetDatum((TimestampTz) at);
		nulls[i++] = (at == 0);
		values[i] = Float8GetDatum(pg_atomic_read_u64(&slot->last_sweep_us) / 1000.0);
		nulls[i++] = (at == 0);
		values[i++] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&slot->stats_since));
		LWLockAcquire(inv_shared->lock, LW_SHARED);
		pid = slot->worker_pid;
		LWLockRelease(inv_shared->lock);
		values[i] = Int32GetDatum(pid);
		nulls[i] = (pid == 0);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * inv_stats_reset() RETURNS timestamptz
 *
 * Zero this database's counters; returns when, or NULL without shared
 * memory.
 */
Datum
inv_stats_reset(PG_FUNCTION_ARGS)
{
	InvDbSlot  *slot = shmem_my_slot();

	if (slot == NULL)
		PG_RETURN_NULL();
	for (int c = 0; c < INV_NUM_COUNTERS; c++)
		pg_atomic_write_u64(&slot->counters[c], 0);
	pg_atomic_write_u64(&slot->last_sweep_at, 0);
	pg_atomic_write_u64(&slot->last_sweep_us, 0);
	pg_atomic_write_u64(&slot->stats_since, (uint64) GetCurrentTimestamp());
	PG_RETURN_TIMESTAMPTZ(GetCurrentTimestamp());
}
